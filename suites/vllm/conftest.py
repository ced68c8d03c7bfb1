"""The vLLM suite's fixtures: the 0.5B pack as a Hugging Face folder, and one vLLM server per
session. Run it with `bash suites/vllm/run.sh` (which makes the venv); in CI a skip is a failure."""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from convert import convert, hf_dir
from vllm_proc import VLLMServer

from tests.conftest import pytest_runtest_makereport  # noqa: F401  (CI: a skip is a failure)

SERVED_NAME = "qwen2.5-coder-0.5b"
KEY_ENV = "GLAN_VLLM_TEST_KEY"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed in this Python; run: bash suites/vllm/run.sh")
    return convert(hf_dir())


@pytest.fixture(scope="session")
def api_key() -> Iterator[str]:
    key = "sk-glan-vllm-" + secrets.token_hex(8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, key)
        yield key


@pytest.fixture(scope="session")
def server(model_dir: Path, api_key: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """The session's vLLM server, started on first use; a test may stop it (one engine at a
    time on this machine) and the next one to need it starts it again."""
    srv = VLLMServer(model_dir, SERVED_NAME, api_key, tmp_path_factory.mktemp("vllm") / "server.log")
    try:
        yield srv
    finally:
        srv.stop()
