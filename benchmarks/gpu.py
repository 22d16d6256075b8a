"""The engine's speed at LTX-2.3's full size, on the device it runs on (an H100 / H200 is the point).

    .venv/bin/python benchmarks/gpu.py                              # the three cases below, CUDA, bf16
    .venv/bin/python benchmarks/gpu.py --fp8                        # transformer weights stored as float8
    .venv/bin/python benchmarks/gpu.py --blocks 1 --size small      # the same code on CPU, in under a minute

Speed does not depend on the weights' values, so no 44 GB file is read: the models are LTX-2.3's
architecture (ltx-core's configurators, the 22B transformer from the tiny set's template at its real
size, the video decoder, audio decoder and vocoder with BWE) built on the device with random weights,
and the text encoder is a stub giving embeddings of its real shape (1024 tokens × 4096 / 2048; Gemma
runs once per prompt and the engine caches it). Everything else is the engine's own path: planning,
stages, guidance, the latent upscale, decoding. One random transformer serves both checkpoints, and the
distilled LoRA is not fused (its real rank is not known here): the two-stage cases leave out that
fusion, done once per change of stage. No case encodes video, so the video encoder keeps the tiny
layout (the upscale uses only its latent statistics).

The cases, each run once to warm up (its FLOPs counted then, with torch's FlopCounterMode, per shape
of transformer call), then timed:
  a  SGLang's case: 768×512×121, 8 steps, one model pass a step (no guidance)
  b  the distilled two-stage at 1920×1088×121 with audio (8 steps at half size, upscale, 3 refining)
  c  the guided two-stage default (its steps, CFG + STG + modality passes) at SGLang's 1536×1024×121

Printed per case: seconds per stage, per denoising step, tokens per pass, the transformer's counted
FLOPs and the TFLOP/s they were done at (and % of 790, an H100/H200's dense bf16), peak memory, and
the ratio to SGLang's published time for the same work where there is one.
"""

import argparse
import copy
import json
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from ltx_core.model.transformer import LTXModelConfigurator, X0Model
from ltx_core.model.upsampler import LatentUpsamplerConfigurator
from ltx_core.quantization import QuantizationPolicy
from ltx_core.text_encoders.gemma.embeddings_processor import EmbeddingsProcessorOutput
from safetensors.torch import save_file
from torch.utils import flop_counter

from ltxserve.engine import tiny
from ltxserve.engine.engine import Engine, EngineInputs
from ltxserve.engine.knobs import LoraSpec
from ltxserve.engine.models import FLOAT8_DTYPES, ResidentModels
from ltxserve.engine.options import ComputeDtype, EngineOptions
from ltxserve.engine.progress import DENOISING_STAGES, Progress, StageClock
from ltxserve.engine.weights import WeightSet
from ltxserve.request import Duration, GenerationRequest, Guidance, Pipeline, Sampling, Task

DENSE_BF16_TFLOPS = 790.0
"""H100 / H200 SXM dense bf16 tensor throughput, the ceiling a step can approach."""
CONTEXT_TOKENS = 1024
"""Gemma's prompt is padded to 1024 tokens; the connectors keep that length."""

