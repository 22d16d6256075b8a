"""The resident model set: every model built once per process from the weight set and kept.

The official pipelines rebuild every model from disk on every call (tens of seconds at 22B); here
each is built on first use and stays. Builders, key maps and configurators are ltx-core's, wired the
way ltx-pipelines' ModelLedger wires them, so the weights are the same tensors.

Every model computes in one dtype, chosen per device (`options.ComputeDtype`): bfloat16 on CUDA,
float32 on CPU, or what the options ask for. The weights are cast to it as each model is built.

Memory modes: by default everything stays on the device. With `offload`, models live in CPU memory
and each is moved to the device only while it runs (small GPUs; still never reloaded from disk).
`fp8` stores the transformer's linear weights as float8 (ltx-core's fp8-cast policy), halving it.
"""

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import torch
from ltx_core.loader import SDOps, SingleGPUModelBuilder
from ltx_core.model.audio_vae import (
    AUDIO_VAE_DECODER_COMFY_KEYS_FILTER,
    AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER,
    VOCODER_COMFY_KEYS_FILTER,
    AudioDecoderConfigurator,
    AudioEncoderConfigurator,
    VocoderConfigurator,
)
from ltx_core.model.transformer import LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator, X0Model
from ltx_core.model.upsampler import LatentUpsamplerConfigurator
from ltx_core.model.video_vae import (
    VAE_DECODER_COMFY_KEYS_FILTER,
    VAE_ENCODER_COMFY_KEYS_FILTER,
    VideoDecoderConfigurator,
    VideoEncoderConfigurator,
)
from ltx_core.quantization import QuantizationPolicy
from ltx_core.text_encoders.gemma import (
    EMBEDDINGS_PROCESSOR_KEY_OPS,
    GEMMA_LLM_KEY_OPS,
    GEMMA_MODEL_OPS,
    EmbeddingsProcessorConfigurator,
    GemmaTextEncoderConfigurator,
    module_ops_from_gemma_root,
)
from ltx_core.text_encoders.gemma.embeddings_processor import EmbeddingsProcessorOutput

from ltxserve.engine.gemma import gemma_architecture, read_gemma_config
from ltxserve.engine.knobs import LoraSpec
from ltxserve.engine.loras import LoraFusion
from ltxserve.engine.options import ComputeDtype, EngineOptions
from ltxserve.engine.weights import WeightSet

