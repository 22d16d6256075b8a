"""LoRAs on a resident transformer: fused into its weights in place, undone exactly when they change.

ltx-core fuses LoRAs while building a model, which would mean rebuilding the 22B transformer from
disk for every change of camera LoRA, user LoRA or distilled-LoRA strength. Here the model is built
once; before a pass, the weights a new LoRA set touches are computed with ltx-core's own
`apply_loras` for bfloat16 and float8 weights (so the numbers are those of a fresh build), or as
weight + Σ strength · B·A in float32, and copied in. The untouched originals of
every changed weight are kept in CPU memory and copied back before the next set is applied.
"""

from pathlib import Path

import torch
from ltx_core.loader import (
    LTXV_LORA_COMFY_RENAMING_MAP,
    LoraStateDictWithStrength,
    SafetensorsStateDictLoader,
    StateDict,
    apply_loras,
)

from ltxserve.engine.knobs import LoraSpec, check_fits
from ltxserve.engine.weights import WeightsError

_A, _B = ".lora_A.weight", ".lora_B.weight"
_LTX_CORE_FUSES = (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2)
"""The weight dtypes ltx-core's `apply_loras` accepts; the engine's float32 (CPU) is fused here."""


class LoraFusion:
    """Keeps `model`'s weights equal to its base weights plus the currently applied LoRAs."""

    def __init__(self, model: torch.nn.Module) -> None:
        self._parameters = dict(model.named_parameters())
        self._originals: dict[str, torch.Tensor] = {}
        self._applied: tuple[LoraSpec, ...] = ()
        self._files: dict[Path, StateDict] = {}

    @property
    def applied(self) -> tuple[LoraSpec, ...]:
        return self._applied

    def apply(self, loras: tuple[LoraSpec, ...]) -> None:
        """Make the model base + these LoRAs. A failure leaves the plain base weights in place."""
        wanted = tuple(lora for lora in loras if lora.strength != 0)
        if wanted == self._applied:
            return
        # Weights built during a request are inference tensors: only inference mode may write them.
        with torch.inference_mode():
            try:
                self._restore()
                if wanted:
                    self._fuse(wanted)
            except BaseException:
                self._restore()
                raise
        self._applied = wanted

    def _restore(self) -> None:
        with torch.inference_mode():
            for key, original in self._originals.items():
                self._parameters[key].copy_(original)
        self._originals.clear()
        self._applied = ()

    def _fuse(self, loras: tuple[LoraSpec, ...]) -> None:
        files = [LoraStateDictWithStrength(self._load(lora.path), lora.strength) for lora in loras]
        keys = sorted(
            {
                key.removesuffix(_A) + ".weight"
                for file in files
                for key in file.state_dict.sd
                if key.endswith(_A)
            }
        )
        with torch.inference_mode():
            for key in keys:
                parameter = self._parameters[key]
                self._originals[key] = parameter.detach().to("cpu", copy=True)
                # One weight at a time keeps the extra memory to a single layer.
                if parameter.dtype in _LTX_CORE_FUSES:
                    base = StateDict(
                        {key: parameter.detach()}, parameter.device, parameter.nbytes, {parameter.dtype}
                    )
                    parameter.copy_(apply_loras(base, files).sd[key])
                else:
                    parameter.add_(_delta(key, files, parameter))

    def _load(self, path: Path) -> StateDict:
        if path not in self._files:
            check_fits(path, set(self._parameters))
            state = SafetensorsStateDictLoader().load(
                str(path), LTXV_LORA_COMFY_RENAMING_MAP, torch.device("cpu")
            )
            incomplete = [
                key for key in state.sd if key.endswith(_A) and key.removesuffix(_A) + _B not in state.sd
            ]
            if incomplete:
                raise WeightsError(f"{path.name} is incomplete: {incomplete[0]} has no lora_B")
            self._files[path] = state
        return self._files[path]


def _delta(key: str, files: list[LoraStateDictWithStrength], parameter: torch.Tensor) -> torch.Tensor:
    """Σ strength · B·A over the LoRAs that touch `key`, in the weight's own dtype and device."""
    prefix = key.removesuffix(".weight")
    delta = torch.zeros_like(parameter)
    for file in files:
        down, up = file.state_dict.sd.get(prefix + _A), file.state_dict.sd.get(prefix + _B)
        if down is not None and up is not None:
            like = {"device": parameter.device, "dtype": parameter.dtype}
            delta += torch.matmul(up.to(**like) * file.strength, down.to(**like))
    return delta
