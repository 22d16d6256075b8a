"""Edits longer than one model pass, made one pass after another: an extend window by window
(planning.ChainedExtendPlan), a retake piece by piece (planning.ChainedRetakePlan).

Each pass continues what the passes before it made: its context is read from the source and from
the frames made so far, which go to a spool on disk as each pass ends, so memory stays flat in the
number of passes (only the sound, small, is held whole). Where two passes meet, the earlier one's
sound fades into the later one's own rendition of it, so the seam does not click; the frames meet
without a gap or an overlap because each pass makes exactly its share. Pass i runs with seed + i.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import numpy as np

from ltxserve import media
from ltxserve.engine.engine import SEED_RANGE, Engine, EngineInputs, EngineResult
from ltxserve.engine.generation import MODEL_AUDIO_RATE
from ltxserve.engine.planning import Chained, ChainedExtendPlan, ChainedRetakePlan, ExtendPlan
from ltxserve.engine.progress import (
    DECODING,
    DENOISING,
    CancelledError,
    CancelToken,
    Progress,
    ProgressCallback,
)
from ltxserve.media import (
    AudioTrack,
    Edge,
    Frames,
    FrameSpool,
    MediaInfo,
    Samples,
    StreamedClip,
    faded,
    sample_at,
    samples_for,
    source_audio,
)
from ltxserve.media.audio import convert_audio
from ltxserve.request import GenerationRequest


@dataclass(frozen=True)
class Extension:
    """The new part as the windows made it, in the order it plays."""

    clip: StreamedClip
    seed: int
    """The request's seed (window i runs with seed + i)."""
    demo: bool
    expanded_prompt: str | None


@dataclass(frozen=True)
class Retaken:
    """What the pieces made, for `media.replace_window`."""

    video: media.VideoPatch | None
    audio: media.AudioPatch | None
    seed: int
    demo: bool
    expanded_prompt: str | None


