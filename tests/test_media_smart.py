"""Smart rendering: the frames an edit leaves alone come out bit for bit as the source's (their
packets copied), for the sources phones and cameras make (H.264 with B-frames, HEVC, a rotated clip,
30000/1001 fps); the output decodes without an error in FFmpeg, every beep sounds within 1 ms of its
frame, and what cannot be copied is encoded whole with the reason in `Written`."""

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from ltxserve import media
from ltxserve.media import AudioPatch, Edge, EncodeOptions, FrameWindow, OutputFormat, VideoPatch
from ltxserve.media.testsrc import synthetic_clip
from tests.measure import match_onsets, play
from tests.mediafiles import write_video

EVERY = 12
SYNC_MS = 1.0
GOP = {
    "libx264": {"g": "24"},
    "libx265": {"x265-params": "keyint=24:min-keyint=24:open-gop=0:log-level=error"},
}
SOURCES = {
    # name: (codec, width, height, fps, rotation_ccw); the first is the ordinary clip
    "h264-bframes": ("libx264", 320, 180, Fraction(24), 0),
    "hevc": ("libx265", 160, 96, Fraction(25), 0),
    "rotated-phone": ("libx264", 96, 160, Fraction(30), 90),
    "ntsc-30000-1001": ("libx264", 160, 96, Fraction(30000, 1001), 0),
}
FRAMES = 97
NEW = 30
WINDOW = FrameWindow(40, 58)


def make_source(directory: Path, name: str) -> Path:
    codec, width, height, fps, rotation = SOURCES[name]
    clip = synthetic_clip(width, height, FRAMES, fps, beep_every=EVERY)
    assert clip.audio is not None
    frames = clip.frames if not rotation else np.ascontiguousarray(np.rot90(clip.frames, k=-1, axes=(1, 2)))
    return write_video(
        directory / f"{name}.mp4",
        frames,
        fps,
        codec=codec,
        audio=clip.audio.samples,
        rotation_ccw=rotation,
        time_base=1 / fps if fps.denominator > 1 else None,
        options=GOP[codec],
    )


@pytest.fixture(scope="module", params=list(SOURCES))
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    return request.param, make_source(tmp_path_factory.mktemp("smart"), request.param)


def new_frames(info: media.MediaInfo, count: int, first_code: int = 1000) -> media.Clip:
    video = info.video
    assert video is not None
    return synthetic_clip(
        video.display_width, video.display_height, count, video.fps, first_code=first_code, beep_every=EVERY
    )


def plays_cleanly(path: Path) -> None:
    """FFmpeg's own tools read every packet and decode every frame without a word of complaint."""
    for command in (
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", str(path)],
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
    ):
        ran = subprocess.run(command, capture_output=True, text=True)
        assert ran.returncode == 0 and ran.stderr == "", ran.stderr


def in_sync(path: Path, fps: Fraction, beep_frames: list[int]) -> None:
    out = play(path)
    shown = out.frame_times[0]  # the first frame's instant: the sound under it starts there
    offsets = match_onsets(out.onsets(), [float(shown + f / fps) for f in beep_frames])
    assert max(map(abs, offsets)) <= SYNC_MS, offsets
    assert abs(float(out.audio_end - out.video_end)) * 1000 <= SYNC_MS


def beeps_at(codes: list[int]) -> list[int]:
    return [i for i, code in enumerate(codes) if code % EVERY == 0]


def test_the_sources_are_what_they_claim(source: tuple[str, Path]) -> None:
    name, path = source
    info = media.probe(path)
    assert info.video is not None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        codec = stream.codec_context.name
    shown = [p.pts or 0 for p in packets]
    assert codec == {"libx264": "h264", "libx265": "hevc"}[SOURCES[name][0]]
    assert info.video.fps == SOURCES[name][3] and info.video.rotation == (270 if SOURCES[name][4] else 0)
    if name == "h264-bframes":
        assert shown != sorted(shown), "no B-frames: pictures would be decoded in display order"