FULL_SIZE: dict[str, Any] = {
    "transformer": {
        **tiny.TRANSFORMER_CONFIG,
        "num_layers": 48,
        "num_attention_heads": 32,
        "attention_head_dim": 128,
        "cross_attention_dim": 4096,
        "audio_num_attention_heads": 32,
        "audio_attention_head_dim": 64,
        "audio_cross_attention_dim": 2048,
        "connector_num_attention_heads": 32,
        "connector_attention_head_dim": 128,
        "audio_connector_num_attention_heads": 32,
        "audio_connector_attention_head_dim": 64,
        "connector_num_layers": 8,
    },
    # LTX-2.3's decoder, outermost block first (diffusers' conversion of the release: widths 256, 512,
    # 512, 1024, resnets 4, 6, 4, 2 and 2 in the middle; ×2 space, ×2 time, ×2 both keeping the width,
    # ×2 both halving it)
    "vae": {
        **tiny.VAE_CONFIG,
        "decoder_base_channels": 128,
        "decoder_blocks": [
            ["res_x", {"num_layers": 4}],
            ["compress_space", {"multiplier": 2}],
            ["res_x", {"num_layers": 6}],
            ["compress_time", {"multiplier": 2}],
            ["res_x", {"num_layers": 4}],
            ["compress_all", {"multiplier": 1}],
            ["res_x", {"num_layers": 2}],
            ["compress_all", {"multiplier": 2}],
            ["res_x", {"num_layers": 2}],
        ],
    },
    "audio_vae": {
        **tiny.AUDIO_VAE_CONFIG,
        "model": {
            "params": {
                **tiny.AUDIO_VAE_CONFIG["model"]["params"],
                "ddconfig": {
                    **tiny.AUDIO_VAE_CONFIG["model"]["params"]["ddconfig"],
                    "ch_mult": [1, 2, 4],
                    "num_res_blocks": 2,
                },
            }
        },
    },
    "vocoder": {  # the release's own metadata
        "vocoder": {
            **tiny.VOCODER_CONFIG["vocoder"],
            "upsample_rates": [5, 2, 2, 2, 2, 2],
            "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4],
            "upsample_initial_channel": 1536,
            "resblock_kernel_sizes": [3, 7, 11],
            "resblock_dilation_sizes": [[1, 3, 5]] * 3,
            "use_tanh_at_final": False,
            "use_bias_at_final": False,
        },
        "bwe": {
            **tiny.VOCODER_CONFIG["bwe"],
            "upsample_initial_channel": 512,
            "resblock_kernel_sizes": [3, 7, 11],
            "resblock_dilation_sizes": [[1, 3, 5]] * 3,
            "use_tanh_at_final": False,
            "use_bias_at_final": False,
            "apply_final_activation": False,
        },
    },
}
UPSCALER = {**tiny.UPSCALER_CONFIG, "mid_channels": 512, "num_blocks_per_stage": 4}


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    pipeline: Pipeline
    size: tuple[int, int]
    frames: int
    sglang_seconds: float | None
    """SGLang's published time for the same work on 1×H100 (bf16), if it published one."""
    steps: int | None = None
    """None: the pipeline's own."""
    small_steps: int | None = None
    """The steps under `--size small`."""
    unguided: bool = False


CASES = {
    "a": Case("a", "SGLang's case, 8 steps", Pipeline.ONE_STAGE, (768, 512), 121, 9.52, 8, 2, True),
    "b": Case("b", "distilled two-stage 1080p", Pipeline.DISTILLED, (1920, 1088), 121, None),
    "c": Case("c", "guided two-stage default", Pipeline.TWO_STAGE, (1536, 1024), 121, 52.97, small_steps=2),
}
SMALL_SIZE, SMALL_FRAMES, SMALL_CONTEXT_TOKENS = (64, 64), 9, 32
"""`--size small`: every shape small enough for two CPU cores (the model's widths stay as they are)."""


def random_(module: torch.nn.Module, seed: int) -> None:
    """Weights of a trained model's scale, drawn on the module's own device."""
    with torch.no_grad():
        for index, parameter in enumerate(module.parameters()):
            if parameter.dtype in FLOAT8_DTYPES or not parameter.is_floating_point():
                continue
            generator = torch.Generator(parameter.device).manual_seed(seed + index)
            if parameter.ndim >= 2:
                parameter.normal_(0.0, 0.02, generator=generator)
            else:
                parameter.uniform_(0.5, 1.0, generator=generator)
        for name, buffer in module.named_buffers():
            if name.endswith("std-of-means"):
                buffer.fill_(1.0)
            elif name.endswith("mean-of-means"):
                buffer.zero_()


@contextmanager
def building_on(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Modules made inside are made on `device` in `dtype`: a 22B model never exists twice."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            yield
    finally:
        torch.set_default_dtype(previous)


# torch counts the CUDA attention kernels' FLOPs but not the CPU one's: the same formula, so that a
# CPU run's count is whole too
flop_counter.register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu, get_raw=True)(
    flop_counter.sdpa_flop
)


class CountedTransformer(torch.nn.Module):
    """The transformer, with the FLOPs of each shape of call counted once (while warming up) and the
    calls of the timed run tallied. The counter also names the attention kernel that ran."""

    def __init__(self, model: X0Model) -> None:
        super().__init__()
        self.model = model
        self.counting = False
        self.flops: dict[str, int] = {}
        self.tokens: dict[str, tuple[int, int]] = {}
        self.attention: set[str] = set()
        self.calls: list[str] = []

    def forward(self, video: Any, audio: Any, perturbations: Any) -> Any:
        key = f"{video.latent.shape} {audio.latent.shape} {video.enabled} {audio.enabled} {perturbations}"
        if self.counting and key not in self.flops:
            with flop_counter.FlopCounterMode(display=False) as counter:
                result = self.model(video=video, audio=audio, perturbations=perturbations)
            self.flops[key] = counter.get_total_flops()
            self.tokens[key] = (video.latent.shape[1], audio.latent.shape[1])
            # the fused attention kernels have FLOP formulas: whichever SDPA picked is among the ops
            counted = {str(op).removeprefix("aten.") for op in counter.get_flop_counts()["Global"]}
            self.attention |= {op for op in counted if "attention" in op}
            return result
        self.calls.append(key)
        return self.model(video=video, audio=audio, perturbations=perturbations)

    def tally(self) -> int:
        return sum(self.flops[key] for key in self.calls)


