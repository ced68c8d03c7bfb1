"""How well each verification method separates right answers from wrong ones, on a labelled
set whose answers are known without an LLM (benchmarks/verify_set.py: word problems with
computed answers and multiple-choice items, each with a correct and a plausibly wrong response;
one numeric item in four shows a program and its output, made up in the wrong response).

    .venv/bin/python benchmarks/bench_verify.py [--n 18] [--model qwen2.5-coder-0.5b]
        [--methods code,self_consistency,double_critic,all] [--samples 5] [--keep DIR]
        [--base-url URL --api-model NAME [--api-key-env VAR]]   # any OpenAI-compatible judge

Every method runs through glan's `verify` recipe (flagging, not dropping, so every pair comes
out with its verdict) on the same pairs and the same run dir: the response cache answers a call
two methods share (the self-consistency samples of `all`) once. Per method it prints: the share
of correct responses kept, of wrong ones rejected, the error rate of the raw set (a half: one
correct and one wrong response per item) and of the kept set, and the extra calls and
completion tokens per pair (summed from the cache over the requests the method makes, whoever
asked them first). A kept pair is judged right when its final answer (after self-consistency
may have replaced it by a majority answer) equals the item's key. The target: the kept set's
error rate at most half the raw set's while keeping at least 60 % of the correct responses.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from glan.config import load_config
from glan.records import InstructionPair
from glan.session import Session
from glan.shards import StepFolder
from glan.stages.verify import VerifyStage
from glan.verify.final_answer import final_answer, same_answer

try:  # imported as benchmarks.bench_verify (the tests)
    from benchmarks.verify_set import make_set, write_pairs
except ModuleNotFoundError:  # run as a script: benchmarks/ is on sys.path
    from verify_set import make_set, write_pairs

METHODS = {
    "code": ["code"],
    "self_consistency": ["self_consistency"],
    "double_critic": ["double_critic"],
    "all": ["code", "self_consistency", "double_critic"],
}


@dataclass
class Figures:
    method: str
    correct: int = 0
    correct_kept: int = 0
    wrong: int = 0
    wrong_rejected: int = 0
    kept: int = 0
    kept_wrong: int = 0  # kept pairs whose final answer is not the key
    missing: int = 0  # pairs with a failed job (no verdict this run)
    calls: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def row(self, pairs: int) -> list[str]:
        raw = self.wrong / max(1, self.correct + self.wrong)
        kept_err = self.kept_wrong / max(1, self.kept)
        ok = kept_err <= raw / 2 and self.correct_kept >= 0.6 * self.correct
        return [
            self.method,
            f"{self.correct_kept}/{self.correct} ({self.correct_kept / max(1, self.correct):.0%})",
            f"{self.wrong_rejected}/{self.wrong} ({self.wrong_rejected / max(1, self.wrong):.0%})",
            f"{raw:.0%}",
            f"{kept_err:.0%} of {self.kept}",
            f"{self.calls / pairs:.1f}",
            f"{self.tokens / pairs:.0f}",
            f"{self.seconds:.0f}",
            "yes" if ok else "no",
        ]


def _overrides(args: argparse.Namespace, run_dir: Path, pairs: Path, methods: list[str]) -> list[str]:
    llm = [f"llm.model={args.model}", "llm.n_ctx=4096"]
    if args.base_url:
        llm = ["llm.backend=openai", f"llm.base_url={args.base_url}", f"llm.model={args.api_model}",
               f"llm.api_key_env={args.api_key_env or 'null'}"]  # fmt: skip
    return [
        "recipe=verify", f"run_dir={run_dir}", f"verify.input={pairs}",
        f"verify.methods=[{', '.join(methods)}]",
        "verify.on_fail=flag", "verify.code.on_mismatch=flag", f"verify.samples={args.samples}",
        f"verify.max_tokens={args.max_tokens}", f"verify.temperature={args.temperature}", *llm,
    ]  # fmt: skip


def _usage(cache: Path, keys: set[str]) -> tuple[int, int]:
    """(responses, completion tokens) the cache holds for `keys`."""
    if not cache.is_file() or not keys:
        return 0, 0
    con = sqlite3.connect(cache)
    try:
        marks = ",".join("?" * len(keys))
        row = con.execute(
            f"select count(*), coalesce(sum(completion_tokens), 0) from responses where key in ({marks})",
            list(keys),
        ).fetchone()
        return int(row[0]), int(row[1])
    finally:
        con.close()


def measure(args: argparse.Namespace, root: Path, pairs: Path, name: str) -> Figures:
    cfg = load_config(None, _overrides(args, root / "run", pairs, METHODS[name]))
    t0 = time.perf_counter()

    async def go() -> None:
        async with Session(cfg) as session:
            await session.run_steps(None)

    asyncio.run(go())
    fig = Figures(name, seconds=time.perf_counter() - t0)
    step = "verified" if any(m != "code" for m in METHODS[name]) else "executed"
    out = {p.id: p for p in StepFolder(cfg.run_dir / step).records(InstructionPair)}
    source = list(StepFolder(cfg.run_dir / "pairs").records(InstructionPair))
    stage = VerifyStage(cfg.verify, cfg.llm.model, cfg.seed)
    keys = {job.request.key() for p in source for job in stage.jobs(p)} if step == "verified" else set()
    fig.calls, fig.tokens = _usage(cfg.run_dir / "cache.sqlite", keys)
    for p in source:
        meta = p.meta or {}
        right = meta["label"] == "correct"
        fig.correct += right
        fig.wrong += not right
        got = out.get(p.id)
        if got is None:
            fig.missing += 1
            continue
        verdict = (got.meta or {}).get("verify")
        kept = verdict is None or bool(verdict.get("passed"))
        answer = final_answer(got.response)
        fig.kept += kept
        fig.kept_wrong += kept and not (answer is not None and same_answer(answer, meta["key"]))
        fig.correct_kept += right and kept
        fig.wrong_rejected += (not right) and not kept
    return fig


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=18, help="items (each: a correct and a wrong response)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--methods", default="code,self_consistency,double_critic,all")
    ap.add_argument("--samples", type=int, default=5, help="self-consistency samples")
    ap.add_argument("--max-tokens", type=int, default=400)
    ap.add_argument("--temperature", type=float, default=0.8, help="of the self-consistency samples")
    ap.add_argument("--keep", type=Path, help="keep the run dir (and its cache) in this folder")
    ap.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of the embedded model")
    ap.add_argument("--api-model", default="gpt-4o-mini")
    ap.add_argument("--api-key-env", help="the environment variable holding the endpoint's key")
    args = ap.parse_args(argv)
    names = args.methods.split(",")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        sys.exit(f"--methods: {unknown[0]!r} is not one of {', '.join(METHODS)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        pairs = root / "pairs.jsonl"
        items = make_set(args.n, args.seed)
        count = write_pairs(items, pairs, "both")
        figures = []
        for name in names:
            figures.append(measure(args, root, pairs, name))
            print(f"  {name}: done in {figures[-1].seconds:.0f} s", file=sys.stderr)
    judge = args.api_model if args.base_url else args.model
    print(f"{args.n} items, {count} pairs (half of them wrong); judge {judge}; "
          f"self-consistency {args.samples} samples at T={args.temperature}")  # fmt: skip
    head = ["method", "correct kept", "wrong rejected", "raw error", "kept error", "calls / pair",
            "completion tokens / pair", "wall s", "target met"]  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|---" * len(head) + "|")
    for f in figures:
        print("| " + " | ".join(f.row(count)) + " |")
    missing = {f.method: f.missing for f in figures if f.missing}
    if missing:
        print(f"pairs without a verdict (a failed job; rerun with --keep to ask again): {missing}")


if __name__ == "__main__":
    main()
