"""Media layer: probe untrusted files, decode frame-exactly, encode, and splice (PyAV)."""

from ltxserve.media.clip import AudioTrack, Clip, Frames, Samples, fit_samples
from ltxserve.media.conform import conform
from ltxserve.media.decode import iter_frames, read_audio, read_clip, read_frames, read_image
from ltxserve.media.encode import EncodeOptions, OutputFormat, Quality, VideoWriter, WriteMode, encode_clip
from ltxserve.media.errors import (
    CorruptFileError,
    EmptyFileError,
    FileMissingError,
    FormatMismatchError,
    LimitExceededError,
    MediaError,
    NoAudioStreamError,
    NotAnImageError,
    NoVideoStreamError,
    PlaylistNotAllowedError,
    ProbeCrashedError,
    ProbeTimeoutError,
    TruncatedFileError,
    UnrecognizedFormatError,
    UnsafePathError,
)
from ltxserve.media.formats import MediaKind
from ltxserve.media.info import AudioInfo, ImageInfo, MediaInfo, VideoInfo
from ltxserve.media.limits import MediaLimits
from ltxserve.media.probe import probe
from ltxserve.media.smart import Written
from ltxserve.media.splice import (
    CROSSFADE,
    AudioPatch,
    Edge,
    FrameWindow,
    StreamedClip,
    VideoPatch,
    extend,
    faded,
    replace_window,
    source_audio,
)
from ltxserve.media.spool import FrameSpool
from ltxserve.media.stills import spritesheet, thumbnail
from ltxserve.media.timing import sample_at, samples_for

__all__ = [
    "CROSSFADE",
    "AudioInfo",
    "AudioPatch",
    "AudioTrack",
    "Clip",
    "CorruptFileError",
    "Edge",
    "EmptyFileError",
    "EncodeOptions",
    "FileMissingError",
    "FormatMismatchError",
    "FrameSpool",
    "FrameWindow",
    "Frames",
    "ImageInfo",
    "LimitExceededError",
    "MediaError",
    "MediaInfo",
    "MediaKind",
    "MediaLimits",
    "NoAudioStreamError",
    "NoVideoStreamError",
    "NotAnImageError",
    "OutputFormat",
    "PlaylistNotAllowedError",
    "ProbeCrashedError",
    "ProbeTimeoutError",
    "Quality",
    "Samples",
    "StreamedClip",
    "TruncatedFileError",
    "UnrecognizedFormatError",
    "UnsafePathError",
    "VideoInfo",
    "VideoPatch",
    "VideoWriter",
    "WriteMode",
    "Written",
    "conform",
    "encode_clip",
    "extend",
    "faded",
    "fit_samples",
    "iter_frames",
    "probe",
    "read_audio",
    "read_clip",
    "read_frames",
    "read_image",
    "replace_window",
    "sample_at",
    "samples_for",
    "source_audio",
    "spritesheet",
    "thumbnail",
]
