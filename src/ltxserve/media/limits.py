"""Limits every untrusted file is checked against before a single frame is decoded."""

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaLimits:
    max_file_bytes: int = 1 << 30
    max_width: int = 3840
    """Longest side of a video; the picture may be landscape or portrait."""
    max_height: int = 2160
    """Shortest side of a video."""
    max_frames: int = 36_000
    max_duration_seconds: float = 600.0
    max_total_pixels: int = 3840 * 2160 * 4000
    """width × height × frames: bounds the decoding work a tiny, highly compressible file can demand."""
    max_image_side: int = 8192
    """Still images may be larger than video (phone photos); they are resized before use."""
    max_image_pixels: int = 40_000_000

    def check_video_size(self, width: int, height: int) -> bool:
        long_side, short_side = max(width, height), min(width, height)
        return short_side > 0 and long_side <= self.max_width and short_side <= self.max_height
