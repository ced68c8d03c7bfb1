"""Backends as a registry: each backend's settings are validated by its own class, and a new
backend is one module (here: a class registered by the test)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import pytest

from glan.config import load_config
from glan.errors import ConfigError
from glan.llm import registry
from glan.llm.base import ChatRequest
from glan.llm.local import LocalOptions
from glan.llm.openai_compat import OpenAICompatBackend, OpenAIOptions
from glan.llm.registry import BackendOptions, build_backend, register
from tests.fakes import FakeBackend

ROOT = Path(__file__).parent.parent


def config_error(tmp_path: Path, text: str, *overrides: str) -> str:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(f, list(overrides))
    assert "\n" not in str(e.value)
    return str(e.value)


def test_the_registry_lists_both_backends() -> None:
    assert registry.names()[:2] == ["local", "openai"]
    assert registry.options_for("local") is LocalOptions
    assert registry.options_for("openai") is OpenAIOptions
    with pytest.raises(KeyError):
        registry.options_for("gpt")


def test_no_backend_means_local(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("llm: {model: m, n_ctx: 1024}\nanswers:\n  llm: {threads: 2}\n")
    cfg = load_config(f)
    assert isinstance(cfg.llm, LocalOptions) and (cfg.llm.model, cfg.llm.n_ctx) == ("m", 1024)
    assert isinstance(cfg.answers.llm, LocalOptions) and cfg.answers.llm.threads == 2
    assert isinstance(load_config(None).llm, LocalOptions)


def test_each_backend_keeps_only_its_settings(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "llm: {backend: openai, base_url: ['http://a/v1', 'http://b/v1'], rpm: 60, concurrency: 8}\n"
        "answers:\n  llm: {backend: local, n_ctx: 2048}\n"
    )
    cfg = load_config(f)
    assert isinstance(cfg.llm, OpenAIOptions) and cfg.llm.rpm == 60 and cfg.llm.concurrency == 8
    dumped = cfg.model_dump(mode="json")  # the manifest: each section with its backend's settings
    assert dumped["llm"]["base_url"] == ["http://a/v1", "http://b/v1"] and "n_ctx" not in dumped["llm"]
    assert dumped["answers"]["llm"]["n_ctx"] == 2048 and "base_url" not in dumped["answers"]["llm"]
    assert cfg.llm_for(cfg.answers).max_retries == cfg.llm_for(cfg.questions).max_retries == 5


def test_a_typo_in_a_local_setting_names_the_backend(tmp_path: Path) -> None:
    msg = config_error(tmp_path, "seed: 1\nllm:\n  n_ctxx: 5\n")
    expected = "llm.n_ctxx: unknown setting for backend 'local' (did you mean 'n_ctx'?)"
    assert msg == f"{tmp_path / 'c.yaml'}:3: {expected}"


def test_a_setting_of_another_backend_is_an_error_naming_both(tmp_path: Path) -> None:
    msg = config_error(tmp_path, "seed: 1\nllm: {backend: local, base_url: x}\n")
    assert "c.yaml:2: llm.base_url: unknown setting for backend 'local'" in msg
    assert "a setting of backend 'openai'" in msg and "n_ctx, threads" in msg
    msg = config_error(
        tmp_path, "answers:\n  llm:\n    backend: openai\n    base_url: http://h/v1\n    threads: 2\n"
    )
    assert "c.yaml:5: answers.llm.threads: unknown setting for backend 'openai'" in msg
    assert "a setting of backend 'local'" in msg


def test_set_overrides_are_checked_against_the_final_backend(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("seed: 1\n")
    # a backend's setting before the `backend=` that allows it: fine, the section is checked whole
    cfg = load_config(f, ["llm.base_url=http://h/v1", "llm.backend=openai"])
    assert isinstance(cfg.llm, OpenAIOptions) and cfg.llm.base_url == "http://h/v1"
    msg = config_error(tmp_path, "seed: 1\n", "answers.llm.rpm=5")
    assert msg.startswith("--set 'answers.llm.rpm=5': answers.llm.rpm: unknown setting for backend 'local'")
    msg = config_error(tmp_path, "seed: 1\n", "llm.modle=m")
    assert (
        msg == "--set 'llm.modle=m': llm.modle: unknown setting for backend 'local' (did you mean 'model'?)"
    )


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            "llm:\n  backend: gpt\n",
            "c.yaml:2: llm.backend: unknown backend, expected 'local' or 'openai' (got 'gpt')",
        ),
        ("llm: {backend: openai}\n", "c.yaml:1: llm: backend 'openai' needs base_url"),
        ("llm: {backend: openai, base_url: []}\n", "c.yaml:1: llm: backend 'openai' needs base_url"),
        ("llm: 5\n", "c.yaml:1: llm: should be a section of settings"),
        (
            "llm: {backend: local, n_ctx: 5}\n",
            "c.yaml:1: llm.n_ctx: Input should be greater than or equal to 512",
        ),
    ],
)
def test_bad_llm_sections(tmp_path: Path, text: str, needle: str) -> None:
    assert needle in config_error(tmp_path, text)


def test_the_example_configs_load_unchanged() -> None:
    demo = load_config(ROOT / "examples" / "demo.yaml")
    assert isinstance(demo.llm, LocalOptions) and demo.llm.n_ctx == 4096
    endpoints = load_config(ROOT / "examples" / "endpoints.yaml")
    assert isinstance(endpoints.llm, OpenAIOptions) and endpoints.llm.api_key_env == "VLLM_API_KEY"
    answers = endpoints.llm_for(endpoints.answers)
    assert isinstance(answers, OpenAIOptions) and (answers.rpm, answers.tpm) == (5000, 4000000)
    assert endpoints.price_for(answers.model) is not None


def test_build_backend_builds_what_the_section_names() -> None:
    opts = OpenAIOptions(base_url="http://127.0.0.1:9/v1", model="m", concurrency=3, rpm=60)
    backend = build_backend(opts)
    assert isinstance(backend, OpenAICompatBackend)
    assert backend.url == "http://127.0.0.1:9/v1/chat/completions" and backend.model == "m"


class DummyOptions(BackendOptions):
    """What a new backend's module declares: its name, its own settings, how to build it."""

    backend: Literal["dummy"] = "dummy"
    fail_first: int = 0

    def build(self) -> FakeBackend:
        return FakeBackend(fail_first=self.fail_first)


def test_a_new_backend_is_one_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_registered", dict(registry._registered))  # undone after the test
    register(DummyOptions)
    assert "dummy" in registry.names()
    f = tmp_path / "c.yaml"
    f.write_text("llm: {backend: dummy, model: m, fail_first: 0}\n")
    cfg = load_config(f)
    assert isinstance(cfg.llm, DummyOptions)
    backend = build_backend(cfg.llm)
    assert isinstance(backend, FakeBackend)
    req = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    assert asyncio.run(backend.chat(req)).text
    msg = config_error(tmp_path, "llm: {backend: dummy, n_ctx: 5}\n")
    assert "llm.n_ctx: unknown setting for backend 'dummy' (a setting of backend 'local'" in msg
    assert "expected 'local' or 'openai' or 'dummy'" in config_error(tmp_path, "llm: {backend: x}\n")
