"""What a probe learned about a file: typed, exact (fps is a Fraction), and written to JSON and read
back without loss (`to_json`, `from_json`), as it crosses the probe sandbox's boundary."""

from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from typing import Any

from ltxserve.media.formats import MediaKind


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    rotation: int
    """Clockwise degrees a player turns the picture (0, 90, 180, 270); decoding applies it."""
    fps: Fraction
    frame_count: int
    """Counted by demuxing every packet, not read from the header."""
    variable_frame_rate: bool
    duration: Fraction
    """Seconds from the first frame's start to the last frame's end."""

    @property
    def display_width(self) -> int:
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int:
        return self.width if self.rotation in (90, 270) else self.height


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    duration: Fraction


@dataclass(frozen=True)
class ImageInfo:
    codec: str
    width: int
    height: int


@dataclass(frozen=True)
class MediaInfo:
    kind: MediaKind
    container: str
    size_bytes: int
    video: VideoInfo | None
    audio: AudioInfo | None
    image: ImageInfo | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types; fractions are written as "num/den" strings and as floats."""

        def plain(value: Any) -> Any:
            if isinstance(value, Fraction):
                return str(value)
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            return value

        data: dict[str, Any] = plain(asdict(self))
        data["kind"] = self.kind.value
        if self.video is not None:
            data["video"]["fps_float"] = float(self.video.fps)
            data["video"]["duration_seconds"] = float(self.video.duration)
            data["video"]["display_width"] = self.video.display_width
            data["video"]["display_height"] = self.video.display_height
        if self.audio is not None:
            data["audio"]["duration_seconds"] = float(self.audio.duration)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "MediaInfo":
        """What `to_json` wrote (its extra derived fields ignored); ValueError or KeyError, TypeError
        for anything else."""

        def read[T](kind: type[T], part: Any) -> T | None:
            if part is None:
                return None
            values = {}
            for each in fields(kind):  # type: ignore[arg-type]
                value = part[each.name]
                values[each.name] = Fraction(value) if each.type is Fraction else value
                if each.type in (int, str, bool) and type(value) is not each.type:
                    raise TypeError(f"{kind.__name__}.{each.name} is not {each.type}")
            return kind(**values)

        return cls(
            MediaKind(data["kind"]),
            str(data["container"]),
            int(data["size_bytes"]),
            read(VideoInfo, data["video"]),
            read(AudioInfo, data["audio"]),
            read(ImageInfo, data.get("image")),
        )
