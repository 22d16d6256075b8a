"""A tiny, random LTX-2.3 weight set in exactly the official on-disk format, written in seconds.

Same file names, key layout, `config` / `model_version` metadata and Gemma directory as the real
release, so it is loaded by the same code as the 22B weights; only the sizes are small (2 transformer
blocks, a 4-channel VAE decoder, a 2-layer Gemma). Its output is noise: it exists so the whole path
(loading, every task, every pipeline) runs anywhere, including CI and the demo. The checkpoint carries
`ltxserve_demo` metadata so everything built on it is labelled a demo.
"""

import copy
import fcntl
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from ltxserve.engine.gemma import gemma_architecture
from ltxserve.engine.weights import (
    CAMERA_LORA_NAMES,
    DEMO_METADATA_KEY,
    DEV_NAME,
    DISTILLED_LORA_NAME,
    DISTILLED_NAME,
    GEMMA_DIR_NAME,
    UPSCALER_NAME,
)

_VIDEO_HEADS, _VIDEO_HEAD_DIM = 2, 32
_AUDIO_HEADS, _AUDIO_HEAD_DIM = 2, 16  # a↔v cross-attention needs equal head counts

TRANSFORMER_CONFIG: dict[str, Any] = {
    # fixed values LTXModelConfigurator checks
    "dropout": 0.0,
    "attention_bias": True,
    "num_vector_embeds": None,
    "activation_fn": "gelu-approximate",
    "num_embeds_ada_norm": 1000,
    "use_linear_projection": False,
    "only_cross_attention": False,
    "cross_attention_norm": True,
    "double_self_attention": False,
    "upcast_attention": False,
    "standardization_norm": "rms_norm",
    "norm_elementwise_affine": False,
    "qk_norm": "rms_norm",
    "positional_embedding_type": "rope",
    "use_audio_video_cross_attention": True,
    "share_ff": False,
    "av_cross_ada_norm": True,
    "use_middle_indices_grid": True,
    # sizes: the real 22B has 48 blocks of 32 heads
    "num_layers": 2,
    "num_attention_heads": _VIDEO_HEADS,
    "attention_head_dim": _VIDEO_HEAD_DIM,
    "in_channels": 128,
    "out_channels": 128,
    "cross_attention_dim": _VIDEO_HEADS * _VIDEO_HEAD_DIM,
    "audio_num_attention_heads": _AUDIO_HEADS,
    "audio_attention_head_dim": _AUDIO_HEAD_DIM,
    "audio_in_channels": 128,
    "audio_out_channels": 128,
    "audio_cross_attention_dim": _AUDIO_HEADS * _AUDIO_HEAD_DIM,
    "positional_embedding_theta": 10000.0,
    "positional_embedding_max_pos": [20, 2048, 2048],
    "audio_positional_embedding_max_pos": [20],
    "timestep_scale_multiplier": 1000,
    "av_ca_timestep_scale_multiplier": 1000,
    # LTX-2.3 ("V2") text path, gated attention, split RoPE
    "caption_proj_before_connector": True,
    "caption_projection_first_linear": False,
    "caption_proj_input_norm": False,
    "caption_projection_second_linear": False,
    "cross_attention_adaln": True,
    "apply_gated_attention": True,
    "rope_type": "split",
    "frequencies_precision": "float64",
    "connector_num_attention_heads": _VIDEO_HEADS,
    "connector_attention_head_dim": _VIDEO_HEAD_DIM,
    "audio_connector_num_attention_heads": _AUDIO_HEADS,
    "audio_connector_attention_head_dim": _AUDIO_HEAD_DIM,
    "connector_num_layers": 1,
    "connector_positional_embedding_max_pos": [4096],
    "connector_apply_gated_attention": True,
}

VAE_CONFIG: dict[str, Any] = {
    "dims": 3,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,
    "patch_size": 4,  # ×4 by patchifying, then 3 × compress_all (×2 each): the real ×32 / ×8
    "encoder_blocks": [["compress_all", {}]] * 3,
    "decoder_blocks": [["compress_all", {}]] * 3,
    "decoder_base_channels": 4,
    "norm_layer": "pixel_norm",
    "latent_log_var": "uniform",
    "causal_decoder": False,
    "timestep_conditioning": False,
    "spatial_padding_mode": "zeros",
}

