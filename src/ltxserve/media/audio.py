"""Sample-rate and channel conversion of in-memory audio."""

import av
import numpy as np

from ltxserve.media.clip import AudioTrack


def convert_audio(track: AudioTrack, *, sample_rate: int, channels: int) -> AudioTrack:
    """Resample (swresample, through PyAV) and up/down-mix; the length scales with the rate."""
    if track.sample_rate == sample_rate and track.channels == channels:
        return track
    layout = "stereo" if track.channels == 2 else "mono"
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(track.samples), format="fltp", layout=layout)
    frame.sample_rate = track.sample_rate
    resampler = av.AudioResampler(
        format="fltp", layout="stereo" if channels == 2 else "mono", rate=sample_rate
    )
    chunks = [chunk.to_ndarray() for chunk in [*resampler.resample(frame), *resampler.resample(None)]]
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    return AudioTrack(np.asarray(samples, dtype=np.float32), sample_rate)
