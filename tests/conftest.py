"""Session-wide fixtures: one tiny weight set and one engine, as a long-running worker would have."""

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ltxserve.engine.engine import Engine
    from ltxserve.engine.weights import WeightSet


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> "WeightSet":
    import torch

    from ltxserve.engine.tiny import write_tiny_weights
    from ltxserve.engine.weights import discover

    torch.set_num_threads(2)
    return discover(write_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny"))


@pytest.fixture(scope="session")
def engine(tiny_weights: "WeightSet") -> "Engine":
    from ltxserve.engine.engine import Engine

    return Engine(tiny_weights)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory, tiny_weights: "WeightSet") -> Path:
    """An ltxserve data directory whose demo weights are already in place (CLI tests)."""
    directory = tmp_path_factory.mktemp("data")
    (directory / "weights").mkdir()
    (directory / "weights" / "tiny").symlink_to(tiny_weights.root, target_is_directory=True)
    return directory