AUDIO_VAE_CONFIG: dict[str, Any] = {
    "model": {
        "params": {
            "sampling_rate": 16000,
            "ddconfig": {
                "ch": 128,  # per-channel statistics are sized by ch and applied to 8 × 16 = 128 dims
                "out_ch": 2,
                "ch_mult": [1, 1, 1],  # two downsamples: ×4 in time, 64 → 16 mel bins
                "num_res_blocks": 1,
                "attn_resolutions": [],
                "resolution": 256,
                "z_channels": 8,
                "double_z": True,
                "in_channels": 2,
                "mel_bins": 64,
                "norm_type": "pixel",
                "causality_axis": "height",
                "mid_block_add_attention": False,
            },
        }
    },
    "preprocessing": {
        "stft": {"hop_length": 160, "filter_length": 1024, "causal": True},
        "mel": {"n_mel_channels": 64},
    },
}

VOCODER_CONFIG: dict[str, Any] = {  # LTX-2.3 layout: 16 kHz vocoder + bandwidth extension to 48 kHz
    "vocoder": {
        "resblock": "AMP1",
        "stereo": True,
        "activation": "snakebeta",
        "upsample_rates": [5, 4, 2, 2, 2],
        "upsample_kernel_sizes": [11, 8, 4, 4, 4],
        "upsample_initial_channel": 64,
        "resblock_kernel_sizes": [3],
        "resblock_dilation_sizes": [[1, 3, 5]],
    },
    "bwe": {
        "resblock": "AMP1",
        "stereo": True,
        "activation": "snakebeta",
        "upsample_rates": [6, 5, 2, 2, 2],
        "upsample_kernel_sizes": [12, 11, 4, 4, 4],
        "upsample_initial_channel": 64,
        "resblock_kernel_sizes": [3],
        "resblock_dilation_sizes": [[1, 3, 5]],
        "input_sampling_rate": 16000,
        "output_sampling_rate": 48000,
        "n_fft": 512,
        "hop_length": 80,
        "num_mels": 64,
    },
}

UPSCALER_CONFIG: dict[str, Any] = {
    "in_channels": 128,
    "mid_channels": 32,
    "num_blocks_per_stage": 1,
    "dims": 3,
    "spatial_upsample": True,
    "temporal_upsample": False,
    "spatial_scale": 2.0,
    "rational_resampler": False,
}

GEMMA_CONFIG: dict[str, Any] = {
    "architectures": ["Gemma3ForConditionalGeneration"],
    "model_type": "gemma3",
    "boi_token_index": 508,
    "eoi_token_index": 509,
    "image_token_index": 510,
    "eos_token_id": [1],
    "mm_tokens_per_image": 1,
    "text_config": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 32,
        "query_pre_attn_scalar": 32,
        "num_hidden_layers": 2,
        "vocab_size": 512,
        "sliding_window": 64,
    },
    "vision_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "image_size": 28,
        "patch_size": 14,
    },
}

_LORA_RANK = 4
_WORDS = [
    "the", "cat", "dog", "man", "woman", "walks", "runs", "on", "in", "beach", "city", "street", "night",
    "sunset", "ocean", "camera", "slowly", "pans", "speaks", "says", "hello", "music", "plays", "rain",
    "continue", "scene",
]  # fmt: skip