def run_passes(
    engine: Engine,
    request: GenerationRequest,
    plan: Chained,
    source: Path,
    info: MediaInfo,
    scratch: Path,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Extension | Retaken:
    """Run every pass of `plan` on `source`, spooling the new frames under `scratch`."""
    if isinstance(plan, ChainedExtendPlan):
        return _extend(engine, request, plan, source, info, scratch, progress=progress, cancel=cancel)
    return _retake(engine, request, plan, source, info, scratch, progress=progress, cancel=cancel)


def _extend(
    engine: Engine,
    request: GenerationRequest,
    plan: ChainedExtendPlan,
    source: Path,
    info: MediaInfo,
    scratch: Path,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Extension:
    """Run every window of `plan` on `source`, spooling the new frames under `scratch`."""
    video = info.video
    assert video is not None and request.extend is not None
    made = _Made(
        plan, video.frame_count, FrameSpool(scratch / "new.rgb", video.display_width, video.display_height)
    )
    seed = request.seed if request.seed is not None else random.randrange(SEED_RANGE)
    expanded = None
    end_image = request.extend.end_image
    image = media.read_image(end_image.image.path) if end_image is not None else None
    last = len(plan.windows) - 1
    for index, window in enumerate(plan.windows):
        if cancel is not None and cancel.cancelled:
            raise CancelledError("cancelled")
        outermost = index == last  # the end image is where the whole new part ends
        asked = _pass_request(request, seed, index, expanded)
        asked = replace(asked, extend=replace(request.extend, end_image=end_image if outermost else None))
        frames, sound = made.context(window, source, info)
        inputs = EngineInputs(video=frames, video_audio=sound, end_image=image if outermost else None)
        result = engine.run(
            asked, window, inputs, progress=_share(progress, index, len(plan.windows)), cancel=cancel
        )
        if index == 0:
            expanded = result.expanded_prompt
        made.add(window, result)
    clip = StreamedClip(
        made.frames(), plan.new_frames, video.display_width, video.display_height, video.fps, made.audio
    )
    return Extension(clip, seed, engine.demo, expanded)


def _retake(
    engine: Engine,
    request: GenerationRequest,
    plan: ChainedRetakePlan,
    source: Path,
    info: MediaInfo,
    scratch: Path,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Retaken:
    """Run every piece of `plan` on `source`, spooling the new frames under `scratch`."""
    video = info.video
    assert video is not None
    fps = video.fps
    spool = FrameSpool(scratch / "retaken.rgb", video.display_width, video.display_height)
    sound = source_audio(source, info)  # with what the pieces made so far in place of its own
    seed = request.seed if request.seed is not None else random.randrange(SEED_RANGE)
    expanded = None
    for index, piece in enumerate(plan.pieces):
        if cancel is not None and cancel.cancelled:
            raise CancelledError("cancelled")
        made_from = plan.window.start if plan.window is not None else 0
        clip_start, clip_stop = piece.clip_start, piece.clip_start + piece.source_frames_in_clip
        frames = []
        for a, b, ours in _split(clip_start, clip_stop, made_from, made_from + spool.frame_count):
            frames.append(
                spool.read(a - made_from, b - made_from) if ours else media.read_frames(source, a, b)
            )
        context_sound = None
        if sound is not None:
            context_sound = _resampled(sound, clip_start, clip_stop, fps)
        inputs = EngineInputs(video=np.concatenate(frames), video_audio=context_sound)
        asked = _pass_request(request, seed, index, expanded)
        share = _share(progress, index, len(plan.pieces))
        result = engine.run(asked, piece, inputs, progress=share, cancel=cancel)
        if index == 0:
            expanded = result.expanded_prompt
        if result.frames is not None:
            assert piece.window is not None and piece.window.start == made_from + spool.frame_count
            spool.append(result.frames)
        if result.audio is not None and piece.audio_window is not None:
            sound = _placed(sound, result, piece.audio_window[0], joined=index > 0, total=video.duration)
    video_patch = None
    if plan.window is not None:
        video_patch = media.VideoPatch(plan.window, spool.iter(0, spool.frame_count))
    audio_patch = None
    if plan.audio_window is not None and sound is not None:
        start, end = plan.audio_window
        rate = sound.sample_rate
        track = AudioTrack(sound.samples[:, round(start * rate) : round(end * rate)], rate)
        audio_patch = media.AudioPatch(start, track)
    return Retaken(video_patch, audio_patch, seed, engine.demo, expanded)


def _placed(
    sound: AudioTrack | None, result: EngineResult, start: Fraction, *, joined: bool, total: Fraction
) -> AudioTrack:
    """`sound` with the pass's audio from `start` seconds on; where it follows an earlier pass
    (`joined`), that one's sound fades into this pass's rendition of it first."""
    assert result.audio is not None
    made = AudioTrack(result.audio, result.sample_rate)
    if sound is None:  # a silent source: the made sound goes onto silence
        sound = AudioTrack(
            np.zeros((made.channels, round(total * made.sample_rate)), np.float32), made.sample_rate
        )
    rate, channels = sound.sample_rate, sound.channels
    new = convert_audio(made, sample_rate=rate, channels=channels).samples
    samples = sound.samples
    lo = round(start * rate)
    hi = min(samples.shape[1], lo + new.shape[1])
    samples[:, lo:hi] = new[:, : hi - lo]
    if joined and result.seam_audio is not None:
        seam = convert_audio(
            AudioTrack(result.seam_audio, result.sample_rate), sample_rate=rate, channels=channels
        )
        fade = min(seam.sample_count, lo)
        samples[:, lo - fade : lo] = faded(
            samples[:, lo - fade : lo], seam.samples[:, -fade:], same_sound=True
        )
    return sound


def _resampled(sound: AudioTrack, start: int, stop: int, fps: Fraction) -> Samples:
    """The sound under frames [start, stop) at the model's rate, in stereo."""
    rate = sound.sample_rate
    part = sound.samples[:, sample_at(start, fps, rate) : sample_at(stop, fps, rate)]
    resampled = convert_audio(
        AudioTrack(np.ascontiguousarray(part), rate), sample_rate=MODEL_AUDIO_RATE, channels=2
    )
    return media.fit_samples(resampled.samples, samples_for(stop - start, fps, MODEL_AUDIO_RATE))


def _pass_request(
    request: GenerationRequest, seed: int, index: int, expanded: str | None
) -> GenerationRequest:
    """Pass `index` of `request`: seed + index, and the prompt the first pass wrote, if it wrote one
    (every pass follows the same)."""
    asked = replace(request, seed=(seed + index) % SEED_RANGE)
    return asked if expanded is None else replace(asked, prompt=expanded, expand_prompt=False)


def _share(progress: ProgressCallback | None, index: int, count: int) -> ProgressCallback | None:
    """Window `index`'s reports with `done` on the scale of the whole chain: the windows share the
    denoising span evenly, one after another."""
    if progress is None:
        return None
    start, stop = DENOISING[0], DECODING

    def report(step: Progress) -> None:
        within = min(1.0, max(0.0, (step.done - start) / (stop - start)))
        progress(replace(step, done=start + (stop - start) * (index + within) / count))

    return report


class _Made:
    """The new part so far: its frames spooled in the order the windows ran, its sound in the order
    it plays. Frame positions are within the new part as it plays (at the start, the windows run
    outward, so the last one made plays first)."""

    def __init__(self, plan: ChainedExtendPlan, source_frames: int, spool: FrameSpool) -> None:
        self._plan = plan
        self._source_frames = source_frames
        self._spool = spool
        self._at_end = plan.edge is Edge.END
        self._pieces: list[tuple[int, int, int]] = []
        """(first frame in the new part, frame count, first frame in the spool) per window made."""
        self.audio: AudioTrack | None = None
        self._fps = plan.clip.fps

    @property
    def _count(self) -> int:
        return self._spool.frame_count

    def add(self, window: ExtendPlan, result: EngineResult) -> None:
        assert result.frames is not None
        new = window.new_frames
        first = self._count if self._at_end else self._plan.new_frames - self._count - new
        self._pieces.append((first, new, self._count))
        self._spool.append(result.frames)
        if result.audio is not None:
            self._add_sound(first, new, result)

    def _add_sound(self, first: int, count: int, result: EngineResult) -> None:
        assert result.audio is not None
        rate = result.sample_rate
        if self.audio is None:
            silence = np.zeros(
                (result.audio.shape[0], samples_for(self._plan.new_frames, self._fps, rate)), np.float32
            )
            self.audio = AudioTrack(silence, rate)
        samples = self.audio.samples
        lo, hi = sample_at(first, self._fps, rate), sample_at(first + count, self._fps, rate)
        samples[:, lo:hi] = media.fit_samples(result.audio, hi - lo)
        if len(self._pieces) == 1 or result.seam_audio is None:
            return  # the seam with the source is cut as a one-window extend cuts it
        fade = result.seam_audio.shape[1]
        if self._at_end:  # what the last window made fades into this one's rendition of it
            samples[:, lo - fade : lo] = faded(samples[:, lo - fade : lo], result.seam_audio, same_sound=True)
        else:  # this window's rendition of what follows fades into what the last window made
            samples[:, hi : hi + fade] = faded(result.seam_audio, samples[:, hi : hi + fade], same_sound=True)

    def context(self, window: ExtendPlan, source: Path, info: MediaInfo) -> tuple[Frames, Samples | None]:
        """The window's context frames (and their sound at the model's rate, None when the source is
        silent), from the video made so far: the source with the new part beside it."""
        start, stop = window.context_start, window.context_start + window.context_frames
        made = self._count
        # the new part so far spans [source, source + made) at the end, [0, made) at the start
        lo, hi = (self._source_frames, self._source_frames + made) if self._at_end else (0, made)
        shift = self._plan.new_frames - made if not self._at_end else -self._source_frames
        frames: list[Frames] = []
        sounds: list[Samples] = []
        rate = MODEL_AUDIO_RATE if info.has_audio else None
        for part_start, part_stop, ours in _split(start, stop, lo, hi):
            if ours:
                first, last = part_start + shift, part_stop + shift
                frames.append(np.stack(list(self._iter(first, last))))
                sounds.append(self._sound(first, last))
            else:
                at = part_start if self._at_end else part_start - made
                clip = media.read_clip(
                    source, self._fps, start=at, stop=at + part_stop - part_start, sample_rate=rate
                )
                frames.append(clip.frames)
                sounds.append(
                    clip.audio.samples
                    if clip.audio is not None
                    else _silence(part_stop - part_start, self._fps)
                )
        sound = np.concatenate(sounds, axis=1) if rate is not None else None
        return np.concatenate(frames), sound

    def _iter(self, first: int, last: int) -> Iterator[Frames]:
        """Frames [first, last) of the new part as it plays, one at a time, from the spool."""
        for piece_first, count, spooled in sorted(self._pieces):
            a, b = max(first, piece_first), min(last, piece_first + count)
            if a < b:
                yield from self._spool.iter(spooled + a - piece_first, spooled + b - piece_first)

    def _sound(self, first: int, last: int) -> Samples:
        if self.audio is None:
            return _silence(last - first, self._fps)
        return _resampled(self.audio, first, last, self._fps)

    def frames(self) -> Iterator[Frames]:
        """The new part's frames as it plays, one at a time."""
        return self._iter(0, self._plan.new_frames)


def _silence(frames: int, fps: Fraction) -> Samples:
    return np.zeros((2, samples_for(frames, fps, MODEL_AUDIO_RATE)), np.float32)


def _split(start: int, stop: int, lo: int, hi: int) -> list[tuple[int, int, bool]]:
    """[start, stop) cut where it enters and leaves [lo, hi): (start, stop, inside) pieces in order."""
    cuts = sorted({start, stop, *(edge for edge in (lo, hi) if start < edge < stop)})
    return [(a, b, lo <= a < hi) for a, b in pairwise(cuts)]
