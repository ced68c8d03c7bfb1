"""glan's held-out split as an lm-evaluation-harness task, run for real: lm-eval's HF model on
SmolLM2-135M (CPU, float32) answers a few held-out questions, scored by the folder's utils.py.

The data is hand-written pairs through glan's own clean and export (no LLM); the task folder is
rebuilt by `glan eval-task` into another place and run from another working directory, as on a
GPU machine the folder was copied to. Both ways a user runs lm-eval: `simple_evaluate` and the
`lm_eval` command."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import lm_eval
import pytest
from lm_eval.tasks import TaskManager

from glan.post.config import PostConfig, SplitConfig
from glan.post.pipeline import clean_and_export
from glan.post.split import held_out_ids

SYSTEM = "You are a careful tutor. Answer briefly."
HOSTILE = "In the template {{ 7*7 }} {% if x %}, what is 6 times 7?"
QA = [
    ("What is 12 plus 30?", "12 + 30 = 42.\n\nFinal answer: 42"),
    (
        "How many legs do three spiders have in total?",
        "Each spider has 8 legs, 3 x 8 = 24.\n\nFinal answer: 24",
    ),
    (
        "A train covers 120 km in 2 hours. What is its average speed in km/h?",
        "120 / 2 = 60.\n\nFinal answer: 60",
    ),
    ("What is 15 percent of 200?", "0.15 x 200 = 30.\n\nFinal answer: 30"),
    ("What is the square root of 81?", "9 x 9 = 81, so the root is 9.\n\nFinal answer: 9"),
    ("Convert 3 meters to centimeters.", "1 m = 100 cm, so 3 m = 300 cm.\n\nFinal answer: 300"),
    (
        "Name the largest planet of the solar system and explain why it is so big.",
        "Jupiter: it formed early and gathered gas.",
    ),
    ("What is 6 times 7?", "6 x 7 = 42.\n\nFinal answer: 42"),
    ("What is 100 divided by 4?", "100 / 4 = 25.\n\nFinal answer: 25"),
    ("If a pen costs 3 dollars, how much do 5 pens cost?", "5 x 3 = 15 dollars.\n\nFinal answer: 15"),
    ("What is 7 squared?", "7 x 7 = 49.\n\nFinal answer: 49"),
    ("Why do leaves change colour in autumn?", "Chlorophyll breaks down and other pigments show."),
]


def write_pairs(path: Path, split: SplitConfig) -> Path:
    """The pairs, the hostile question on one the split holds out."""
    recs = []
    for i, (q, a) in enumerate(QA):
        d = "Mathematics" if i % 2 == 0 else "Physics"
        recs.append(
            {"id": f"q{i:02d}", "instruction": q, "response": a, "discipline": d, "subject": f"S{i % 3}"}
        )
    held = sorted(held_out_ids(recs, split))
    hostile = next(r for r in recs if r["id"] == held[0])
    hostile.update(instruction=HOSTILE, response="6 x 7 = 42.\n\nFinal answer: 42")
    path.write_text("".join(json.dumps({**r, "difficulty": "basic", "method": "glan"}) + "\n" for r in recs))
    return path


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[dict[str, Any]]]:
    """(the task folder, copied away from its export; its name; its items)."""
    root = tmp_path_factory.mktemp("evaltask")
    cfg = PostConfig.model_validate(
        {
            "decontam": {"enabled": False},
            "split": {"mode": "discipline", "test_per_discipline": 3},
            "export": {"hf_dataset": "no", "system_prompt": SYSTEM, "formats": ["messages"]},
        }
    )
    clean_and_export(write_pairs(root / "pairs.jsonl", cfg.split), root / "run" / "clean", cfg)
    folder = root / "elsewhere" / "task"
    cmd = [sys.executable, "-m", "glan", "eval-task", str(root / "run"), "-o", str(folder)]
    subprocess.run([*cmd, "--name", "glan_test_smoke", "--max-gen-toks", "16"], check=True)
    items = [json.loads(line) for line in (folder / "glan_test.jsonl").read_text().splitlines()]
    assert len(items) == 6 and any(i["question"] == HOSTILE for i in items)
    # the hostile one first, so that every run with a limit asks it
    items.sort(key=lambda i: i["question"] != HOSTILE)
    (folder / "glan_test.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    return folder, "glan_test_smoke", items


def in_unit(x: Any) -> bool:
    return isinstance(x, float) and math.isfinite(x) and 0.0 <= x <= 1.0


def test_simple_evaluate(task, smollm2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder, name, items = task
    monkeypatch.chdir(tmp_path)  # not the folder: the data is found beside the YAML
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={smollm2},dtype=float32",
        tasks=[name],
        task_manager=TaskManager(include_path=str(folder)),
        limit=3,
        batch_size=3,
        device="cpu",
        apply_chat_template=True,
        bootstrap_iters=0,
        log_samples=True,
    )
    assert out is not None
    res = out["results"][name]
    assert in_unit(res["rouge_l,none"]) and in_unit(res["final_answer,none"]), res
    samples = out["samples"][name]
    assert len(samples) == 3
    spec = importlib.util.spec_from_file_location("smoke_utils", folder / "utils.py")
    assert spec is not None and spec.loader is not None
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    for s, item in zip(samples, items[:3], strict=True):
        assert s["target"] == item["reference"]  # scored against the reference answers
        prompt = s["arguments"][0][0]
        assert item["question"] in prompt and SYSTEM in prompt  # verbatim: nothing templated
        answer = s["filtered_resps"][0]
        assert isinstance(answer, str)
        assert s["rouge_l"] == pytest.approx(utils.rouge_l(answer, item["reference"]))
    assert "{{ 7*7 }}" in samples[0]["arguments"][0][0] and "49" not in samples[0]["arguments"][0][0]
    mean = sum(s["rouge_l"] for s in samples) / len(samples)
    assert res["rouge_l,none"] == pytest.approx(mean)


def test_lm_eval_command(task, smollm2: Path, tmp_path: Path):
    """The command the folder's README gives, from another directory."""
    folder, name, _ = task
    exe = Path(sys.executable).with_name("lm_eval")
    cmd = [str(exe), "--model", "hf", "--model_args", f"pretrained={smollm2},dtype=float32"]
    cmd += ["--tasks", name, "--include_path", str(folder), "--apply_chat_template", "--limit", "1"]
    cmd += ["--device", "cpu", "--output_path", str(tmp_path / "results")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = list((tmp_path / "results").rglob("results_*.json"))
    assert len(found) == 1, done.stdout[-2000:]
    res = json.loads(found[0].read_text())["results"][name]
    assert in_unit(res["rouge_l,none"]) and in_unit(res["final_answer,none"]), res
