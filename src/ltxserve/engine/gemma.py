"""The Gemma-3 architecture ltx-core 1.0.0 builds, taken from the weights' own config.json.

ltx-core 1.0.0 hard-codes Gemma-3-12B in a module-level dataclass and ignores the config.json that
ships with the weights (1.2.0 reads it). The text encoder and the embeddings processor are built
while `gemma_architecture` holds the shipped values in place, so a Gemma that is not 12B (the tiny
demo one) builds too; outside the block the defaults are back.
"""

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

_lock = threading.RLock()


def read_gemma_config(root: Path) -> dict[str, Any]:
    """The architecture in `root`/config.json, or {} (ltx-core's 12B defaults) when it has none."""
    path = root / "config.json"
    if not path.is_file():
        return {}
    config: dict[str, Any] = json.loads(path.read_text())
    return config


@contextmanager
def gemma_architecture(config: Mapping[str, Any]) -> Iterator[None]:
    """Hold `config` (HF Gemma3Config layout) in ltx-core's Gemma settings for the duration."""
    from ltx_core.text_encoders.gemma import config as gemma_config

    settings = gemma_config.GEMMA3_CONFIG_FOR_LTX

    with _lock:
        targets = [
            (settings, {k: v for k, v in config.items() if k not in ("text_config", "vision_config")}),
            (settings.text_config, config.get("text_config", {})),
            (settings.vision_config, config.get("vision_config", {})),
        ]
        saved = []
        for target, values in targets:
            known = {f.name for f in fields(target)}
            for name, value in values.items():
                if name in known:
                    saved.append((target, name, getattr(target, name)))
                    setattr(target, name, value)
        try:
            yield
        finally:
            for target, name, value in reversed(saved):
                setattr(target, name, value)
