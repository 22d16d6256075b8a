"""Finding the official files in a directory, and the tiny set written in their exact format."""

import hashlib
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ltxserve.engine.tiny import write_tiny_weights
from ltxserve.engine.weights import (
    DEV_NAME,
    DISTILLED_LORA_NAME,
    DISTILLED_NAME,
    GEMMA_DIR_NAME,
    UPSCALER_NAME,
    WeightsError,
    WeightSet,
    discover,
    report,
)
from ltxserve.request import CameraMotion, Pipeline
from tests.test_media_probe import CLI


def link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=source.is_dir())


def test_the_tiny_set_is_found_whole(tiny_weights: WeightSet) -> None:
    root = tiny_weights.root
    assert (tiny_weights.dev, tiny_weights.distilled) == (root / DEV_NAME, root / DISTILLED_NAME)
    assert tiny_weights.distilled_lora == root / DISTILLED_LORA_NAME
    assert tiny_weights.upscaler == root / UPSCALER_NAME
    assert tiny_weights.gemma == root / GEMMA_DIR_NAME
    assert set(tiny_weights.camera_loras) == set(CameraMotion)
    assert tiny_weights.demo and tiny_weights.pipelines == list(Pipeline)


def test_hugging_face_layout_and_newest_versions(tiny_weights: WeightSet, tmp_path: Path) -> None:
    """The repos side by side as `huggingface-cli download` leaves them; -1.1 files beat -1.0."""
    root = tiny_weights.root
    link(root / DEV_NAME, tmp_path / "LTX-2.3" / "ltx-2.3-22b-dev.safetensors")
    link(root / DISTILLED_NAME, tmp_path / "LTX-2.3" / "ltx-2.3-22b-distilled.safetensors")
    link(root / DISTILLED_NAME, tmp_path / "LTX-2.3" / "ltx-2.3-22b-distilled-1.1.safetensors")
    link(root / DISTILLED_LORA_NAME, tmp_path / "LTX-2.3" / "ltx-2.3-22b-distilled-lora-384-1.1.safetensors")
    link(root / UPSCALER_NAME, tmp_path / "LTX-2.3" / "ltx-2.3-spatial-upscaler-x2-1.1.safetensors")
    link(root / GEMMA_DIR_NAME, tmp_path / "gemma-3-12b-it-qat-q4_0-unquantized")
    link(
        tiny_weights.camera_loras[CameraMotion.JIB_UP],
        tmp_path / "cam" / "LTX-2-19b-LoRA-Camera-Control-Jib-Up.safetensors",
    )
    found = discover(tmp_path)
    assert found.distilled is not None and found.distilled.name == "ltx-2.3-22b-distilled-1.1.safetensors"
    assert found.distilled_lora is not None and found.distilled_lora.name.endswith("-1.1.safetensors")
    assert found.upscaler is not None and "x2-1.1" in found.upscaler.name
    assert list(found.camera_loras) == [CameraMotion.JIB_UP]
    assert found.pipelines == list(Pipeline)


def test_prequantized_fp8_and_unrelated_files_are_skipped_with_a_reason(
    tiny_weights: WeightSet, tmp_path: Path
) -> None:
    link(tiny_weights.root / DEV_NAME, tmp_path / DEV_NAME)
    link(tiny_weights.root / DEV_NAME, tmp_path / "ltx-2.3-22b-dev-fp8.safetensors")
    save_file({"weight": torch.zeros(2)}, str(tmp_path / "something-else.safetensors"))
    found = discover(tmp_path)
    assert found.dev == tmp_path / DEV_NAME
    notes = "\n".join(found.skipped)
    assert "ltx-2.3-22b-dev-fp8.safetensors: pre-quantized FP8" in notes and "something-else" in notes


def test_a_partial_set_says_what_each_pipeline_misses(tiny_weights: WeightSet, tmp_path: Path) -> None:
    link(tiny_weights.root / DEV_NAME, tmp_path / DEV_NAME)
    found = discover(tmp_path)
    assert found.pipelines == []
    with pytest.raises(
        WeightsError, match="needs the Gemma text encoder, distilled LoRA, spatial upscaler x2"
    ):
        found.checkpoint(Pipeline.TWO_STAGE)
    link(tiny_weights.root / GEMMA_DIR_NAME, tmp_path / GEMMA_DIR_NAME)
    assert discover(tmp_path).pipelines == [Pipeline.ONE_STAGE]
    text = report(discover(tmp_path))
    assert (
        "one_stage  ready" in text
        and "distilled  unavailable: the distilled pipeline needs the distilled checkpoint" in text
    )


def test_no_checkpoint_lists_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(WeightsError) as raised:
        discover(tmp_path)
    message = str(raised.value)
    for name in (DEV_NAME, DISTILLED_NAME, DISTILLED_LORA_NAME, UPSCALER_NAME, GEMMA_DIR_NAME, "loras/"):
        assert name in message
    with pytest.raises(WeightsError, match="is not a directory"):
        discover(tmp_path / "missing")


def digest(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_tiny_set_is_deterministic_per_seed(tiny_weights: WeightSet, tmp_path: Path) -> None:
    again = digest(write_tiny_weights(tmp_path / "again", seed=0))
    assert again == digest(tiny_weights.root)
    other = digest(write_tiny_weights(tmp_path / "other", seed=1))
    assert other[DEV_NAME] != again[DEV_NAME] and other.keys() == again.keys()


def test_tiny_checkpoint_has_the_official_layout(tiny_weights: WeightSet) -> None:
    from safetensors import safe_open

    with safe_open(str(tiny_weights.dev), framework="pt") as handle:
        metadata, keys = handle.metadata(), list(handle.keys())
    assert metadata["model_version"] == "2.3.0" and "transformer" in metadata["config"]
    prefixes = {key.split(".")[0] for key in keys}
    assert prefixes == {"model", "vae", "audio_vae", "vocoder", "text_embedding_projection"}
    assert any(key.startswith("model.diffusion_model.video_embeddings_connector.") for key in keys)


def test_cli_weights_check_and_tiny(tiny_weights: WeightSet, tmp_path: Path) -> None:
    checked = subprocess.run(
        [str(CLI), "weights", "check", str(tiny_weights.root)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert "tiny random demo set" in checked.stdout and "two_stage  ready" in checked.stdout
    empty = subprocess.run([str(CLI), "weights", "check", str(tmp_path)], capture_output=True, text=True)
    assert empty.returncode == 1 and empty.stderr.startswith("ltxserve: error: no LTX-2.3 checkpoint")
    assert DEV_NAME in empty.stderr  # and then what it expected, one file a line
    written = subprocess.run(
        [str(CLI), "weights", "tiny", str(tmp_path / "t"), "--seed", "3"], capture_output=True, text=True
    )
    assert written.returncode == 0 and discover(tmp_path / "t").demo
