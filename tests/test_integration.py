"""The whole pipeline through the real in-process llama.cpp on the 0.5B model pack."""

from pathlib import Path

import pytest

from glan.config import load_config
from glan.records import InstructionPair
from tests.helpers import run, step_records

pytestmark = pytest.mark.slow


def test_real_model_end_to_end(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            f"run_dir={tmp_path}",
            "disciplines=[Astronomy]",
            "llm.model=qwen2.5-coder-0.5b",
            "llm.n_ctx=4096",
            "subjects.mode=json",
            "subjects.samples=1",
            "subjects.max_per_discipline=1",
            "subjects.max_tokens=600",
            "syllabi.min_sessions=3",
            "syllabi.max_sessions=5",
            "syllabi.max_tokens=900",
            "questions.per_syllabus=3",
            "questions.challenging_share=0.5",
            "questions.max_tokens=150",
            "answers.max_tokens=120",
        ],
    )
    report = run(cfg)
    pairs = step_records(tmp_path, "answers", InstructionPair)
    assert 1 <= len(pairs) <= 3, report
    for p in pairs:
        assert p.discipline == "Astronomy" and p.field and p.sub_field
        assert p.subject and p.level and p.concepts and p.sessions
        assert len(p.instruction) > 10 and p.response.strip()
        assert p.question_model == p.answer_model == "qwen2.5-coder-0.5b"
        assert p.answer_sampling == {"temperature": 0.7, "top_p": 0.95, "max_tokens": 120}
        assert p.finish_reason in ("stop", "length")
    assert report["answers"]["model_ms"] > 0
    # a rerun of the finished run makes no LLM call (and so never loads the model)
    again = run(cfg)
    assert all(step.get("calls", 0) == 0 for step in again.values()), again
