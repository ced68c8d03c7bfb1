"""glan review's LLM suggestion through the real in-process llama.cpp (the 0.5B model pack)."""

from pathlib import Path

import pytest

from glan.config import load_config
from glan.review.app import ReviewApp

pytestmark = pytest.mark.slow


def test_the_real_model_suggests_disciplines_for_a_sub_field(tmp_path: Path) -> None:
    (tmp_path / "taxonomy.yaml").write_text("Science:\n  Physical sciences:\n    - Physics\n")
    cfg = load_config(None, [f"run_dir={tmp_path / 'run'}", f"taxonomy={tmp_path / 'taxonomy.yaml'}",
                             "llm.model=qwen2.5-coder-0.5b", "llm.n_ctx=2048",
                             "taxonomy_gen.max_disciplines=5"])  # fmt: skip
    app = ReviewApp(cfg, [])
    try:
        sub = next(n for n in app.state()["nodes"] if n["name"] == "Physical sciences")
        got = app.suggest({"reviewer": "ana", "node": sub["id"]})
        assert got["kind"] == "discipline" and 1 <= len(got["names"]) <= 5, got
        assert all(isinstance(n, str) and n.strip() and n.casefold() != "physics" for n in got["names"])
        state = app.act({"reviewer": "ana", "op": "add", "parent": sub["id"], "name": got["names"][0],
                         "origin": "llm"})  # fmt: skip
        assert state["pending"]["disciplines"] == [got["names"][0]]
        assert app.suggest({"reviewer": "ana", "node": sub["id"]})["names"] == got["names"][1:]  # cached
    finally:
        app.close()