class RandomModels(ResidentModels):
    """The engine's model set, built from `config` with random weights instead of read from files."""

    def __init__(
        self, weights: WeightSet, options: EngineOptions, config: dict[str, Any], context_tokens: int
    ) -> None:
        super().__init__(weights, options)
        self.config = config
        self.context_tokens = context_tokens
        self.counted: CountedTransformer | None = None

    def _build(self, configurator: Any, path: Path | tuple[str, ...], sd_ops: Any, **extra: Any) -> Any:
        config = UPSCALER if configurator is LatentUpsamplerConfigurator else self.config
        with building_on(self.device, self.dtype):
            model = configurator.from_config(copy.deepcopy(config))
        random_(model, seed=len(self._built))
        return model.to(self.device)

    def text_encoder(self) -> Any:
        return self._resident("text_encoder", torch.nn.Identity)

    def embeddings_processor(self, checkpoint: Path) -> Any:
        return self._resident(f"embeddings_processor:{checkpoint}", torch.nn.Identity)

    def encode_prompt(self, text: str, checkpoint: Path) -> EmbeddingsProcessorOutput:
        generator = torch.Generator(self.device).manual_seed(len(text))

        def embedding(width: int) -> torch.Tensor:
            shape = (1, self.context_tokens, width)
            return torch.randn(shape, generator=generator, device=self.device, dtype=self.dtype)

        transformer = self.config["transformer"]
        return EmbeddingsProcessorOutput(
            embedding(transformer["cross_attention_dim"]),
            embedding(transformer["audio_cross_attention_dim"]),
            torch.ones(1, self.context_tokens, device=self.device, dtype=torch.int64),
        )

    def build_transformer(self, checkpoint: Path) -> X0Model:
        if self.counted is None:
            with building_on(self.device, self.dtype):
                model = LTXModelConfigurator.from_config(copy.deepcopy(self.config))
            random_(model, seed=1000)
            if self.options.fp8:
                store_as_float8(model)
            self.counted = CountedTransformer(X0Model(model).to(self.device).eval())
        return self.counted  # X0Model's calls, counted

    def transformer(self, checkpoint: Path, loras: tuple[LoraSpec, ...]) -> X0Model:
        return self.build_transformer(checkpoint)


def store_as_float8(model: torch.nn.Module) -> None:
    """What the engine's `fp8` build does (ltx-core's fp8-cast policy), to weights already in place."""
    policy = QuantizationPolicy.fp8_cast()
    assert policy.sd_ops is not None
    for operation in policy.module_ops:
        if operation.matcher(model):
            operation.mutator(model)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            (result,) = policy.sd_ops.apply_to_key_value(name, parameter.data)
            parameter.data = result.new_value


def header_only_checkpoint(directory: Path, config: dict[str, Any]) -> Path:
    """A checkpoint with the real `config` metadata and no tensors: what the planner reads."""
    path = directory / "ltx-2.3-random.safetensors"
    save_file({}, str(path), metadata={"config": json.dumps(config), "model_version": "2.3.0"})
    return path


def request_for(case: Case, small: bool) -> GenerationRequest:
    width, height = SMALL_SIZE if small else case.size
    off = Guidance(cfg=1.0, stg=0.0, modality=1.0)
    return GenerationRequest(
        Task.TEXT_TO_VIDEO,
        "a lighthouse on a cliff at dusk, waves breaking, gulls calling",
        seed=7,
        width=width,
        height=height,
        duration=Duration.of_frames(SMALL_FRAMES if small else case.frames),
        fps=Fraction(24),
        sampling=Sampling(
            pipeline=case.pipeline,
            steps=case.small_steps if small else case.steps,
            video=off if case.unguided else Guidance(),
            audio=off if case.unguided else Guidance(),
        ),
    )


