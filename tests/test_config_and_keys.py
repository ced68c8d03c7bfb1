from pathlib import Path

import pytest

from glan.config import load_config
from glan.errors import ConfigError
from glan.llm.base import ChatRequest


def req(**kw) -> ChatRequest:
    base = dict(model="m", messages=[{"role": "user", "content": "hi"}], temperature=0.7, top_p=0.95, seed=1)
    return ChatRequest(**{**base, **kw})


def test_request_key_covers_everything_that_changes_the_answer() -> None:
    k = req().key()
    assert req().key() == k and len(k) == 64
    for change in (
        {"model": "m2"},
        {"messages": [{"role": "user", "content": "hi!"}]},
        {"temperature": 0.8},
        {"top_p": 0.9},
        {"seed": 2},
        {"max_tokens": 5},
        {"response_schema": {"type": "object"}},
    ):
        assert req(**change).key() != k, change


def test_openai_body_carries_json_schema() -> None:
    body = req(response_schema={"type": "object"}, schema_name="x").openai_body()
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "x"
    assert body["seed"] == 1


def test_defaults_follow_the_paper() -> None:
    cfg = load_config(None)
    assert (cfg.subjects.temperature, cfg.subjects.top_p, cfg.subjects.samples) == (1.0, 0.95, 10)
    assert (cfg.answers.temperature, cfg.answers.top_p) == (0.7, 0.95)
    assert (cfg.syllabi.min_sessions, cfg.syllabi.max_sessions) == (10, 30)
    assert cfg.llm.backend == "local"


def test_overrides_and_per_step_llm(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("answers:\n  llm: {backend: openai, base_url: 'http://127.0.0.1:1/v1', model: big}\n")
    cfg = load_config(f, ["questions.per_syllabus=7", "seed=3"])
    assert cfg.questions.per_syllabus == 7 and cfg.seed == 3
    assert cfg.llm_for(cfg.answers).model == "big" and cfg.llm_for(cfg.questions).model == cfg.llm.model


@pytest.mark.parametrize(
    "text, needle",
    [
        ("subjects:\n  samles: 3\n", "c.yaml:2: subjects.samles: unknown setting (did you mean 'samples'?)"),
        (
            "subjects:\n  samples: 0\n",
            "c.yaml:2: subjects.samples: Input should be greater than or equal to 1 (got 0)",
        ),
        ("syllabi: {min_sessions: 9, max_sessions: 3}\n", "min_sessions 9 > max_sessions 3"),
        ("llm: {backend: openai}\n", "needs base_url"),
        ("questions:\n  challenging_share: 2\n", "challenging_share"),
        ("a: [1, 2\n", "c.yaml:1: YAML syntax error"),
        ("- 1\n- 2\n", "must be a mapping"),
    ],
)
def test_bad_config_gives_one_line_naming_the_field(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config .*nope.yaml: No such file"):
        load_config(tmp_path / "nope.yaml")


def test_relative_taxonomy_path_is_taken_from_the_config_folder(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("taxonomy: my.yaml\n")
    assert load_config(f).taxonomy == str(tmp_path / "my.yaml")
