"""The Ray executor's overhead: a whole `glan run` against an instant local server, once with
`executor: local` (the baseline) and once with `executor: ray` on a local cluster, in the same
invocation: first-run pairs/s, the rerun of the finished run, and peak RSS of the driver.

    .venv-ray/bin/python benchmarks/bench_ray.py [--size 100000] [--actors 2] [--concurrency 64]

Run it with the Ray venv (`bash suites/ray/run.sh` makes it). The server and the run's shape are
bench_scale.py's (every built-in discipline, one syllabus per subject, 100 questions per
syllabus); both runs get the same replies, and their answers are compared byte for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import REPO, count_pairs, glan_run, write_config  # noqa: E402


def measure(name: str, extra: dict, url: str, size: int, concurrency: int, tmp: Path) -> dict:
    env = dict(os.environ, GLAN_BENCH_KEY="x", PYTHONPATH=str(REPO / "src"))  # this tree's glan
    work = tmp / name
    work.mkdir()
    config = work / "run.yaml"
    write_config(config, work / "run", url, size, concurrency, REPO / "src")
    text = config.read_text().rstrip()  # JSON (which is YAML): add the executor's keys
    extras = "".join(f', "{k}": {v}' for k, v in extra.items())
    config.write_text(text[:-1] + extras + "}\n")
    r = glan_run(env, config, work / "first.log")
    pairs = count_pairs(work / "run")
    if r["rc"] not in (0, 1) or not pairs:
        tail = (work / "first.log").read_text(errors="replace").splitlines()[-8:]
        raise SystemExit(f"{name}: glan run failed (exit {r['rc']}):\n  " + "\n  ".join(tail))
    print(f"  {name}: {pairs:,} pairs in {r['wall_s']:.1f} s", flush=True)
    again = glan_run(env, config, work / "rerun.log")
    print(f"  {name}: rerun {again['wall_s']:.2f} s", flush=True)
    return {
        "pairs": pairs,
        "pairs_s": pairs / r["wall_s"],
        "wall_s": r["wall_s"],
        "rss": r["rss_mb"],
        "rerun_s": again["wall_s"],
        "answers": work / "run" / "answers",
    }


def same_answers(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.glob("*.jsonl"))
    return names == sorted(p.name for p in b.glob("*.jsonl")) and all(
        filecmp.cmp(a / n, b / n, shallow=False) for n in names
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=100_000, help="pairs")
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    bench_scale = Path(__file__).with_name("bench_scale.py")
    server = subprocess.Popen([sys.executable, bench_scale, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/v1"
        print(f"server {url}; {args.size:,} pairs; concurrency {args.concurrency}; {os.cpu_count()} CPUs")
        local = measure("local", {}, url, args.size, args.concurrency, tmp)
        ray = measure(
            "ray",
            {"executor": '"ray"', "ray": f'{{"actors": {args.actors}}}'},
            url,
            args.size,
            args.concurrency,
            tmp,
        )
        print(f"\n| {local['pairs']:,} pairs | local | ray ({args.actors} actors) | ray / local |")
        print("|---|---|---|---|")
        for label, key, fmt in [
            ("first run: pairs/s", "pairs_s", "{:,.0f}"),
            ("first run: wall s", "wall_s", "{:.1f}"),
            ("driver peak RSS MB", "rss", "{:.0f}"),
            ("rerun of the finished run: wall s", "rerun_s", "{:.2f}"),
        ]:
            cells = f"{fmt.format(local[key])} | {fmt.format(ray[key])}"
            print(f"| {label} | {cells} | {ray[key] / local[key]:.2f} |")
        print(f"\nanswers identical: {same_answers(local['answers'], ray['answers'])}")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
