"""GLAN, Self-Instruct and Evol-Instruct at equal model, sampling and completion-token budget:
how many instructions each makes and keeps, at what cost, and how diverse they are.

    .venv/bin/python benchmarks/bench_methods.py [--budget 15000] [--model qwen2.5-coder-0.5b]
        [--methods glan,self_instruct,evol_instruct] [--sample 60] [--keep DIR] [--start glan=20]

Each method runs through glan's own recipe on the embedded model (in-process llama.cpp), all
generating steps with the same temperature / top-p, and grows until its completion tokens
(every response in its run dir's cache) reach the budget: GLAN raises questions per syllabus
over three disciplines of three fields, Self-Instruct its target (the loop continues), Evol-
Instruct the number of seed tasks it evolves. Growing reruns the same run dir, so no call is
paid twice. Instructions only: GLAN up to its questions, Self-Instruct up to its loop's
instructions; Evol-Instruct's responses are part of its budget, since two of its elimination
rules read them.

Per method: instructions produced (before the method's own filters), accepted, completion
tokens per accepted instruction, then on a random sample of the same size for every method
(diversity figures depend on the sample size): distinct-1/2/3, the share glan's near-dedup
(MinHash + ROUGE-L >= 0.7) removes, mean pairwise ROUGE-L F, and a lexical embedding
diversity: the Vendi score of TF-IDF vectors (an honest proxy until the report's embedding
model lands; higher is more diverse, at most the sample size). The baseline of the ratios is
Self-Instruct's, measured in the same invocation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glan.config import load_config
from glan.llm.cache import usage_of
from glan.post.normalize import tokens
from glan.records import InstructionPair, Question, Task
from glan.report.diversity import distinct_n, mean_pairwise_rouge_l, near_dup_rate
from glan.session import Session
from glan.shards import StepFolder
from glan.tasks_file import seed_tasks_path

DISCIPLINES = "[Astronomy, History, Economics]"  # three fields: humanities, social, natural


@dataclass
class Method:
    name: str
    overrides: list[str]
    steps: tuple[str, ...]
    grow: str  # the setting that grows the run; "seeds": how many seed tasks Evol-Instruct reads
    start: int
    sections: tuple[str, ...]  # the sections that sample (same temperature / top-p for all)


METHODS = {
    "glan": Method(
        "glan",
        [
            "recipe=glan",
            f"disciplines={DISCIPLINES}",
            "subjects.mode=json",
            "subjects.samples=1",
            "subjects.max_per_discipline=1",
            "subjects.max_tokens=1500",
            "syllabi.min_sessions=3",
            "syllabi.max_sessions=5",
            "syllabi.max_tokens=3000",
            "questions.max_tokens=200",
        ],
        ("disciplines", "subjects", "syllabi", "questions"),
        "questions.per_syllabus",
        2,
        ("subjects", "syllabi", "questions"),
    ),
    "self_instruct": Method(
        "self_instruct",
        ["recipe=self_instruct", "self_instruct.max_tokens=400", "self_instruct.max_rounds=1000"],
        ("seed_tasks", "instructions"),
        "self_instruct.target",
        8,
        ("self_instruct",),
    ),
    "evol_instruct": Method(
        "evol_instruct",
        ["recipe=evol_instruct", "evolve.max_tokens=200", "answers.max_tokens=200"],
        ("seed_instructions", "evolved"),
        "seeds",
        4,
        ("evolve", "answers"),
    ),
}


@dataclass
class Result:
    name: str
    produced: int = 0
    accepted: list[str] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    size: int = 0
    figures: dict[str, float] = field(default_factory=dict)


def completion_tokens(run_dir: Path) -> int:
    _, usage = usage_of(run_dir / "cache.sqlite")
    return int(sum(m["completion_tokens"] for stage in usage.values() for m in stage.values()))


def _removed(run_dir: Path, step: str) -> int:
    index = StepFolder(run_dir / step).index() or {}
    return int(index.get("removed", 0)) + int(index.get("failures", 0))


def instructions(method: str, run_dir: Path) -> tuple[int, list[str]]:
    """(produced, accepted instruction texts) of a finished run of `method`."""
    if method == "glan":
        folder = StepFolder(run_dir / "questions")
        made = [q.question for q in folder.records(Question)]
        return len(made) + _removed(run_dir, "questions"), made
    if method == "self_instruct":
        made = [t.instruction for t in StepFolder(run_dir / "instructions").records(Task)]
        return len(made) + _removed(run_dir, "instructions"), made
    made = [p.instruction for p in StepFolder(run_dir / "evolved").records(InstructionPair)]
    return len(made) + _removed(run_dir, "evolved"), made


def run_method(m: Method, args: argparse.Namespace, root: Path) -> Result:
    run_dir = root / m.name
    res = Result(m.name)
    seeds = root / "seeds.jsonl"
    lines = seed_tasks_path().read_text().splitlines()
    base = [f"run_dir={run_dir}", f"seed={args.seed}", f"llm.model={args.model}", "llm.n_ctx=4096"]
    for s in m.sections:
        base += [f"{s}.temperature={args.temperature}", f"{s}.top_p={args.top_p}"]
    size = args.start.get(m.name, m.start)
    t0 = time.perf_counter()
    while True:
        extra = [f"{m.grow}={size}"] if m.grow != "seeds" else [f"evolve.instructions={seeds}"]
        if m.grow == "seeds":
            rng = random.Random(args.seed)
            seeds.write_text("\n".join(rng.sample(lines, len(lines))[:size]) + "\n")
        cfg = load_config(None, [*m.overrides, *base, *extra])

        async def go(cfg=cfg) -> None:
            async with Session(cfg) as session:
                await session.run_steps(m.steps)

        asyncio.run(go())
        res.tokens = completion_tokens(run_dir)
        print(f"  {m.name}: {m.grow}={size}: {res.tokens} completion tokens", file=sys.stderr)
        if res.tokens >= args.budget or (m.grow == "seeds" and size >= len(lines)):
            break
        # at most double: a method whose first sizes spend little would otherwise jump far past the budget
        size = max(size + 1, min(2 * size, math.ceil(size * args.budget / max(res.tokens, 1))))
        if m.grow == "seeds":
            size = min(size, len(lines))
    res.seconds = time.perf_counter() - t0
    res.size = size
    res.produced, res.accepted = instructions(m.name, run_dir)
    return res


# -- diversity ------------------------------------------------------------------------------


def tfidf_vendi(toks: list[list[str]]) -> float:
    """The Vendi score (Friedman and Dieng 2023) of L2-normalised TF-IDF vectors: exp of the
    entropy of the eigenvalues of K / n, K the cosine-similarity matrix."""
    vocab = {w: i for i, w in enumerate(sorted({w for t in toks for w in t}))}
    x = np.zeros((len(toks), len(vocab)))
    for r, t in enumerate(toks):
        for w, c in Counter(t).items():
            x[r, vocab[w]] = c
    df = (x > 0).sum(0)
    x *= np.log((1 + len(toks)) / (1 + df)) + 1
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    eig = np.linalg.eigvalsh(x @ x.T / len(toks))
    eig = eig[eig > 1e-12]
    return float(np.exp(-(eig * np.log(eig)).sum()))


def figures(texts: list[str]) -> dict[str, float]:
    toks = [tokens(t) for t in texts]
    return {
        "distinct-1": distinct_n(toks, 1),
        "distinct-2": distinct_n(toks, 2),
        "distinct-3": distinct_n(toks, 3),
        "near-dup removed": near_dup_rate(texts),
        "mean pairwise ROUGE-L": mean_pairwise_rouge_l(toks),
        "TF-IDF Vendi": tfidf_vendi(toks),
        "words / instruction": sum(map(len, toks)) / len(toks),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=15000, help="completion tokens per method")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--methods", default="glan,self_instruct,evol_instruct")
    ap.add_argument("--temperature", type=float, default=0.9)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--sample", type=int, default=60, help="instructions per method for diversity")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="keep the run dirs in this folder")
    ap.add_argument(
        "--start", action="append", default=[], metavar="METHOD=SIZE", help="a method's first size"
    )
    args = ap.parse_args()
    args.start = {k: int(v) for k, v in (x.split("=", 1) for x in args.start)}
    names = args.methods.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        results = [run_method(METHODS[n], args, root) for n in names]
    n = min([args.sample, *(len(r.accepted) for r in results)])
    for r in results:
        r.figures = figures(random.Random(args.seed).sample(r.accepted, n)) if n > 1 else {}
    print(f"model {args.model}, budget {args.budget} completion tokens, T={args.temperature}, "
          f"top_p={args.top_p}; diversity on {n} instructions drawn from each method's accepted")  # fmt: skip
    base = next((r for r in results if r.name == "self_instruct"), results[0])
    rows = [
        ("completion tokens spent", lambda r: r.tokens),
        ("instructions produced", lambda r: r.produced),
        ("accepted (after the method's filters)", lambda r: len(r.accepted)),
        ("completion tokens / accepted", lambda r: r.tokens / max(1, len(r.accepted))),
        ("wall s", lambda r: r.seconds),
        *((k, lambda r, k=k: r.figures.get(k, float("nan"))) for k in (results[0].figures or {})),
    ]
    print("| figure | " + " | ".join(r.name for r in results) + f" | ratios to {base.name} |")
    print("|---" * (len(results) + 2) + "|")
    for label, get in rows:
        vals = [get(r) for r in results]
        b = get(base)
        ratios = " / ".join(f"{v / b:.2f}" if b else "-" for v in vals)
        print(f"| {label} | " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in vals)
              + f" | {ratios} |")  # fmt: skip
    print(json.dumps({r.name: {"tokens": r.tokens, "produced": r.produced, "accepted": len(r.accepted),
                               **r.figures} for r in results}))  # fmt: skip


if __name__ == "__main__":
    main()
