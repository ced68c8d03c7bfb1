"""The README demo, timed: wall time split into model time (llama.cpp's own timings) and
glan's overhead; then a rerun of the finished run (zero LLM calls expected).

    .venv/bin/python benchmarks/bench_demo.py [--config examples/demo.yaml]

The baseline is the model's own compute time in the same run; figures print as ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def glan(config: str, run_dir: Path) -> float:
    exe = Path(sys.executable).parent / "glan"
    t0 = time.perf_counter()
    subprocess.run([str(exe), "run", "-c", config, "--run-dir", str(run_dir), "-q"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="examples/demo.yaml")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        wall = glan(args.config, run_dir)
        steps = json.loads((run_dir / "manifest.json").read_text())["steps"]
        model_s = sum(s.get("model_ms", 0) for s in steps.values()) / 1000
        calls = sum(s.get("calls", 0) for s in steps.values())
        tokens = sum(s.get("completion_tokens", 0) for s in steps.values())
        pairs = steps.get("answers", {}).get("records", 0)
        rerun = glan(args.config, run_dir)
        again = json.loads((run_dir / "manifest.json").read_text())["steps"]
        rerun_calls = sum(s.get("calls", 0) for s in again.values())
    print(f"demo: {pairs} pairs, {calls} LLM calls, {tokens} completion tokens")
    print(f"wall {wall:.1f} s = model {model_s:.1f} s + other {wall - model_s:.1f} s")
    print(f"  model / wall = {model_s / wall:.3f}; overhead (wall - model) / wall = {1 - model_s / wall:.3%}")
    print(
        "  per step (wall s / model s): "
        + ", ".join(
            f"{k} {v.get('wall_s', 0):.1f}/{v.get('model_ms', 0) / 1000:.1f}" for k, v in steps.items()
        )
    )
    print(f"rerun: {rerun:.2f} s wall, {rerun_calls} LLM calls, {rerun / wall:.4f} of the first run")


if __name__ == "__main__":
    main()