@pytest.mark.parametrize("edge", [Edge.END, Edge.START])
def test_an_extend_keeps_every_source_frame_bit_for_bit(
    source: tuple[str, Path], edge: Edge, tmp_path: Path
) -> None:
    _, path = source
    info = media.probe(path)
    assert info.video is not None
    output = tmp_path / "extended.mp4"
    written = media.extend(path, info, new_frames(info, NEW), output, at=edge)
    assert written.full_encode is None
    assert (written.copied_frames, written.encoded_frames) == (FRAMES, NEW)
    before, after = media.read_frames(path), media.read_frames(output)
    kept = after[:FRAMES] if edge is Edge.END else after[NEW:]
    assert len(after) == FRAMES + NEW and np.array_equal(before, kept)
    plays_cleanly(output)
    codes = list(range(FRAMES)) + list(range(1000, 1000 + NEW))
    codes = codes if edge is Edge.END else codes[FRAMES:] + codes[:FRAMES]
    assert play(output).codes == codes
    in_sync(output, info.video.fps, beeps_at(codes))
    result = media.probe(output)
    assert result.video is not None and result.video.rotation == info.video.rotation


def test_a_retake_keeps_the_gops_it_does_not_touch_bit_for_bit(
    source: tuple[str, Path], tmp_path: Path
) -> None:
    _, path = source
    info = media.probe(path)
    assert info.video is not None
    new = new_frames(info, WINDOW.frame_count)
    assert new.audio is not None
    output = tmp_path / "retaken.mp4"
    written = media.replace_window(
        path,
        info,
        output,
        video=VideoPatch(WINDOW, new.frames),
        audio=AudioPatch(WINDOW.start / info.video.fps, new.audio),
    )
    before, after = media.read_frames(path), media.read_frames(output)
    same = [i for i in range(FRAMES) if np.array_equal(before[i], after[i])]
    # the copied frames are exactly a run from the start and one to the end, around the window
    assert written.full_encode is None and len(same) == written.copied_frames
    head = next(i for i in range(FRAMES + 1) if i not in same)
    assert 0 < head <= WINDOW.start and same == list(range(head)) + list(
        range(FRAMES - len(same) + head, FRAMES)
    )
    assert FRAMES - (len(same) - head) >= WINDOW.stop and len(same) > head
    plays_cleanly(output)
    codes = list(range(FRAMES))
    codes[WINDOW.start : WINDOW.stop] = range(1000, 1000 + WINDOW.frame_count)
    assert play(output).codes == codes
    in_sync(output, info.video.fps, beeps_at(codes))


def test_audio_only_retake_copies_every_picture(tmp_path: Path) -> None:
    path = make_source(tmp_path, "h264-bframes")
    info = media.probe(path)
    new = new_frames(info, WINDOW.frame_count)
    assert new.audio is not None and info.video is not None
    output = tmp_path / "redubbed.mp4"
    written = media.replace_window(
        path, info, output, audio=AudioPatch(WINDOW.start / info.video.fps, new.audio)
    )
    assert (written.copied_frames, written.encoded_frames) == (FRAMES, 0)
    assert 0 < written.encoded_audio_frames < written.copied_audio_frames
    assert np.array_equal(media.read_frames(path), media.read_frames(output))
    plays_cleanly(output)


