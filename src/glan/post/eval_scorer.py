"""The scorer of the lm-evaluation-harness task that `glan eval-task` writes (GLAN-Test style).

The task folder's `utils.py` is this module's code after a copy of glan.verify.final_answer,
without the glan import (glan.post.eval_folder writes it): the folder runs wherever lm-eval
runs, without glan. Standard library only (and `datasets`, which lm-eval brings, imported
inside the loader).

Metrics (per item, averaged by lm-eval):
- `rouge_l`: ROUGE-L F1 between the model's answer and the reference answer, on lower-cased
  word tokens (the F-measure rouge-score reports), 0..1.
- `final_answer`: on items whose reference states a short final answer (a number, a choice, a
  `\\boxed{}` value), 1 when the model's answer states the same one (numbers within 1e-4
  relative), else 0. Items without one are left out of this metric, not counted as 0.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from glan.verify.final_answer import final_answer, same_answer

DATA_FILE = "glan_test.jsonl"
_WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """Word tokens as glan's dedup makes them: NFKC, lower case, runs of letters/digits/_."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def lcs_len(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyro 2004): fast on long answers."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, t in enumerate(a):
        masks[t] = masks.get(t, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for t in b:
        u = masks.get(t, 0) & v
        if u:
            v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 of two texts (beta = 1): 1.0 for the same words in the same order, 0.0 for
    texts that share no word (or an empty one)."""
    a, b = tokens(prediction), tokens(reference)
    if not a or not b:
        return 0.0
    return 2.0 * lcs_len(a, b) / (len(a) + len(b))


def final_answer_match(prediction: str, reference_answer: str) -> float:
    """1.0 when the prediction states the reference's short final answer, else 0.0. The
    prediction may also end on a short last paragraph holding one number (loose extraction)."""
    said = final_answer(prediction, loose=True)
    return 1.0 if said is not None and same_answer(said, reference_answer) else 0.0


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """lm-eval's per-item scores: `rouge_l` always, `final_answer` when the reference has one."""
    prediction = results[0] if results else ""
    scores = {"rouge_l": rouge_l(prediction, doc["reference"])}
    if doc.get("final_answer"):
        scores["final_answer"] = final_answer_match(prediction, doc["final_answer"])
    return scores


def doc_to_text(doc: dict[str, Any]) -> str:
    """The prompt: the question as the user asked it (with `--apply_chat_template` it is the
    user turn). Earlier turns of a conversation come first, as a transcript."""
    turns = doc.get("context") or []
    if not turns:
        return doc["question"]
    said = [f"{'User' if t['role'] == 'user' else 'Assistant'}: {t['content']}" for t in turns]
    return "\n\n".join([*said, f"User: {doc['question']}"])


def load_test_split(data_files: dict[str, str] | str | None = None, **_: Any) -> Any:
    """The items as a `datasets.DatasetDict` with a `test` split, the JSONL file found beside
    this file (lm-eval alone would resolve `data_files` against the working directory, so a
    copied folder would lose its data). Other keyword arguments (lm-eval passes the model's
    arguments and the task's metadata) are ignored."""
    import datasets

    name = data_files.get("test", DATA_FILE) if isinstance(data_files, dict) else data_files or DATA_FILE
    path = Path(name) if Path(name).is_absolute() else Path(__file__).resolve().parent / name
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
