"""What a command costs before it does anything: commands that do not generate never import torch,
and the engine never imports ltx-pipelines (the reference implementation, ~5 s of imports)."""

import subprocess
import sys

import pytest


def modules_after(statement: str) -> set[str]:
    script = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize(
    "statement",
    [
        "import ltxserve.cli",
        "import ltxserve.api.app",
        "import ltxserve.jobs.worker",
        "import ltxserve.engine.check, ltxserve.engine.options",
    ],
)
def test_the_command_line_and_the_api_do_not_import_torch(statement: str) -> None:
    loaded = modules_after(statement)
    assert "torch" not in loaded and "transformers" not in loaded


def test_the_engine_does_not_import_ltx_pipelines() -> None:
    loaded = modules_after("import ltxserve.engine.engine, ltxserve.render")
    assert "ltx_core" in loaded and not any(name.startswith("ltx_pipelines") for name in loaded)


def test_the_default_negative_prompt_is_the_official_one() -> None:
    from ltx_pipelines.utils import constants

    from ltxserve.engine import knobs

    assert knobs.DEFAULT_NEGATIVE_PROMPT == constants.DEFAULT_NEGATIVE_PROMPT
