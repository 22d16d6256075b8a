"""Synthetic clips whose every frame carries its own number, with beeps on marked frames.

Used for the demo, the benchmarks and the tests: after any decode → edit → encode round trip the
frame numbers can be read back from the pixels, and the beeps measure audio/video sync.
"""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ltxserve.media.clip import AudioTrack, Clip, Frames, Samples
from ltxserve.media.timing import sample_at

CODE_BITS = 16
BEEP_SECONDS = Fraction(1, 25)  # 40 ms


def synthetic_clip(
    width: int,
    height: int,
    frame_count: int,
    fps: Fraction,
    *,
    sample_rate: int | None = 48_000,
    channels: int = 2,
    first_code: int = 0,
    beep_every: int = 12,
    tone_hz: float = 1760.0,
) -> Clip:
    """A clip whose frame i shows code `first_code + i`; a beep starts exactly when each frame whose
    code is a multiple of `beep_every` starts. `sample_rate=None` makes a silent clip (no audio track)."""
    frames = np.stack([code_frame(width, height, first_code + i) for i in range(frame_count)])
    audio = None
    if sample_rate is not None:
        audio = AudioTrack(
            beeps(frame_count, fps, sample_rate, channels, first_code, beep_every, tone_hz), sample_rate
        )
    return Clip(frames, Fraction(fps), audio)


def code_frame(width: int, height: int, code: int) -> Frames:
    """A moving colour gradient with `code` written as a row of black/white blocks along the top."""
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    phase = (code * 7) % 256
    frame = np.empty((height, width, 3), np.uint8)
    frame[..., 0] = ((x + phase) % 256).astype(np.uint8)
    frame[..., 1] = ((y + 2 * phase) % 256).astype(np.uint8)
    frame[..., 2] = ((x + y) / 2).astype(np.uint8)
    block = _block_size(width)
    for bit in range(CODE_BITS):
        frame[:block, bit * block : (bit + 1) * block] = 255 if (code >> bit) & 1 else 0
    return frame


def read_code(frame: Frames) -> int:
    """The code written by `code_frame`, read back from a (possibly lossy) decoded frame."""
    block = _block_size(frame.shape[1])
    code = 0
    margin = max(1, block // 4)
    for bit in range(CODE_BITS):
        cell = frame[margin : block - margin, bit * block + margin : (bit + 1) * block - margin]
        if cell.mean() > 127:
            code |= 1 << bit
    return code


def beeps(
    frame_count: int,
    fps: Fraction,
    sample_rate: int,
    channels: int,
    first_code: int,
    beep_every: int,
    tone_hz: float,
) -> Samples:
    """Silence with a 40 ms tone starting on the first sample of every marked frame."""
    total = sample_at(frame_count, fps, sample_rate)
    audio = np.zeros((channels, total), np.float32)
    length = int(BEEP_SECONDS * sample_rate)
    tone = (0.5 * np.sin(2 * np.pi * tone_hz * np.arange(length) / sample_rate)).astype(np.float32)
    for i in range(frame_count):
        if (first_code + i) % beep_every == 0:
            start = sample_at(i, fps, sample_rate)
            end = min(total, start + length)
            audio[:, start:end] = tone[: end - start]
    return audio


def _block_size(width: int) -> int:
    block = width // (CODE_BITS + 2)
    if block < 4:
        raise ValueError(f"frames must be at least {4 * (CODE_BITS + 2)} pixels wide to carry a code")
    return block


def write_phone_clip(path: Path, width: int, height: int, frames: int, fps: Fraction) -> None:
    """The pattern as a phone records it: H.264 with B-frames and a keyframe every second, AAC
    stereo with the beeps; written a frame at a time, so a long 1080p one fits in memory."""
    sound = beeps(frames, fps, 48_000, 2, 0, 12, 1760.0)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = {"g": str(round(fps)), "preset": "veryfast", "crf": "18"}
        audio = out.add_stream("aac", rate=48_000, layout="stereo")
        for index in range(frames):
            picture = av.VideoFrame.from_ndarray(code_frame(width, height, index), format="rgb24")
            picture.pts, picture.time_base = index, 1 / fps
            out.mux(video.encode(picture))
        out.mux(video.encode(None))
        for start in range(0, sound.shape[1], 1024):
            samples = np.ascontiguousarray(sound[:, start : start + 1024])
            chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts, chunk.time_base = 48_000, start, Fraction(1, 48_000)
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))
