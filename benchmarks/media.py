"""Media layer vs the ffmpeg command-line tool, on the jobs extend does: probe, pull the context
(last 5 s of frames + audio) into memory, and splice a 5 s extension onto the source as mp4.

    .venv/bin/python benchmarks/media.py [--runs N]

Source: a generated 1080p, 10 s, 24 fps clip with 48 kHz stereo audio. Both sides do the same work
with the same settings (x264 crf 18 preset medium, AAC 192k, BT.709 bicubic conversion); the
ffmpeg side reads raw pixels through a pipe, as a service using the CLI would have to.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from ltxserve import media
from ltxserve.media.testsrc import synthetic_clip

WIDTH, HEIGHT, FPS, RATE = 1920, 1080, Fraction(24), 48_000
SOURCE_FRAMES, CONTEXT_FRAMES, NEW_FRAMES = 240, 120, 120


def timed(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def ffprobe(path: Path) -> dict[str, object]:
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_packets",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
    )
    data: dict[str, object] = json.loads(result.stdout)
    return data


def ffmpeg_context(path: Path, work: Path) -> tuple[np.ndarray, np.ndarray]:
    start = f"{float(Fraction(SOURCE_FRAMES - CONTEXT_FRAMES) / FPS):.6f}"
    audio_file = work / "context.f32"
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", start, "-i", str(path),
         "-map", "0:v", "-frames:v", str(CONTEXT_FRAMES), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
         "-map", "0:a", "-f", "f32le", "-ac", "2", "-ar", str(RATE), str(audio_file)],
        capture_output=True,
        check=True,
    )  # fmt: skip
    frames = np.frombuffer(result.stdout, np.uint8).reshape(-1, HEIGHT, WIDTH, 3)
    audio = np.fromfile(audio_file, np.float32).reshape(-1, 2).T
    return frames, audio


def ffmpeg_splice(path: Path, addition: media.Clip, work: Path, output: Path) -> None:
    assert addition.audio is not None
    audio_file = work / "addition.f32"
    np.ascontiguousarray(addition.audio.samples.T).tofile(audio_file)
    to_709 = "scale=out_color_matrix=bt709:out_range=tv:flags=bicubic,format=yuv420p"
    graph = f"[0:v][0:a][1:v][2:a]concat=n=2:v=1:a=1[v][a];[v]{to_709}[vo]"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(path),
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "pipe:0",
         "-f", "f32le", "-ar", str(RATE), "-ac", "2", "-i", str(audio_file),
         "-filter_complex", graph, "-map", "[vo]", "-map", "[a]",
         "-c:v", "libx264", "-crf", "18", "-preset", "medium",
         "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
         "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", str(output)],
        input=addition.frames.tobytes(),
        capture_output=True,
        check=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median is reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "source.mp4"
        print(
            f"generating the source: {WIDTH}x{HEIGHT}, {SOURCE_FRAMES} frames at {FPS} fps, {RATE} Hz stereo"
        )
        media.encode_clip(source, synthetic_clip(WIDTH, HEIGHT, SOURCE_FRAMES, FPS, sample_rate=RATE))
        addition = synthetic_clip(WIDTH, HEIGHT, NEW_FRAMES, FPS, sample_rate=RATE, first_code=1000)
        info = media.probe(source)  # also starts the sandbox's zygote, as a running service would have
        assert info.video is not None
        fps = info.video.fps

        def our_context() -> media.Clip:
            start = SOURCE_FRAMES - CONTEXT_FRAMES
            return media.read_clip(source, fps, start=start, stop=SOURCE_FRAMES, sample_rate=RATE)

        def our_splice() -> None:
            media.extend(source, info, addition, work / "ours.mp4")

        def their_splice() -> None:
            ffmpeg_splice(source, addition, work, work / "theirs.mp4")

        splice_runs = max(1, args.runs // 2)
        rows = [
            ("probe (exact frame count)", timed(lambda: media.probe(source), args.runs * 4),
             timed(lambda: ffprobe(source), args.runs * 4)),
            ("context: last 5 s frames + audio", timed(our_context, args.runs),
             timed(lambda: ffmpeg_context(source, work), args.runs)),
            ("splice 5 s + encode mp4", timed(our_splice, splice_runs), timed(their_splice, splice_runs)),
        ]  # fmt: skip
        check_same_output(work / "ours.mp4", work / "theirs.mp4")
    print(f"\n{'job':<36}{'ltxserve':>12}{'ffmpeg CLI':>12}{'ours/ffmpeg':>14}")
    for name, ours, theirs in rows:
        print(f"{name:<36}{ours * 1000:>10.1f}ms{theirs * 1000:>10.1f}ms{ours / theirs:>13.2f}x")
    print(f"\nmedians; python {sys.version.split()[0]}, ffmpeg {ffmpeg_version()}")


def check_same_output(ours: Path, theirs: Path) -> None:
    """Both splices must produce the same video, or the timing comparison means nothing."""
    a, b = media.probe(ours), media.probe(theirs)
    assert a.video is not None and b.video is not None
    assert a.video.frame_count == b.video.frame_count == SOURCE_FRAMES + NEW_FRAMES, (a.video, b.video)
    difference = np.abs(
        media.read_frames(ours, 230, 250).astype(np.int16)
        - media.read_frames(theirs, 230, 250).astype(np.int16)
    )
    assert difference.mean() < 2.0, f"outputs differ: mean |Δ| {difference.mean():.2f}"


def ffmpeg_version() -> str:
    first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout.split(
        "\n"
    )[0]
    return first.split()[2]


if __name__ == "__main__":
    main()
