"""Smart rendering vs encoding whole: writing an extend and a retake of a long 1080p source, with
the source's untouched packets copied (the default) and with every frame encoded again, side by side.

    .venv/bin/python benchmarks/smart_render.py [--seconds 60] [--size 1920x1080] [--runs 1]

Source: the `testsrc` pattern (its frame numbers and beeps) as H.264 with B-frames, one keyframe a
second like a phone's, AAC stereo. The edits are the ones users ask for: 2 s added at the end, and
2 s in the middle retaken (video and sound). The new frames are ready in memory, so what is timed is
the writing alone: the model's share does not change. Also printed: how many frames were copied, and
how many of the source's frames come back bit for bit.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from ltxserve import media
from ltxserve.media import AudioPatch, Edge, FrameWindow, VideoPatch
from ltxserve.media.testsrc import synthetic_clip, write_phone_clip

FPS, NEW_SECONDS = Fraction(24), 2


def timed(fn: Callable[[], media.Written], runs: int) -> tuple[float, media.Written]:
    samples, written = [], None
    for _ in range(runs):
        started = time.perf_counter()
        written = fn()
        samples.append(time.perf_counter() - started)
    assert written is not None
    return statistics.median(samples), written


def bit_exact(source: Path, output: Path, untouched: range | set[int]) -> int:
    """How many of the untouched frames (at the same place in both) decode to the same pixels."""
    pairs = zip(media.iter_frames(source), media.iter_frames(output), strict=False)
    return sum(int(np.array_equal(a, b)) for index, (a, b) in enumerate(pairs) if index in untouched)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "source.mp4"
        write_phone_clip(source, width, height, args.seconds * int(FPS), FPS)
        info = media.probe(source)
        assert info.video is not None
        frames = info.video.frame_count
        count = NEW_SECONDS * int(FPS)
        new = synthetic_clip(width, height, count, FPS, first_code=50_000)
        window = FrameWindow(frames // 2, frames // 2 + count)
        assert new.audio is not None
        sound = new.audio
        edits: dict[str, Callable[[Path, bool], media.Written]] = {
            f"extend end by {NEW_SECONDS} s": lambda out, copy: media.extend(
                source, info, new, out, at=Edge.END, copy_source=copy
            ),
            f"retake {NEW_SECONDS} s mid-way": lambda out, copy: media.replace_window(
                source,
                info,
                out,
                video=VideoPatch(window, new.frames),
                audio=AudioPatch(window.start / FPS, sound),
                copy_source=copy,
            ),
        }
        rows = []
        for name, edit in edits.items():
            copied_at = Path(scratch) / "copied.mp4"
            whole_at = Path(scratch) / "whole.mp4"
            whole_s, _ = timed(lambda: edit(whole_at, False), args.runs)  # noqa: B023
            copy_s, written = timed(lambda: edit(copied_at, True), args.runs)  # noqa: B023
            changed = set(range(window.start, window.stop)) if "retake" in name else set()
            untouched = set(range(frames)) - changed
            rows.append(
                (name, whole_s, copy_s, written, bit_exact(source, copied_at, untouched),
                 bit_exact(source, whole_at, untouched), len(untouched))
            )  # fmt: skip
    print(f"a {args.size} {args.seconds} s source (H.264 with B-frames, 1 s GOPs, AAC), writing each edit")
    print(f"{'edit':<22} {'encode whole':>12} {'copy':>8} {'speed-up':>9} {'copied':>14} "
          f"{'bit-exact (copy / whole)':>26}")  # fmt: skip
    for name, whole_s, copy_s, written, exact_copy, exact_whole, total in rows:
        copied = f"{written.copied_frames}/{written.copied_frames + written.encoded_frames}"
        print(f"{name:<22} {whole_s:>11.1f}s {copy_s:>7.1f}s {whole_s / copy_s:>8.1f}x {copied:>14} "
              f"{f'{exact_copy} / {exact_whole} of {total}':>26}")  # fmt: skip


if __name__ == "__main__":
    main()