def ensure_tiny_weights(directory: Path) -> Path:
    """The tiny set in `directory`, written on first use. Safe when several processes start at once:
    one writes into a temporary sibling and renames it into place; the others wait for the lock."""
    if (directory / DEV_NAME).is_file():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    with (directory.parent / f".{directory.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / DEV_NAME).is_file():
            staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
            try:
                write_tiny_weights(staging)
                staging.rename(directory)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    return directory


def write_tiny_weights(directory: Path, seed: int = 0) -> Path:
    """Write the tiny set into `directory` (created if needed); the same seed writes the same bytes."""
    from ltx_core.model.audio_vae import (
        AudioDecoderConfigurator,
        AudioEncoderConfigurator,
        VocoderConfigurator,
    )
    from ltx_core.model.transformer import LTXModelConfigurator
    from ltx_core.model.upsampler import LatentUpsamplerConfigurator
    from ltx_core.model.video_vae import VideoDecoderConfigurator, VideoEncoderConfigurator
    from ltx_core.text_encoders.gemma import EmbeddingsProcessorConfigurator

    directory.mkdir(parents=True, exist_ok=True)
    # the configurators add keys to the dicts they are given: they get copies
    config = copy.deepcopy(
        {
            "transformer": TRANSFORMER_CONFIG,
            "vae": VAE_CONFIG,
            "audio_vae": AUDIO_VAE_CONFIG,
            "vocoder": VOCODER_CONFIG,
        }
    )
    metadata = {
        "config": json.dumps(config),
        "model_version": "2.3.0",
        DEMO_METADATA_KEY: "tiny random weights",
    }
    with gemma_architecture(GEMMA_CONFIG):
        for name, offset in ((DEV_NAME, 0), (DISTILLED_NAME, 100)):
            transformer = _random(LTXModelConfigurator.from_config(config), seed + offset + 1)
            parts = {
                "video_encoder": _random(VideoEncoderConfigurator.from_config(config), seed + offset + 2),
                "video_decoder": _random(VideoDecoderConfigurator.from_config(config), seed + offset + 3),
                "audio_encoder": _random(AudioEncoderConfigurator.from_config(config), seed + offset + 4),
                "audio_decoder": _random(AudioDecoderConfigurator.from_config(config), seed + offset + 5),
                "vocoder": _random(VocoderConfigurator.from_config(config), seed + offset + 6),
                "text": _random(EmbeddingsProcessorConfigurator.from_config(config), seed + offset + 7),
            }
            _save_file(_checkpoint_tensors(transformer, parts), str(directory / name), metadata=metadata)
        _save_file(
            _bf16(
                _random(
                    LatentUpsamplerConfigurator.from_config(copy.deepcopy(UPSCALER_CONFIG)), seed + 8
                ).state_dict()
            ),
            str(directory / UPSCALER_NAME),
            metadata={"config": json.dumps(UPSCALER_CONFIG)},
        )
        shapes = {k: v.shape for k, v in transformer.state_dict().items()}
        _save_file(_lora(shapes, seed + 9, _is_attention), str(directory / DISTILLED_LORA_NAME))
        for index, file_name in enumerate(CAMERA_LORA_NAMES.values()):
            _save_file(_lora(shapes, seed + 10 + index, _is_video_self_attention), str(directory / file_name))
        _write_gemma(directory / GEMMA_DIR_NAME, seed + 20)
    return directory


def _save_file(tensors: dict[str, torch.Tensor], path: str, metadata: dict[str, str] | None = None) -> None:
    """safetensors' own writer, with the JSON header's keys sorted: its metadata map is serialised in
    a per-process random order, and the same seed must give the same bytes."""
    data = save(tensors, metadata=metadata)
    length = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8 : 8 + length]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # the tensor data stays 8-byte aligned
    Path(path).write_bytes(len(header).to_bytes(8, "little") + header + data[8 + length :])


