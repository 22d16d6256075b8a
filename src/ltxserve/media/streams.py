"""Facts about a demuxed stream shared by the probe and the decoder."""

import math
from fractions import Fraction

import av
import numpy as np
from av.container import InputContainer
from av.rational import AVRational
from av.video.stream import VideoStream

# AVColorSpace tag → swscale matrix. Untagged video is taken as BT.709, the HD default.
_SWS_COLORSPACES = {
    1: "ITU709",
    4: "FCC",
    5: "ITU601",
    6: "SMPTE170M",
    7: "SMPTE240M",
    9: "BT2020",
    10: "BT2020",
}


def first_video_stream(container: InputContainer) -> VideoStream | None:
    """The first real video stream; cover art in audio files is a one-picture "video" and is skipped."""
    return next(
        (s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None
    )


def rotation_of(stream: VideoStream) -> int:
    """Clockwise degrees (0/90/180/270) a player turns the picture, from the display matrix.
    FFmpeg's own rotation value is counter-clockwise."""
    matrix = stream.codec_context.coded_side_data.get("display_matrix")
    if not matrix:
        return 0
    m = np.frombuffer(matrix, "<i4").astype(np.float64)
    scale_x, scale_y = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if scale_x == 0 or scale_y == 0:
        return 0
    degrees = math.degrees(math.atan2(m[1] / scale_y, m[0] / scale_x))
    return (round(degrees / 90) * 90) % 360


def as_fraction(rational: AVRational | None) -> Fraction | None:
    """PyAV's AVRational as an exact Fraction; None for a missing or 0/0 value."""
    if rational is None or not rational or rational.denominator == 0:
        return None
    return Fraction(rational.numerator, rational.denominator)


def sws_colorspace(tag: int) -> str:
    """swscale's name for the matrix of an AVColorSpace tag; untagged video is taken as BT.709."""
    return _SWS_COLORSPACES.get(tag, "ITU709")
