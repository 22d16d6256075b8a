"""Every media input of a request probed in the sandbox, as the kind its field takes and in the
formats its product takes; a bad file is an InvalidRequestError naming its field. Workers do it before
they plan; the API does it when asked what a request would decide (`Service.plan`)."""

from ltxserve import media
from ltxserve.media import MediaInfo, MediaKind, MediaLimits
from ltxserve.request import GenerationRequest, InputRules, InvalidRequestError

_REQUIRED_KIND = {
    "first_frame.image": MediaKind.IMAGE,
    "last_frame.image": MediaKind.IMAGE,
    "extend.end_image.image": MediaKind.IMAGE,
    "audio": MediaKind.AUDIO,
    "extend.video": MediaKind.VIDEO,
    "retake.video": MediaKind.VIDEO,
}


def probe_inputs(request: GenerationRequest, limits: MediaLimits) -> dict[str, MediaInfo]:
    """Every media input probed in the sandbox; a bad file is an InvalidRequestError on its field."""
    infos = {}
    for field, ref in request.media_inputs.items():
        if field not in _REQUIRED_KIND:
            continue  # a LoRA is weights, not media: the engine checks it fits
        try:
            infos[field] = media.probe(ref.path, limits=limits, require=_REQUIRED_KIND[field])
        except media.MediaError as error:
            raise InvalidRequestError(field, f"{error} [{error.code}]") from None
        if request.input_rules is not None:
            _check_format(field, infos[field], request.input_rules)
    return infos


def _check_format(field: str, info: MediaInfo, rules: InputRules) -> None:
    """A product's formats: its containers, and the codecs of its video and audio inputs."""
    if rules.containers and info.container not in rules.containers:
        raise InvalidRequestError(
            field, f"{info.container} files are not taken here; one of {_listed(rules.containers)}"
        )
    codec, allowed = None, frozenset[str]()
    if info.kind is MediaKind.VIDEO and info.video is not None:
        codec, allowed = info.video.codec, rules.video_codecs
    elif info.kind is MediaKind.AUDIO and info.audio is not None:
        codec, allowed = info.audio.codec, rules.audio_codecs
    if (
        codec is not None
        and allowed
        and codec not in allowed
        and not (codec.startswith("pcm_") and "pcm" in allowed)
    ):
        raise InvalidRequestError(field, f"{codec} is not taken here; one of {_listed(allowed)}")


def _listed(names: frozenset[str]) -> str:
    return ", ".join(sorted(names))
