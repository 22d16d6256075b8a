"""How a worker runs its models: device, compute dtype, memory modes. Plain data, no torch, so the
command line and the settings can hold it without importing the engine."""

from dataclasses import dataclass
from enum import StrEnum

from ltxserve.engine.planning import Chaining


class ComputeDtype(StrEnum):
    """What the models compute in. LTX-2.3 is released in bfloat16 and runs in it on GPUs, but most
    CPUs have no native bfloat16: torch emulates it there, measured ×450 slower than float32 for one
    VAE `Conv3d` on an AVX2-only CPU. So a CPU computes in float32 unless told otherwise; the weights
    stay stored as released and are cast as each model is built."""

    AUTO = "auto"
    """bfloat16 on CUDA, float32 on CPU."""
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"

    def on(self, device_type: str) -> "ComputeDtype":
        """The concrete dtype on a device ("cuda", "cpu"): this one, unless it is AUTO."""
        if self is not ComputeDtype.AUTO:
            return self
        return ComputeDtype.BFLOAT16 if device_type == "cuda" else ComputeDtype.FLOAT32


UNTILED_PIXEL_FRAMES = 1280 * 736 * 121
"""The largest clip (width × height × frames at the model's size) the VAE encodes in one pass."""


@dataclass(frozen=True)
class EngineOptions:
    device: str | None = None
    """"cuda", "cuda:1", "cpu"; None picks CUDA when present."""
    dtype: ComputeDtype = ComputeDtype.AUTO
    fp8: bool = False
    """Store the transformer's linear weights as float8 (ltx-core's fp8-cast policy), halving it."""
    offload: bool = False
    """Keep models in CPU memory and move each to the device only while it runs."""
    vae_tiling: bool | None = None
    """Run the video VAE in overlapping tiles (ltx-core's default tiles): bounded memory at any size,
    numbers slightly different from one pass. None: decode in one pass (as the official pipelines
    do; a 1080p × 6 s demo decode peaks at 13.5 GB and tiles would make it 3.5× slower) and encode
    in tiles only above `UNTILED_PIXEL_FRAMES`, where one pass needs more memory than a worker may
    have (a 1080p extend: ~11 GB per float32 activation of the encoder's first layer)."""
    prompt_cache: int = 16
    """Encoded prompts kept (the negative prompt is nearly always the same)."""
    chaining: Chaining = Chaining()
    """How long an extend may be, and the windows a longer one is made in."""
