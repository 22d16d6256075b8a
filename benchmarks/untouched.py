"""What the footage an edit does not touch loses: the frames and sound the model never regenerated,
copied from the source where they lie in GOPs (and audio frames) the edit leaves alone, and decoded
and encoded once more where they share one with new frames (a retake's neighbours).

    .venv/bin/python benchmarks/untouched.py [--size 320x180] [--qualities medium,high,maximum]

An ordinary clip as a phone records it (the `testsrc` pattern, 4 s at 24 fps, a keyframe a second:
`testsrc.write_phone_clip`) is extended by 2 s at its end and has 1 s retaken at 1.5 s (video and
sound), through the `ltxserve` command with the demo weights; then every untouched frame of the
output is compared with the source's own decoded frame (how many are bit-exact; the PSNR of the
worst, and the mean over those encoded again) and the untouched sound with the source's (SNR), for
each output quality. Before smart rendering (`benchmarks/smart_render.py` times it against encoding
whole) every output was encoded whole: the extend's untouched frames came back at 37.0, 38.6 and
39.9 dB worst PSNR at medium, high and maximum, none bit-exact.
"""

import argparse
import json
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ltxserve import media
from ltxserve.media.testsrc import write_phone_clip

CLI = str(Path(sys.executable).with_name("ltxserve"))
FPS, SOURCE_FRAMES, RATE = 24, 96, 48_000


@dataclass(frozen=True)
class Untouched:
    task: str
    quality: str
    frames: int
    exact: int
    worst_psnr: float
    mean_psnr: float
    sound_snr: float


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if error == 0 else 10 * math.log10(255**2 / error)


def snr(reference: np.ndarray, other: np.ndarray) -> float:
    noise = float(np.sum((reference.astype(np.float64) - other) ** 2))
    return (
        math.inf if noise == 0 else 10 * math.log10(float(np.sum(reference.astype(np.float64) ** 2)) / noise)
    )


def _mean_encoded(scores: list[float]) -> float:
    """The mean PSNR of the frames encoded again (inf when every one was copied)."""
    encoded = [score for score in scores if score != math.inf]
    return float(np.mean(encoded)) if encoded else math.inf


def sound(path: Path, start: Fraction, stop: Fraction) -> np.ndarray:
    return media.read_audio(path, sample_rate=RATE, start=start, duration=stop - start)


def run(task: list[str], quality: str, source: Path, output: Path) -> dict[str, Any]:
    """The command's decisions (its last line): the windows it snapped to."""
    command = [CLI, *task, str(source), "-p", "rain on the window", "--seed", "3", "--quality", quality]
    ran = subprocess.run([*command, "-o", str(output)], capture_output=True, text=True, check=True)
    decisions: dict[str, Any] = json.loads(ran.stdout.strip().splitlines()[-1])
    return decisions


def measure(source: Path, scratch: Path, quality: str) -> list[Untouched]:
    frames = media.read_frames(source)
    seconds = Fraction(SOURCE_FRAMES, FPS)
    results = []

    extended = scratch / f"extend-{quality}.mp4"
    run(["extend", "--duration", "2", "--mode", "end"], quality, source, extended)
    kept = media.read_frames(extended, 0, SOURCE_FRAMES)
    scores = [psnr(a, b) for a, b in zip(frames, kept, strict=True)]
    sound_snr = snr(sound(source, Fraction(0), seconds), sound(extended, Fraction(0), seconds))
    results.append(
        Untouched(
            "extend end by 2 s",
            quality,
            len(scores),
            scores.count(math.inf),
            min(scores),
            _mean_encoded(scores),
            sound_snr,
        )
    )

    retaken = scratch / f"retake-{quality}.mp4"
    decisions = run(["retake", "--start", "1.5", "--duration", "1"], quality, source, retaken)
    start, stop = decisions["video_window_frames"]
    audio_start, audio_stop = (Fraction(t).limit_denominator(RATE) for t in decisions["audio_window_seconds"])
    outside = [index for index in range(SOURCE_FRAMES) if not start <= index < stop]
    after = media.read_frames(retaken)
    scores = [psnr(frames[index], after[index]) for index in outside]
    before_sound = np.concatenate(
        [sound(source, Fraction(0), audio_start), sound(source, audio_stop, seconds)], 1
    )
    after_sound = np.concatenate(
        [sound(retaken, Fraction(0), audio_start), sound(retaken, audio_stop, seconds)], 1
    )
    results.append(
        Untouched(
            "retake 1 s at 1.5 s",
            quality,
            len(scores),
            scores.count(math.inf),
            min(scores),
            _mean_encoded(scores),
            snr(before_sound, after_sound),
        )
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--qualities", default="medium,high,maximum")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "clip.mp4"
        width, height = (int(side) for side in args.size.split("x"))
        write_phone_clip(source, width, height, SOURCE_FRAMES, Fraction(FPS))
        results = [
            row for quality in args.qualities.split(",") for row in measure(source, Path(scratch), quality)
        ]
    print(f"untouched footage of a {args.size} clip, {SOURCE_FRAMES} frames at {FPS} fps with sound")
    print(f"{'edit':<22} {'quality':<8} {'frames':>6} {'bit-exact':>9} {'worst PSNR':>11} "
          f"{'mean re-encoded':>16} {'sound SNR':>10}")  # fmt: skip
    for row in results:
        scores = f"{row.worst_psnr:>8.1f} dB {row.mean_psnr:>13.1f} dB {row.sound_snr:>7.1f} dB"
        print(f"{row.task:<22} {row.quality:<8} {row.frames:>6} {row.exact:>9} {scores}")


if __name__ == "__main__":
    main()