def run_case(engine: Engine, models: RandomModels, case: Case, small: bool) -> dict[str, Any]:
    """The case warmed up (and its FLOPs counted), then timed: what `report` prints."""
    request = request_for(case, small)
    plan = engine.plan(request)
    cuda = models.device.type == "cuda"
    models.build_transformer(Path())
    transformer = models.counted
    assert transformer is not None

    def timed(counting: bool) -> tuple[dict[str, float], dict[str, int], float]:
        clock, steps = StageClock(), {}

        def progress(report: Progress) -> None:
            if cuda:
                torch.cuda.synchronize()  # a stage's time is its kernels' time, not the time to queue them
            clock(report)
            if report.stage in DENOISING_STAGES:
                steps[report.stage] = report.total

        transformer.counting, transformer.calls = counting, []
        started = time.perf_counter()
        engine.run(request, plan, EngineInputs(), progress=progress)
        if cuda:
            torch.cuda.synchronize()
        total = time.perf_counter() - started
        return clock.stop(), steps, total

    timed(counting=True)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    stages, steps, total = timed(counting=False)
    denoising = sum(seconds for stage, seconds in stages.items() if stage in DENOISING_STAGES)
    flops = transformer.tally()
    peak = (
        torch.cuda.max_memory_allocated()
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "case": case.name,
        "what": case.what,
        "pipeline": case.pipeline.value,
        "width": request.width,
        "height": request.height,
        "frames": plan.clip.frames,
        "stages": stages,
        "steps": steps,
        "seconds": total,
        "tokens": sorted({transformer.tokens[key] for key in transformer.calls}),
        "transformer_flops": flops,
        "transformer_calls": len(transformer.calls),
        "denoising_tflops_per_second": flops / 1e12 / denoising if denoising else None,
        "attention": sorted(transformer.attention),
        "peak_memory_bytes": peak,
        "peak_memory_of": "device" if cuda else "process RSS",
        "sglang_seconds": None if small else case.sglang_seconds,
    }


def report(measured: dict[str, Any], fp8: bool) -> Iterator[str]:
    size = f"{measured['width']}x{measured['height']}x{measured['frames']}"
    yield f"case {measured['case']}: {measured['what']}, {size}, {measured['pipeline']}"
    for stage, seconds in measured["stages"].items():
        steps = measured["steps"].get(stage)
        per_step = f"  ({steps} steps, {seconds / steps:.3f} s a step)" if steps else ""
        yield f"  {stage:<28} {seconds:9.3f} s{per_step}"
    passes = ", ".join(f"{video} + {audio}" for video, audio in measured["tokens"])
    yield f"  tokens a pass (video + audio): {passes}; attention kernel: {', '.join(measured['attention'])}"
    achieved = measured["denoising_tflops_per_second"] or 0.0
    yield (
        f"  total {measured['seconds']:.3f} s; transformer {measured['transformer_flops'] / 1e12:.4g} TFLOP"
        f" in {measured['transformer_calls']} passes, {achieved:.4g} TFLOP/s while denoising"
        f" ({100 * achieved / DENSE_BF16_TFLOPS:.3g} % of {DENSE_BF16_TFLOPS:.0f})"
    )
    yield f"  peak memory ({measured['peak_memory_of']}) {measured['peak_memory_bytes'] / 2**30:.2f} GiB"
    if measured["sglang_seconds"] is not None:
        ratio = measured["seconds"] / measured["sglang_seconds"]
        here = "FP8" if fp8 else "bf16"
        yield f"  SGLang 1xH100 bf16: {measured['sglang_seconds']:.2f} s; here ({here}) {ratio:.2f}x its time"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default="abc", help="which of a, b, c to run (default: all)")
    parser.add_argument("--blocks", type=int, default=48, help="transformer blocks (the model has 48)")
    parser.add_argument("--size", choices=("full", "small"), default="full",
                        help="small: every case at 64x64 px, 9 frames, 32 prompt tokens and 2 steps (the"
                             " distilled schedule's 8 + 3 stay), for a CPU")  # fmt: skip
    parser.add_argument("--device", help="cuda, cpu, ... (default: CUDA when present)")
    parser.add_argument("--fp8", action="store_true", help="the transformer's linear weights as float8")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = parser.parse_args(argv)
    config = copy.deepcopy(FULL_SIZE)
    config["transformer"]["num_layers"] = args.blocks
    small = args.size == "small"
    options = EngineOptions(device=args.device, dtype=ComputeDtype.AUTO, fp8=args.fp8)
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = header_only_checkpoint(Path(scratch), config)
        weights = WeightSet(
            root=Path(scratch), dev=checkpoint, distilled=checkpoint, distilled_lora=checkpoint,
            upscaler=checkpoint, gemma=Path(scratch),
        )  # fmt: skip
        engine = Engine(weights, options)
        models = RandomModels(weights, options, config, SMALL_CONTEXT_TOKENS if small else CONTEXT_TOKENS)
        engine.models = models
        device = models.device
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        stored = " (transformer linears float8)" if args.fp8 else ""
        print(f"LTX-2.3 at full width, {args.blocks} of 48 blocks, random {models.dtype} weights{stored}"
              f" on {name}; torch {torch.__version__}")  # fmt: skip
        results = []
        for letter in args.cases:
            results.append(run_case(engine, models, CASES[letter], small))
            for line in report(results[-1], args.fp8):
                print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": name, "dtype": str(models.dtype), "blocks": args.blocks,
                                         "fp8": args.fp8, "cases": results}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
