"""A small real `messages` export (glan's own export, no LLM) through TRL's SFTTrainer on
SmolLM2-135M, on CPU: the loss goes down, the saved model reloads and generates, only the
assistant turns are in the loss, and a malformed file is one error line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from glan.errors import ConfigError
from glan.post.config import PostConfig
from glan.post.pipeline import export
from glan.train.data import prompt_completion, read_conversations
from glan.train.smoke import REPORT_FILE, Settings, build_trainer, select_rows, train_check

# Hand-written pairs, GLAN-shaped (discipline/subject lineage) and answered in one house style
# ("Answer: ... Why: ..."), which the model does not produce untrained and learns within a few
# dozen steps.
FACTS = [
    ("Chemistry", "What is the chemical symbol for gold?", "Answer: Au. Why: from the Latin aurum."),
    ("Chemistry", "What is the chemical symbol for iron?", "Answer: Fe. Why: from the Latin ferrum."),
    ("Chemistry", "What is the chemical symbol for sodium?", "Answer: Na. Why: from the Latin natrium."),
    ("Chemistry", "What is the chemical symbol for silver?", "Answer: Ag. Why: from the Latin argentum."),
    ("Geography", "What is the capital of France?", "Answer: Paris. Why: the seat of its government."),
    ("Geography", "What is the capital of Japan?", "Answer: Tokyo. Why: the seat of its government."),
    ("Geography", "What is the capital of Italy?", "Answer: Rome. Why: the seat of its government."),
    ("Geography", "What is the capital of Egypt?", "Answer: Cairo. Why: the seat of its government."),
    ("Mathematics", "What is seven times eight?", "Answer: 56. Why: 7 x 8 = 56."),
    ("Mathematics", "What is nine times six?", "Answer: 54. Why: 9 x 6 = 54."),
    ("Mathematics", "What is twelve plus nine?", "Answer: 21. Why: 12 + 9 = 21."),
    ("Mathematics", "What is the square root of eighty-one?", "Answer: 9. Why: 9 x 9 = 81."),
]
SYSTEM = "You are a concise tutor."


def write_export(tmp: Path) -> Path:
    """glan export's `messages` train file of FACTS, with a system prompt."""
    pairs = tmp / "pairs.jsonl"
    rows = [
        {"id": f"p{i}", "discipline": d, "subject": d, "instruction": q, "response": a}
        for i, (d, q, a) in enumerate(FACTS)
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = PostConfig.model_validate({"export": {"system_prompt": SYSTEM, "hf_dataset": "no"}})
    export(pairs, tmp / "out", cfg)
    return tmp / "out" / "messages" / "train.jsonl"


def glan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "glan", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_export(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def checked(smollm2: Path, data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One seeded train check of 30 steps, saved to a folder (shared by the tests below)."""
    out = tmp_path_factory.mktemp("check") / "model"
    return train_check(data, "smollm2", steps=30, max_seconds=None, out=out, max_length=128, seed=0)


def test_the_training_loss_goes_down(checked: dict[str, Any]) -> None:
    assert checked["steps_done"] == 30 and not checked["stopped_by_time"]
    losses = checked["losses"]
    assert len(losses) == 30
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert (checked["loss_first"], checked["loss_last"]) == pytest.approx((first, last))
    assert last < 0.5 * first, losses  # 12 short answers in one style, seen five times each
    assert checked["examples"] == 12 and checked["truncated"] == 0 and checked["tokens_trained"] > 0


def test_the_saved_model_loads_and_generates(checked: dict[str, Any]) -> None:
    out = Path(checked["out"])
    saved = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", REPORT_FILE} <= saved
    # greedy and seeded: the fine-tuned model answers in the data's house style, which the
    # untrained one does not use (the reply comes from the folder saved and loaded anew)
    assert checked["sample_reply"].startswith("Answer: Au."), checked["sample_reply"]
    assert json.loads((out / REPORT_FILE).read_text())["sample_reply"] == checked["sample_reply"]
    # a fresh process loads the folder with plain transformers and generates
    code = (
        "import sys, torch, transformers as t\n"
        "tok = t.AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "m = t.AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)\n"
        "msgs = [{'role': 'user', 'content': 'What is the capital of Japan?'}]\n"
        "enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors='pt',\n"
        "                              return_dict=True)\n"
        "ids = m.generate(**enc, max_new_tokens=12, do_sample=False)[0, enc['input_ids'].shape[1]:]\n"
        "print(tok.decode(ids, skip_special_tokens=True))\n"
    )
    reply = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, check=True)
    assert reply.stdout.strip()


def test_only_assistant_tokens_are_in_the_loss(smollm2: Path, data: Path, tmp_path: Path) -> None:
    rows = prompt_completion(read_conversations(data)[0])
    # a two-turn conversation: both assistant turns are trained, each in its own row
    two = [
        {"role": "user", "content": "Name a noble gas."},
        {"role": "assistant", "content": "Neon is a noble gas."},
        {"role": "user", "content": "Another one?"},
        {"role": "assistant", "content": "Argon is another."},
    ]
    rows += prompt_completion([two])
    trainer = build_trainer(smollm2, rows, tmp_path, Settings(steps=1, max_length=256))
    tok = trainer.processing_class
    ds = trainer.train_dataset
    assert len(ds) == len(FACTS) + 2
    for row, ex in zip(rows, ds, strict=True):
        ids, labels = ex["input_ids"], ex["labels"]
        trained = [i for i, lab in zip(ids, labels, strict=True) if lab != -100]
        assert all(lab in (-100, i) for i, lab in zip(ids, labels, strict=True))
        # what the loss sees is exactly the last assistant turn and its end-of-turn token
        assert tok.decode(trained) == row["completion"][0]["content"] + "<|im_end|>\n"
        # and everything before it (system, user, earlier turns, the assistant header) is masked
        masked = tok.decode([i for i, lab in zip(ids, labels, strict=True) if lab == -100])
        assert masked.endswith("<|im_start|>assistant\n") and row["prompt"][-1]["content"] in masked
    assert "Neon is a noble gas." in tok.decode(ds[-1]["input_ids"])  # context, not trained


def test_train_check_cli_malformed_file_is_one_line(data: Path, tmp_path: Path) -> None:
    rows = data.read_text().splitlines()
    bad = json.loads(rows[2])
    bad["messages"] = [m for m in bad["messages"] if m["role"] != "assistant"]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([rows[0], rows[1], json.dumps(bad), *rows[3:]]) + "\n")
    proc = glan("train-check", str(path), "--steps", "2")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}:3:" in lines[0] and "assistant" in lines[0], proc.stderr


def test_train_check_cli_prints_a_summary(smollm2: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    args = [str(data), "--steps", "4", "--max-seconds", "60", "--out", str(out)]
    proc = glan("train-check", *args)
    assert proc.returncode == 0, proc.stderr
    assert "loss " in proc.stdout and "tokens/s" in proc.stdout and str(out) in proc.stdout
    assert (out / "config.json").is_file()


def test_rows_cut_or_left_out_by_max_length_are_counted(smollm2: Path, data: Path) -> None:
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(smollm2)
    rows = prompt_completion(read_conversations(data)[0])
    ids = [len(tok.apply_chat_template(r["prompt"], add_generation_prompt=True)["input_ids"]) for r in rows]
    # between the longest prompt and the shortest whole example: every example is cut, none dropped
    limit = max(ids) + 1
    kept, seen = select_rows(tok, rows, Settings(max_length=limit))
    assert (len(kept), seen["truncated"], seen["dropped_prompt_too_long"]) == (12, 12, 0)
    assert seen["example_tokens"] == 12 * limit
    # at the longest prompt's length: the prompts that fill it leave no answer token, so they go
    longest, shortest = max(ids), min(ids)
    assert shortest < longest
    kept, seen = select_rows(tok, rows, Settings(max_length=longest))
    assert seen["dropped_prompt_too_long"] == ids.count(longest) and len(kept) == 12 - ids.count(longest)
    with pytest.raises(ConfigError, match="no answer token is left"):
        select_rows(tok, rows, Settings(max_length=shortest))


def test_a_loss_that_is_not_finite_exits_1(smollm2: Path, data: Path, tmp_path: Path) -> None:
    """A model with a NaN weight (a broken conversion, an fp16 overflow) fails the check."""
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(smollm2, dtype=torch.float32)
    with torch.no_grad():
        model.model.norm.weight[0] = float("nan")
    model.save_pretrained(tmp_path / "broken")
    transformers.AutoTokenizer.from_pretrained(smollm2).save_pretrained(tmp_path / "broken")
    proc = glan("train-check", str(data), "--model", str(tmp_path / "broken"), "--steps", "2")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: {data}: the training loss is not finite at step 1 (nan)"], proc.stderr