def _random(module: torch.nn.Module, seed: int) -> Any:
    """Re-initialise every tensor from `seed` (the configurators leave some as torch.empty)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if parameter.ndim >= 2 or "scale_shift_table" in name or "learnable_registers" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
            elif name.endswith("bias") or "alpha" in name or "beta" in name:
                parameter.zero_()
            else:
                parameter.fill_(1.0)
        for name, buffer in module.named_buffers():
            if name.endswith("std-of-means"):
                buffer.fill_(1.0)
            elif name.endswith("mean-of-means"):
                buffer.zero_()
    return module


def _bf16(tensors: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    return {prefix + key: value.detach().to(torch.bfloat16).contiguous() for key, value in tensors.items()}


def _checkpoint_tensors(
    transformer: torch.nn.Module, parts: Mapping[str, torch.nn.Module]
) -> dict[str, torch.Tensor]:
    """The single-file layout: model.diffusion_model.*, vae.*, audio_vae.*, vocoder.*,
    text_embedding_projection.*."""
    tensors = _bf16(transformer.state_dict(), "model.diffusion_model.")
    for part, prefix in (("video_encoder", "vae.encoder."), ("video_decoder", "vae.decoder.")):
        tensors |= _bf16(_without_statistics(parts[part]), prefix)
    tensors |= _bf16(_statistics(parts["video_encoder"]), "vae.per_channel_statistics.")
    for part, prefix in (("audio_encoder", "audio_vae.encoder."), ("audio_decoder", "audio_vae.decoder.")):
        tensors |= _bf16(_without_statistics(parts[part]), prefix)
    tensors |= _bf16(_statistics(parts["audio_encoder"]), "audio_vae.per_channel_statistics.")
    tensors |= _bf16(parts["vocoder"].state_dict(), "vocoder.")
    text = parts["text"].state_dict()
    for source, target in (
        ("feature_extractor.", "text_embedding_projection."),
        ("video_connector.", "model.diffusion_model.video_embeddings_connector."),
        ("audio_connector.", "model.diffusion_model.audio_embeddings_connector."),
    ):
        tensors |= _bf16({k.removeprefix(source): v for k, v in text.items() if k.startswith(source)}, target)
    return tensors


_STATISTICS = "per_channel_statistics."


def _statistics(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        k.removeprefix(_STATISTICS): v for k, v in module.state_dict().items() if k.startswith(_STATISTICS)
    }


def _without_statistics(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in module.state_dict().items() if not k.startswith(_STATISTICS)}


def _is_attention(key: str) -> bool:
    return any(f".{name}." in key for name in ("to_q", "to_k", "to_v", "to_out.0"))


def _is_video_self_attention(key: str) -> bool:
    return ".attn1." in key and _is_attention(key)


def _lora(shapes: Mapping[str, torch.Size], seed: int, targets: Any) -> dict[str, torch.Tensor]:
    """A ComfyUI-format LoRA (diffusion_model.<layer>.lora_A/B.weight) on the chosen linear layers."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for key, shape in shapes.items():
        if key.endswith(".weight") and len(shape) == 2 and targets(key):
            layer = "diffusion_model." + key.removesuffix(".weight")
            down = torch.randn(_LORA_RANK, shape[1], generator=generator) * 0.01
            up = torch.randn(shape[0], _LORA_RANK, generator=generator) * 0.01
            tensors[f"{layer}.lora_A.weight"] = down.to(torch.bfloat16)
            tensors[f"{layer}.lora_B.weight"] = up.to(torch.bfloat16)
    return tensors


def _write_gemma(root: Path, seed: int) -> None:
    """A Gemma-3 directory as Google ships it: config.json, tokenizer files, model safetensors in the
    original key layout (language_model.model.*, vision_tower.*, multi_modal_projector.*)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    root.mkdir(parents=True, exist_ok=True)
    words = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    words += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    words += _WORDS
    words += [f"w{i}" for i in range(len(words), GEMMA_CONFIG["boi_token_index"])]
    words += ["<start_of_image>", "<end_of_image>", "<image_soft_token>", "<mask>"]
    tokenizer = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(root / "tokenizer.json"))
    (root / "tokenizer.model").write_bytes(b"ltx-core only checks this file exists to find the tokenizer\n")
    special = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
    template = (
        "{% for m in messages %}<start_of_turn>{{ m['role'] }} "
        "{% if m['content'] is string %}{{ m['content'] }}"
        "{% else %}{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<end_of_turn>{% endfor %}"
        "{% if add_generation_prompt %}<start_of_turn>model{% endif %}"
    )
    image_tokens = {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    _write_json(root / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", **special, "padding_side": "left",
        "model_max_length": 1024, "extra_special_tokens": image_tokens, "chat_template": template,
    })  # fmt: skip
    _write_json(root / "special_tokens_map.json", special)
    image_size = GEMMA_CONFIG["vision_config"]["image_size"]
    _write_json(root / "preprocessor_config.json", {
        "image_processor_type": "Gemma3ImageProcessor", "processor_class": "Gemma3Processor",
        "do_resize": True, "size": {"height": image_size, "width": image_size}, "resample": 2,
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": None,
    })  # fmt: skip
    _write_json(root / "config.json", GEMMA_CONFIG)
    with _seeded(seed):  # from_dict adds keys to the dict it is given: give it a copy
        model = Gemma3ForConditionalGeneration(Gemma3Config.from_dict(copy.deepcopy(GEMMA_CONFIG)))
    tensors = {}
    for key, value in model.state_dict().items():
        for ours, google in (
            ("model.language_model.", "language_model.model."),
            ("model.vision_tower.", "vision_tower."),
            ("model.multi_modal_projector.", "multi_modal_projector."),
        ):
            if key.startswith(ours):
                tensors[google + key.removeprefix(ours)] = value
    # lm_head is tied to embed_tokens; ltx-core duplicates it at load time
    _save_file(_bf16(tensors), str(root / "model-00001-of-00001.safetensors"))


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """transformers initialises from the global RNG; seed it without disturbing the caller's."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
