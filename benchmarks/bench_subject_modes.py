"""Subjects the paper's way (free text, then a JSON conversion call) against one JSON-schema
call, on the same disciplines, samples and seed, through the real embedded model.

    .venv/bin/python benchmarks/bench_subject_modes.py [--model qwen2.5-coder-0.5b] [--samples 2]

Prints, per mode, the calls, failures, subjects kept and distinct subtopics, and two_call / json.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from glan.config import load_config
from glan.records import Subject
from glan.session import Session
from glan.store import read_jsonl

DISCIPLINES = ["Physics", "European history", "Economics"]


async def run(mode: str, model: str, samples: int, run_dir: Path) -> dict[str, float]:
    cfg = load_config(
        None,
        [
            f"run_dir={run_dir}",
            f"disciplines={DISCIPLINES}",
            f"llm.model={model}",
            "llm.n_ctx=4096",
            f"subjects.mode={mode}",
            f"subjects.samples={samples}",
            "subjects.max_tokens=800",
        ],
    )
    t0 = time.perf_counter()
    async with Session(cfg) as session:
        report = await session.run_steps(("disciplines", "subjects"))
    subjects = list(read_jsonl(run_dir / "subjects.jsonl", Subject))
    steps = [v for k, v in report.items() if k in ("subject_drafts", "subject_samples")]
    return {
        "wall_s": time.perf_counter() - t0,
        "calls": sum(s["calls"] for s in steps),
        "failures": sum(s["failures"] for s in steps),
        "completion_tokens": sum(s["completion_tokens"] for s in steps),
        "subjects": len(subjects),
        "subtopics": len({t.casefold() for s in subjects for t in s.subtopics}),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--samples", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = {m: asyncio.run(run(m, args.model, args.samples, Path(tmp) / m)) for m in ("json", "two_call")}
    print(f"{args.model}, {len(DISCIPLINES)} disciplines x {args.samples} samples")
    for key in res["json"]:
        j, t = res["json"][key], res["two_call"][key]
        ratio = f"{t / j:.2f}" if j else "n/a"
        print(f"  {key:18} json {j:9.1f}  two_call {t:9.1f}  two_call/json {ratio}")


if __name__ == "__main__":
    main()
