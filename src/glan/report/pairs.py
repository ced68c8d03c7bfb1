"""One streaming pass over a run's pairs: what the report needs from all of them, in memory
bounded by the taxonomy (counts per subject, sessions and concepts seen per syllabus), not by
the number of pairs (histograms, a seeded reservoir sample, a few samples per discipline)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

# word-count bins of the length histograms (the last is open-ended)
EDGES = [0, 5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560]
SAMPLES_PER_DISCIPLINE = 3
MAX_SAMPLES = 300  # sample pairs shown, over all disciplines
TEXT_CHARS = 2000  # of a sample pair's texts kept in the report


def histogram(counts: Counter[int]) -> dict[str, list[float]]:
    return {"edges": [*EDGES, EDGES[-1] * 2], "counts": [counts[i] for i in range(len(EDGES))]}


def _bin(words: int) -> int:
    for i in range(len(EDGES) - 1, -1, -1):
        if words >= EDGES[i]:
            return i
    return 0


class PairStats:
    """Folds pairs one at a time (`add`), then `figures()`."""

    def __init__(self, sample: int, seed: int) -> None:
        self.n = 0
        self.sample_size = sample
        self.rng = random.Random(seed)
        self.reservoir: list[tuple[str, str]] = []  # (instruction, field)
        self.instruction_words: Counter[int] = Counter()
        self.response_words: Counter[int] = Counter()
        self.finish: Counter[str] = Counter()
        self.difficulty: Counter[str] = Counter()
        self.per_subject: Counter[tuple[str, str, str, str]] = Counter()
        self.sessions: dict[tuple[str, str], set[int]] = {}
        self.concepts: dict[tuple[str, str], set[str]] = {}
        self.verdicts: Counter[tuple[str, bool]] = Counter()
        self.samples: list[dict[str, Any]] = []
        self.shown: Counter[str] = Counter()

    def add(self, rec: dict[str, Any]) -> None:
        self.n += 1
        instruction, response = str(rec.get("instruction", "")), str(rec.get("response", ""))
        self.instruction_words[_bin(len(instruction.split()))] += 1
        self.response_words[_bin(len(response.split()))] += 1
        self.finish[str(rec.get("finish_reason") or "(none)")] += 1
        field = str(rec.get("field") or "(none)")
        meta = rec.get("meta") or {}
        if rec.get("difficulty"):
            self.difficulty[str(rec["difficulty"])] += 1
        if meta.get("evolution"):
            self.difficulty["evolved"] += 1
        discipline = rec.get("discipline")
        if discipline:
            subject = str(rec.get("subject") or "(none)")
            self.per_subject[(field, str(rec.get("sub_field")), str(discipline), subject)] += 1
            key = (str(discipline), subject)
            self.sessions.setdefault(key, set()).update(rec.get("sessions") or ())
            self.concepts.setdefault(key, set()).update(rec.get("concepts") or ())
        verdict = meta.get("verify")
        if isinstance(verdict, dict):
            self.verdicts[(str(verdict.get("method")), bool(verdict.get("passed")))] += 1
        # Algorithm R: every pair has the same chance to be in the sample, whatever the run's size
        if len(self.reservoir) < self.sample_size:
            self.reservoir.append((instruction, field))
        else:
            j = self.rng.randrange(self.n)
            if j < self.sample_size:
                self.reservoir[j] = (instruction, field)
        group = str(discipline or rec.get("method") or "(all)")
        if self.shown[group] < SAMPLES_PER_DISCIPLINE and len(self.samples) < MAX_SAMPLES:
            self.shown[group] += 1
            self.samples.append({
                "discipline": group, "subject": rec.get("subject"), "difficulty": rec.get("difficulty"),
                "instruction": instruction[:TEXT_CHARS], "response": response[:TEXT_CHARS],
            })  # fmt: skip

    def add_all(self, records: Iterable[dict[str, Any]]) -> PairStats:
        for rec in records:
            self.add(rec)
        return self

    def lengths(self) -> dict[str, Any]:
        checked = sum(self.verdicts.values())
        by_check: dict[str, list[int]] = {}
        for (method, passed), n in self.verdicts.items():
            row = by_check.setdefault(method, [0, 0])
            row[0] += n
            row[1] += n if passed else 0
        return {
            "instruction_words": histogram(self.instruction_words),
            "response_words": histogram(self.response_words),
            "finish_reasons": dict(self.finish.most_common()),
            "verification": {
                "checked": checked,
                "passed": sum(n for (_, ok), n in self.verdicts.items() if ok),
                "by_check": by_check,
            }
            if checked
            else None,
        }
