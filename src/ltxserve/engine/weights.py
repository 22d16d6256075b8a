"""Finding the official LTX-2.3 files in a directory and saying what each task can use.

Files are recognised by what they contain (safetensors metadata and keys) and named as Lightricks
ships them; the directory may be laid out any way (flat, or the Hugging Face repos side by side).
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltxserve.request import CameraMotion, Pipeline

DEV_NAME = "ltx-2.3-22b-dev.safetensors"
DISTILLED_NAME = "ltx-2.3-22b-distilled.safetensors"
DISTILLED_LORA_NAME = "ltx-2.3-22b-distilled-lora-384.safetensors"
UPSCALER_NAME = "ltx-2.3-spatial-upscaler-x2-1.0.safetensors"
GEMMA_DIR_NAME = "gemma-3-12b-it-qat-q4_0-unquantized"
CAMERA_LORA_NAMES = {
    motion: f"ltx-2.3-22b-lora-camera-control-{motion.value.replace('_', '-')}.safetensors"
    for motion in CameraMotion
}
USER_LORA_DIR = "loras"
DEMO_METADATA_KEY = "ltxserve_demo"

EXPECTED = f"""\
  {DEV_NAME}                    dev model: one-stage and two-stage, every task
  {DISTILLED_NAME} (or -1.1)    distilled model: the distilled pipeline
  {DISTILLED_LORA_NAME} (or -1.1)  two-stage refinement
  {UPSCALER_NAME} (or -1.1)  two-stage and distilled
  {GEMMA_DIR_NAME}/   Gemma-3 text encoder (tokenizer.model, model*.safetensors), every task
  *camera-control-<motion>*.safetensors             camera motion LoRAs (optional)
  {USER_LORA_DIR}/*.safetensors                                  your LoRAs, by name (optional)"""

_MAX_DEPTH = 3


class WeightsError(Exception):
    """The weights directory cannot serve what was asked; the message lists what is missing and where."""


@dataclass(frozen=True)
class WeightSet:
    root: Path
    dev: Path | None = None
    distilled: Path | None = None
    distilled_lora: Path | None = None
    upscaler: Path | None = None
    gemma: Path | None = None
    camera_loras: dict[CameraMotion, Path] = field(default_factory=dict)
    user_loras: dict[str, Path] = field(default_factory=dict)
    demo: bool = False
    """The tiny random set: everything it makes is noise and is labelled so."""
    skipped: tuple[str, ...] = ()
    """Files seen but not used, with the reason."""

    def checkpoint(self, pipeline: Pipeline) -> Path:
        """The checkpoint a pipeline runs, or a WeightsError naming every missing file."""
        needs: dict[str, Path | None] = {"Gemma text encoder": self.gemma}
        if pipeline is Pipeline.DISTILLED:
            needs |= {"distilled checkpoint": self.distilled, "spatial upscaler x2": self.upscaler}
        else:
            needs["dev checkpoint"] = self.dev
        if pipeline is Pipeline.TWO_STAGE:
            needs |= {"distilled LoRA": self.distilled_lora, "spatial upscaler x2": self.upscaler}
        missing = [name for name, path in needs.items() if path is None]
        if missing:
            raise WeightsError(
                f"the {pipeline.value} pipeline needs the {', '.join(missing)}, not found in {self.root}; "
                f"expected:\n{EXPECTED}"
            )
        checkpoint = self.distilled if pipeline is Pipeline.DISTILLED else self.dev
        assert checkpoint is not None
        return checkpoint

    @property
    def pipelines(self) -> list[Pipeline]:
        available = []
        for pipeline in Pipeline:
            try:
                self.checkpoint(pipeline)
            except WeightsError:
                continue
            available.append(pipeline)
        return available

    def lora(self, name: str) -> Path:
        """A user LoRA by name (under loras/) or by path."""
        if name in self.user_loras:
            return self.user_loras[name]
        path = Path(name).expanduser()
        if path.suffix == ".safetensors" and path.is_file():
            return path
        known = ", ".join(sorted(self.user_loras)) or "none"
        where = self.root / USER_LORA_DIR
        raise WeightsError(f"no LoRA named {name!r}: give a .safetensors path or one of {known} (in {where})")

    def camera_lora(self, motion: CameraMotion) -> Path:
        if motion not in self.camera_loras:
            have = ", ".join(m.value for m in self.camera_loras) or "none"
            raise WeightsError(
                f"no camera LoRA for {motion.value} in {self.root} (expected a file named like "
                f"{CAMERA_LORA_NAMES[motion]}); available: {have}"
            )
        return self.camera_loras[motion]


def discover(root: Path) -> WeightSet:
    """Classify every file under `root`. Raises WeightsError when the directory holds no LTX-2.3
    checkpoint at all; a partial set is returned and reports what it can serve."""
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise WeightsError(f"{root} is not a directory; expected one holding:\n{EXPECTED}")
    found: dict[str, list[Path]] = {"dev": [], "distilled": [], "distilled_lora": [], "upscaler": []}
    camera: dict[CameraMotion, Path] = {}
    user: dict[str, Path] = {}
    skipped: list[str] = []
    gemma = _find_gemma(root)
    demo = False
    for path in sorted(_safetensors(root)):
        if gemma is not None and gemma in path.parents:
            continue
        name = path.name.lower()
        try:
            metadata, keys = _header(path)
        except (OSError, ValueError) as error:
            skipped.append(f"{path.name}: unreadable safetensors header ({error})")
            continue
        config = _json(metadata.get("config"))
        if "transformer" in config:
            if "fp8" in name:
                skipped.append(
                    f"{path.name}: pre-quantized FP8 checkpoint (load the bf16 file with --fp8 instead)"
                )
                continue
            found["distilled" if "distilled" in name else "dev"].append(path)
            demo |= DEMO_METADATA_KEY in metadata
        elif "spatial_upsample" in config:
            if config.get("spatial_upsample") and config.get("spatial_scale") == 2.0:
                found["upscaler"].append(path)
            else:
                skipped.append(f"{path.name}: not a ×2 spatial upscaler")
        elif any(".lora_A." in key for key in keys):
            motion = _camera_motion(name)
            if "distilled-lora" in name or "distilled_lora" in name:
                found["distilled_lora"].append(path)
            elif motion is not None:
                camera[motion] = path
            else:
                user[path.stem] = path
        else:
            skipped.append(f"{path.name}: not an LTX-2.3 file")
    if not any(found[role] for role in ("dev", "distilled")):
        raise WeightsError(f"no LTX-2.3 checkpoint in {root}; expected:\n{EXPECTED}")
    return WeightSet(
        root=root,
        dev=_newest(found["dev"]),
        distilled=_newest(found["distilled"]),
        distilled_lora=_newest(found["distilled_lora"]),
        upscaler=_newest(found["upscaler"]),
        gemma=gemma,
        camera_loras=camera,
        user_loras=user,
        demo=demo,
        skipped=tuple(skipped),
    )


def _safetensors(root: Path) -> list[Path]:
    return [
        path
        for depth in range(_MAX_DEPTH + 1)
        for path in root.glob("/".join(["*"] * depth + ["*.safetensors"]))
        if not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]


def _find_gemma(root: Path) -> Path | None:
    candidates = [
        path.parent
        for depth in range(_MAX_DEPTH)
        for path in root.glob("/".join(["*"] * depth + ["tokenizer.model"]))
        if any(path.parent.glob("model*.safetensors"))
    ]
    return sorted(candidates)[0] if candidates else None


def _header(path: Path) -> tuple[dict[str, str], list[str]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata() or {}, list(handle.keys())


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


_CAMERA = re.compile(r"camera[-_]control[-_]([a-z]+[-_][a-z]+|static)")


def _camera_motion(name: str) -> CameraMotion | None:
    match = _CAMERA.search(name)
    if match is None:
        return None
    try:
        return CameraMotion(match.group(1).replace("-", "_"))
    except ValueError:
        return None


def _newest(paths: list[Path]) -> Path | None:
    """Lightricks versions files by suffix (…-1.1); the highest version wins."""
    return max(paths, key=lambda p: (_version(p.stem), p.name)) if paths else None


def _version(stem: str) -> tuple[int, ...]:
    match = re.search(r"-(\d+(?:\.\d+)+)$", stem)
    return tuple(int(part) for part in match.group(1).split(".")) if match else (0,)


def report(weights: WeightSet) -> str:
    """What was found, and what each task and pipeline can use: the text of `ltxserve weights check`."""
    lines = [
        f"weights in {weights.root}"
        + (" (the tiny random demo set: outputs are noise)" if weights.demo else "")
    ]
    for label, path in (
        ("dev checkpoint", weights.dev),
        ("distilled checkpoint", weights.distilled),
        ("distilled LoRA", weights.distilled_lora),
        ("spatial upscaler x2", weights.upscaler),
        ("Gemma text encoder", weights.gemma),
    ):
        lines.append(f"  {label:<22} {path.relative_to(weights.root) if path else 'missing'}")
    motions = ", ".join(m.value for m in weights.camera_loras) or "none"
    lines.append(f"  {'camera LoRAs':<22} {motions}")
    lines.append(f"  {'user LoRAs':<22} {', '.join(sorted(weights.user_loras)) or 'none'}")
    lines.append("pipelines:")
    for pipeline in Pipeline:
        try:
            weights.checkpoint(pipeline)
            status = "ready for text/image/audio-to-video, extend and retake"
        except WeightsError as error:
            status = "unavailable: " + str(error).split(";")[0]
        lines.append(f"  {pipeline.value:<10} {status}")
    lines += [f"  skipped {note}" for note in weights.skipped]
    return "\n".join(lines)