@pytest.mark.parametrize("codec", ["aac", "libopus"])
def test_copied_sound_is_the_sources_sample_for_sample_and_the_seams_do_not_click(
    codec: str, tmp_path: Path
) -> None:
    """A steady tone retaken by another tone: away from the seams the output decodes to the source's
    very samples; at the seams nothing jumps (a click would). AAC stays within a hair of the sound
    asked for there; an Opus decoder carries state from frame to frame, so after the encoded frames
    the copied ones take up to half a second to decode bit for bit again (a smooth swell of under
    3 dB at first, fading)."""
    fps, rate = Fraction(24), 48_000
    seconds = FRAMES / fps
    t = np.arange(int(seconds * rate)) / rate
    tone = np.tile((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), (2, 1))
    frames = synthetic_clip(160, 96, FRAMES, fps, sample_rate=None).frames
    path = write_video(
        tmp_path / "tone.mp4", frames, fps, audio=tone, audio_codec=codec, options=GOP["libx264"]
    )
    info = media.probe(path)
    other = np.tile((0.3 * np.sin(2 * np.pi * 660 * t[:rate])).astype(np.float32), (2, 1))
    start = Fraction(3, 2)
    output = tmp_path / "out.mp4"
    written = media.replace_window(path, info, output, audio=AudioPatch(start, media.AudioTrack(other, rate)))
    assert written.copied_audio_frames > 0
    duration = Fraction(FRAMES) / fps
    before = media.read_audio(path, sample_rate=rate, duration=duration)
    after = media.read_audio(output, sample_rate=rate, duration=duration)
    lo, hi = int(start * rate), int(start * rate) + rate
    margin = 3 * 1024  # the frames around a seam that are encoded again
    assert np.array_equal(before[:, : lo - margin], after[:, : lo - margin])
    # the last frame's tail decodes a hair differently (< -60 dB) once the track's end is written anew
    last = before.shape[1] - 1024
    settled = hi + margin + (rate // 2 if codec == "libopus" else 0)
    assert np.array_equal(before[:, settled:last], after[:, settled:last])
    assert np.abs(before[:, last:] - after[:, last:]).max() < 1e-3
    wanted = before.copy()
    fade = int(media.CROSSFADE * rate)
    wanted[:, lo:hi] = other
    wanted[:, lo : lo + fade] = media.faded(before[:, lo : lo + fade], other[:, :fade])
    wanted[:, hi - fade : hi] = media.faded(other[:, -fade:], before[:, hi - fade : hi])
    around = slice(lo - margin, settled)
    steepest = np.abs(np.diff(wanted[:, around])).max()
    assert np.abs(np.diff(after[:, around])).max() < 1.5 * steepest
    level = [float(np.sqrt(np.mean(after[0, i : i + 1000] ** 2))) for i in range(hi, settled - 1000, 1000)]
    assert max(level) < 0.3 / np.sqrt(2) * 10 ** (3 / 20), level
    if codec == "aac":
        for seam in (lo, hi):
            error = np.abs(after[:, seam - margin : seam + margin] - wanted[:, seam - margin : seam + margin])
            assert error.max() < 0.05, error.max()


def test_a_source_with_a_varying_frame_rate_is_encoded_whole_and_says_why(tmp_path: Path) -> None:
    clip = synthetic_clip(160, 96, 40, Fraction(24))
    assert clip.audio is not None
    stamps = [sum(1 + (i % 3 == 0) for i in range(n)) for n in range(40)]  # 1 or 2 ticks apart
    path = write_video(
        tmp_path / "vfr.mp4",
        clip.frames,
        Fraction(24),
        audio=clip.audio.samples,
        timestamps=stamps,
        time_base=Fraction(1, 30),
    )
    info = media.probe(path)
    output = tmp_path / "out.mp4"
    written = media.extend(path, info, new_frames(info, 12), output)
    assert written.copied_frames == 0 and written.full_encode is not None
    assert "frame rate varies" in written.full_encode
    plays_cleanly(output)
    assert play(output).codes == list(range(40)) + list(range(1000, 1012))


@pytest.mark.parametrize(
    ("codec", "fmt", "reason"),
    [
        ("libx264", OutputFormat.WEBM, "the output is webm"),
        ("libvpx-vp9", OutputFormat.MP4, "the source's video is vp9"),
        ("mpeg4", OutputFormat.MP4, "the source's video is mpeg4"),
    ],
)
def test_what_cannot_be_copied_is_encoded_whole_and_says_why(
    codec: str, fmt: OutputFormat, reason: str, tmp_path: Path
) -> None:
    clip = synthetic_clip(160, 96, 30, Fraction(24))
    assert clip.audio is not None
    suffix = "webm" if codec == "libvpx-vp9" else "mp4"
    audio_codec = "libopus" if codec == "libvpx-vp9" else "aac"
    path = write_video(
        tmp_path / f"source.{suffix}", clip.frames, Fraction(24), codec=codec, audio=clip.audio.samples,
        audio_codec=audio_codec,
    )  # fmt: skip
    info = media.probe(path)
    output = tmp_path / f"out.{fmt.value}"
    written = media.extend(path, info, new_frames(info, 6), output, options=EncodeOptions(format=fmt))
    assert written.full_encode is not None and written.full_encode.startswith(reason), written.full_encode
    assert (written.copied_frames, written.encoded_frames) == (0, 36)
    assert play(output).codes == list(range(30)) + list(range(1000, 1006))


def test_a_source_whose_first_frame_shows_late_keeps_its_sound_under_its_frames(tmp_path: Path) -> None:
    """The first frame at 0.25 s and the sound from 0 (as cameras and transport streams have it): the
    copied sound stays where it was against the pictures, the new sound lands under the new frames."""
    fps = Fraction(24)
    clip = synthetic_clip(160, 96, FRAMES, fps, beep_every=EVERY)
    assert clip.audio is not None
    lead = 6  # frames of sound before the first picture
    sound = np.concatenate([np.zeros((2, lead * 2000), np.float32), clip.audio.samples], axis=1)
    path = write_video(
        tmp_path / "late.mp4",
        clip.frames,
        fps,
        audio=sound,
        timestamps=[lead + i for i in range(FRAMES)],
        time_base=1 / fps,
        options=GOP["libx264"],
    )
    info = media.probe(path)
    assert info.video is not None and play(path).frame_times[0] == Fraction(1, 4)
    output = tmp_path / "extended.mp4"
    written = media.extend(path, info, new_frames(info, NEW), output)
    assert written.full_encode is None and written.copied_audio_frames > 0
    codes = list(range(FRAMES)) + list(range(1000, 1000 + NEW))
    assert play(output).codes == codes
    in_sync(output, fps, beeps_at(codes))
    plays_cleanly(output)


def test_the_sound_next_to_a_retake_is_encoded_at_the_quality_asked_not_the_sources_mean(
    tmp_path: Path,
) -> None:
    """Beeps over silence average a few kb/s: encoding the frames around a seam at that rate smeared
    the beep that ends next to the window (19 dB against 56 dB encoded whole). The frames around
    the seam are as good as a whole encode's."""
    fps, rate = Fraction(24), 48_000
    clip = synthetic_clip(160, 96, 96, fps, beep_every=EVERY)
    assert clip.audio is not None
    path = write_video(
        tmp_path / "beeps.mp4", clip.frames, fps, audio=clip.audio.samples, options=GOP["libx264"]
    )
    with av.open(str(path)) as container:
        assert container.streams.audio[0].bit_rate < 64_000
    info = media.probe(path)
    lo, count = 71_520, 49_920  # a beep starts 20 ms before the window ends and rings past it
    noise = (0.05 * np.random.default_rng(0).standard_normal((2, count))).astype(np.float32)
    patch = AudioPatch(Fraction(lo, rate), media.AudioTrack(noise, rate))
    duration = Fraction(96) / fps
    source = media.read_audio(path, sample_rate=rate, duration=duration)
    after = slice(lo + count, lo + count + 2048)

    def snr_after_the_window(copy: bool) -> float:
        output = tmp_path / f"copy-{copy}.mp4"
        written = media.replace_window(path, info, output, audio=patch, copy_source=copy)
        assert (written.copied_audio_frames > 0) == copy
        made = media.read_audio(output, sample_rate=rate, duration=duration)
        error = np.sum((source[:, after] - made[:, after]) ** 2)
        return float(10 * np.log10(np.sum(source[:, after] ** 2) / error))

    assert snr_after_the_window(True) >= snr_after_the_window(False) - 1
