"""benchmarks/gpu.py: LTX-2.3 at its real size, and the same code at its CPU size through the engine."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import torch
from benchmarks import gpu
from ltx_core.model.transformer import LTXModelConfigurator

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmarks_transformer_is_the_22b_models_size() -> None:
    """Built on the meta device (no memory): 18.99B parameters, as the release's configurators give."""
    with torch.device("meta"):
        model = LTXModelConfigurator.from_config(copy.deepcopy(gpu.FULL_SIZE))
    parameters = sum(parameter.numel() for parameter in model.parameters())
    assert abs(parameters - 18.99e9) < 0.01e9
    assert len(model.transformer_blocks) == 48
    gpu.store_as_float8(model)  # `--fp8`: what the engine's fp8 build stores, the blocks' linears
    dtypes = {name: parameter.dtype for name, parameter in model.named_parameters()}
    assert dtypes["transformer_blocks.47.attn1.to_q.weight"] == torch.float8_e4m3fn
    assert dtypes["transformer_blocks.0.ff.net.2.weight"] == torch.float8_e4m3fn
    assert dtypes["patchify_proj.weight"] == torch.float32


def test_one_full_width_block_runs_every_case_on_cpu(tmp_path: Path) -> None:
    """`--blocks 1 --size small`: the three cases through the engine's stages, their passes counted."""
    measured = tmp_path / "gpu.json"
    command = [sys.executable, "benchmarks/gpu.py", "--blocks", "1", "--size", "small", "--device", "cpu"]
    ran = subprocess.run([*command, "--json", str(measured)], cwd=ROOT, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(measured.read_text())
    cases = {case["case"]: case for case in result["cases"]}
    assert result["blocks"] == 1 and result["device"] == "CPU" and set(cases) == {"a", "b", "c"}
    a, b, c = cases["a"], cases["b"], cases["c"]
    assert (a["width"], a["height"], a["frames"]) == (64, 64, 9)
    assert (a["steps"], b["steps"], c["steps"]) == (
        {"denoising": 2},
        {"denoising": 8, "refining": 3},
        {"denoising": 2, "refining": 3},
    )
    for case in (b, c):
        assert {"upsampling", "refining", "decoding video", "decoding audio"} <= set(case["stages"])
    # one pass a step unguided; the guided default adds the CFG, STG and modality passes
    assert (a["transformer_calls"], b["transformer_calls"], c["transformer_calls"]) == (2, 11, 2 * 4 + 3)
    # 64×64×9 is 2 latent frames of 2×2 tokens; the two-stage cases start at half that width and height
    assert [video for video, _ in a["tokens"]] == [8] and [video for video, _ in b["tokens"]] == [2, 8]
    config = copy.deepcopy(gpu.FULL_SIZE)
    config["transformer"]["num_layers"] = 1
    with torch.device("meta"):
        parameters = sum(p.numel() for p in LTXModelConfigurator.from_config(config).parameters())
    context = gpu.SMALL_CONTEXT_TOKENS
    for case in (a, b, c):
        longest = max(video + audio for video, audio in case["tokens"]) + context
        # at least the text cross-attention's keys and values over the prompt; at most every weight
        # multiplied with as many rows as the longest sequence has
        least = 2 * context * 2 * (4096 * 4096 + 2048 * 2048) * case["transformer_calls"]
        assert least < case["transformer_flops"] < 2 * parameters * longest * case["transformer_calls"]
        assert case["attention"] == ["_scaled_dot_product_flash_attention_for_cpu"]
        assert case["seconds"] >= sum(case["stages"].values()) * 0.99
        assert case["sglang_seconds"] is None
    assert "case c: guided two-stage default, 64x64x9, two_stage" in ran.stdout