Module = TypeVar("Module", bound=torch.nn.Module)
FLOAT8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)
TORCH_DTYPES = {ComputeDtype.FLOAT32: torch.float32, ComputeDtype.BFLOAT16: torch.bfloat16}


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    logger = logging.getLogger("transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def pick_device(name: str | None) -> torch.device:
    if name is not None:
        return torch.device(name)
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


class ResidentModels:
    def __init__(self, weights: WeightSet, options: EngineOptions) -> None:
        self.weights = weights
        self.options = options
        self.device = pick_device(options.device)
        self.dtype = TORCH_DTYPES[options.dtype.on(self.device.type)]
        self._home = torch.device("cpu") if options.offload else self.device
        self._built: dict[str, torch.nn.Module] = {}
        self._fusions: dict[Path, LoraFusion] = {}
        self._prompts: OrderedDict[tuple[str, Path], EmbeddingsProcessorOutput] = OrderedDict()
        self._lock = threading.RLock()
        self._gemma = read_gemma_config(weights.gemma) if weights.gemma else {}

    # --- building ------------------------------------------------------------------------------

    def _resident(self, name: str, build: Callable[[], torch.nn.Module]) -> Any:
        with self._lock:
            if name not in self._built:
                self._built[name] = build().eval()
            return self._built[name]

    def _build(
        self, configurator: Any, path: Path | tuple[str, ...], sd_ops: SDOps | None, **extra: Any
    ) -> Any:
        builder = SingleGPUModelBuilder(
            model_path=path if isinstance(path, tuple) else str(path),
            model_class_configurator=configurator,
            model_sd_ops=sd_ops,
            **extra,
        )
        return builder.build(device=self._home, dtype=self.dtype).to(self._home)

    # The VAEs, vocoder and text connectors are read from the checkpoint being run (dev and distilled
    # each carry their own copy).

    def video_encoder(self, checkpoint: Path) -> Any:
        return self._resident(
            f"video_encoder:{checkpoint}",
            lambda: self._build(VideoEncoderConfigurator, checkpoint, VAE_ENCODER_COMFY_KEYS_FILTER),
        )

    def video_decoder(self, checkpoint: Path) -> Any:
        return self._resident(
            f"video_decoder:{checkpoint}",
            lambda: self._build(VideoDecoderConfigurator, checkpoint, VAE_DECODER_COMFY_KEYS_FILTER),
        )

    def audio_encoder(self, checkpoint: Path) -> Any:
        return self._resident(
            f"audio_encoder:{checkpoint}",
            lambda: self._build(AudioEncoderConfigurator, checkpoint, AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER),
        )

    def audio_decoder(self, checkpoint: Path) -> Any:
        return self._resident(
            f"audio_decoder:{checkpoint}",
            lambda: self._build(AudioDecoderConfigurator, checkpoint, AUDIO_VAE_DECODER_COMFY_KEYS_FILTER),
        )

    def vocoder(self, checkpoint: Path) -> Any:
        return self._resident(
            f"vocoder:{checkpoint}",
            lambda: self._build(VocoderConfigurator, checkpoint, VOCODER_COMFY_KEYS_FILTER),
        )

    def upscaler(self) -> Any:
        assert self.weights.upscaler is not None
        path = self.weights.upscaler
        return self._resident("upscaler", lambda: self._build(LatentUpsamplerConfigurator, path, None))

    def text_encoder(self) -> Any:
        def build() -> Any:
            assert self.weights.gemma is not None
            root = self.weights.gemma
            shards = tuple(str(p) for p in sorted(root.rglob("model*.safetensors")))
            module_ops = (GEMMA_MODEL_OPS, *module_ops_from_gemma_root(str(root)))
            # transformers warns about Gemma's image processor, which text encoding never uses
            with gemma_architecture(self._gemma), _quiet_transformers():
                return self._build(
                    GemmaTextEncoderConfigurator, shards, GEMMA_LLM_KEY_OPS, module_ops=module_ops
                )

        return self._resident("text_encoder", build)

    def embeddings_processor(self, checkpoint: Path) -> Any:
        def build() -> Any:
            with gemma_architecture(self._gemma):
                return self._build(EmbeddingsProcessorConfigurator, checkpoint, EMBEDDINGS_PROCESSOR_KEY_OPS)

        return self._resident(f"embeddings_processor:{checkpoint}", build)

    def build_transformer(self, checkpoint: Path) -> X0Model:
        """The transformer of `checkpoint`, with whatever LoRAs it last had fused in."""

        def build() -> X0Model:
            builder = SingleGPUModelBuilder(
                model_path=str(checkpoint),
                model_class_configurator=LTXModelConfigurator,
                model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP,
            )
            if not self.options.fp8:
                return X0Model(builder.build(device=self._home, dtype=self.dtype)).to(self._home)
            policy = QuantizationPolicy.fp8_cast()
            assert policy.sd_ops is not None and builder.model_sd_ops is not None
            builder = replace(
                builder,
                module_ops=(*builder.module_ops, *policy.module_ops),
                model_sd_ops=SDOps(
                    name=f"{builder.model_sd_ops.name}+{policy.sd_ops.name}",
                    mapping=(*builder.model_sd_ops.mapping, *policy.sd_ops.mapping),
                ),
            )
            model = builder.build(device=self._home)
            # The float8 linear weights stay float8 (they are cast to the input's dtype as they run);
            # everything else computes in the engine's dtype.
            for parameter in model.parameters():
                if parameter.dtype not in FLOAT8_DTYPES:
                    parameter.data = parameter.data.to(self.dtype)
            return X0Model(model).to(self._home)

        with self._lock:
            model: X0Model = self._resident(f"transformer:{checkpoint}", build)
            if checkpoint not in self._fusions:
                self._fusions[checkpoint] = LoraFusion(model.velocity_model)
            return model

    def transformer(self, checkpoint: Path, loras: tuple[LoraSpec, ...]) -> X0Model:
        """The transformer of `checkpoint` with exactly `loras` fused in."""
        with self._lock:
            model = self.build_transformer(checkpoint)
            self._fusions[checkpoint].apply(loras)
            return model

    # --- running -------------------------------------------------------------------------------

    @contextmanager
    def running(self, *models: torch.nn.Module) -> Iterator[None]:
        """Models are on the device inside the block; with offload they go back to CPU after."""
        if self._home == self.device:
            yield
            return
        for model in models:
            model.to(self.device)
        try:
            yield
        finally:
            for model in models:
                model.to(self._home)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def encode_prompt(self, text: str, checkpoint: Path) -> EmbeddingsProcessorOutput:
        """Gemma hidden states through the checkpoint's embeddings processor; recent prompts are cached."""
        key = (text, checkpoint)
        with self._lock:
            if key in self._prompts:
                self._prompts.move_to_end(key)
                return self._prompts[key]
            encoder, processor = self.text_encoder(), self.embeddings_processor(checkpoint)
            with self.running(encoder):
                hidden_states, mask = encoder.encode(text)
            with self.running(processor):
                encoded: EmbeddingsProcessorOutput = processor.process_hidden_states(hidden_states, mask)
            self._prompts[key] = encoded
            while len(self._prompts) > self.options.prompt_cache:
                self._prompts.popitem(last=False)
            return encoded

    def expand_prompt(self, text: str, seed: int, max_new_tokens: int = 512) -> str:
        """`text` rewritten by the resident Gemma with LTX's own prompt-enhancer instructions (the
        system prompt ltx-core ships), sampled repeatably from `seed`."""
        encoder = self.text_encoder()
        messages = [
            {"role": "system", "content": encoder.default_gemma_t2v_system_prompt},
            {"role": "user", "content": f"user prompt: {text}"},
        ]
        tokenizer = encoder.processor.tokenizer
        chat = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        with self._lock, self.running(encoder):
            inputs = encoder.processor(text=chat, return_tensors="pt").to(self.device)
            # a fork of the generator this device uses, so that sampling leaves everyone else's alone
            cuda = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda), torch.inference_mode():
                torch.manual_seed(seed)
                output = encoder.model.generate(
                    **inputs, max_new_tokens=max_new_tokens, do_sample=True, temperature=0.7
                )
        expanded: str = tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return expanded.strip()

    @property
    def built(self) -> dict[str, torch.nn.Module]:
        """Every model built so far, by name."""
        return dict(sorted(self._built.items()))
