"""A whole `glan run` at scale against an instant local OpenAI-compatible server: first-run
pairs/s, the wall time of a rerun of the finished run, of a run resumed after `kill -9`, and
the peak RSS of each `glan run` process, for the working tree (candidate) and a baseline commit
measured in the same invocation.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 100000,1000000] [--baseline 8c89c97]
        [--only both|candidate|baseline] [--concurrency 64] [--keep]

The server is an aiohttp app on 127.0.0.1 in its own process: every POST /v1/chat/completions
gets a schema-valid reply for its GLAN step (subjects, syllabus, question, answer) at once,
derived from the request, so both versions see the same replies. Each `glan run` is the venv's
console script in a subprocess, with PYTHONPATH at the version's src/ (the baseline is checked
out with `git worktree add` into a temp dir). Size: every built-in discipline, `subjects.mode:
json`, S subjects each (S chosen to reach the size), one syllabus per subject, 100 questions per
syllabus, no `post:` section. The kill lands once half the answers have been asked.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GLAN = Path(sys.executable).with_name("glan")  # the console script a user runs
MODEL = "bench-model"
DISCIPLINES = 123  # the built-in taxonomy's disciplines (both versions)
QUESTIONS = 100  # questions.per_syllabus
SUBJECTS_PER_REPLY = 25


# -- the server -----------------------------------------------------------------------------


def reply(body: dict) -> str:
    """A schema-valid reply for the GLAN step this request belongs to, derived from it."""
    fmt = (body.get("response_format") or {}).get("json_schema") or {}
    name = fmt.get("name")
    raw = json.dumps([body["messages"], body.get("seed")], sort_keys=True).encode()
    h = hashlib.blake2b(raw, digest_size=6).hexdigest()
    if name == "subjects":
        subjects = [
            {"subject_name": f"Subject {h} {i}", "level": "undergraduate", "subtopics": ["basics", "methods"]}
            for i in range(SUBJECTS_PER_REPLY)
        ]
        return json.dumps({"subjects": subjects})
    if name == "syllabus":
        lo = fmt["schema"]["properties"]["sessions"].get("minItems", 3)
        concepts = ["definition {}", "method {}", "example {}", "law {}"]
        sessions = [
            dict(title=f"Session {i}", description=f"Part {i}.", key_concepts=[c.format(i) for c in concepts])
            for i in range(lo)
        ]
        return json.dumps({"introduction": f"A course ({h}).", "objectives": ["learn"], "sessions": sessions})
    if name == "question":
        return json.dumps({"question": f"Question {h}: explain how the concepts of these sessions relate."})
    return (
        f"Answer {h}: by the definitions of the sessions named in the question, the first concept "
        "follows from the second; a worked example makes the relation concrete."
    )


def serve() -> None:
    """Answer every chat completion at once; GET /count says how many answers were asked. Prints
    the port, then serves until killed."""
    import asyncio
    import socket

    from aiohttp import web

    answers = [0]  # requests with no response schema

    async def chat(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        answers[0] += not body.get("response_format")
        text = reply(body)
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        usage = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}
        return web.json_response(
            {"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": MODEL}
            | {"choices": [choice], "usage": usage}
        )

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"answers": answers[0]})

    async def main() -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_get("/count", count)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock, backlog=1024).start()
        print(sock.getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- one glan run ---------------------------------------------------------------------------


def shape(size: int) -> tuple[int, int]:
    """Subjects per discipline and questions per syllabus that make about `size` pairs (sizes
    under 12,300 take one subject per discipline and fewer questions: quick checks)."""
    if size >= DISCIPLINES * QUESTIONS:
        return round(size / (DISCIPLINES * QUESTIONS)), QUESTIONS
    return 1, max(1, round(size / DISCIPLINES))


def syllabi_section(src: Path) -> str:
    """The config section of the syllabi step in that version (`syllabus` before it was renamed)."""
    config = (src / "glan" / "config.py").read_text()
    return "syllabi" if "    syllabi: SyllabusConfig" in config else "syllabus"


def write_config(path: Path, run_dir: Path, url: str, size: int, concurrency: int, src: Path) -> None:
    s, q = shape(size)
    llm = {"backend": "openai", "base_url": url, "model": MODEL, "api_key_env": "GLAN_BENCH_KEY"}
    cfg = {
        "run_dir": str(run_dir),
        "seed": 0,
        "taxonomy": "builtin",
        "llm": {**llm, "concurrency": concurrency},
        "subjects": {"mode": "json", "samples": math.ceil(s / SUBJECTS_PER_REPLY), "max_per_discipline": s},
        syllabi_section(src): {"min_sessions": 4, "max_sessions": 6},
        "questions": {"per_syllabus": q},
    }
    path.write_text(json.dumps(cfg, indent=1))  # JSON is YAML


def count_pairs(run_dir: Path) -> int | None:
    """Pairs in pairs.jsonl, answers.jsonl or a folder of shards answers/ (whichever exists)."""
    if (run_dir / "answers").is_dir():
        files = [p for p in (run_dir / "answers").rglob("*.jsonl*") if p.name.endswith((".jsonl", ".gz"))]
        files = [p for p in files if not p.name.startswith(".") and ".failures." not in p.name]
    else:
        files = [p for p in (run_dir / "pairs.jsonl", run_dir / "answers.jsonl") if p.is_file()][:1]
    n = 0
    for p in files:
        with (gzip.open if p.name.endswith(".gz") else open)(p, "rb") as f:
            while chunk := f.read(1 << 20):
                n += chunk.count(b"\n")
    return n if files else None


def answers_asked(url: str) -> int:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/count", timeout=10) as r:
        return json.loads(r.read())["answers"]


def vm_hwm_mb(pid: int) -> float:
    """The process's own peak RSS so far (a high-water mark, so polling it misses at most the
    growth of its last 50 ms)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(ln.split()[1]) / 1024 for ln in f if ln.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0.0


def glan_run(env: dict, config: Path, log: Path, kill: tuple[str, int] | None = None) -> dict:
    """One `glan run -c config` to its end, or SIGKILLed once the server has been asked
    `kill[1]` more answers: wall time, peak RSS of that process, exit code."""
    base = answers_asked(kill[0]) if kill else 0
    rss, killed = 0.0, False
    t0 = time.perf_counter()
    with log.open("w") as out:
        p = subprocess.Popen([GLAN, "run", "-c", config], env=env, stdout=out, stderr=out)
    while p.poll() is None:
        rss = max(rss, vm_hwm_mb(p.pid))
        if kill and not killed and answers_asked(kill[0]) - base >= kill[1]:
            p.send_signal(signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    return {"wall_s": time.perf_counter() - t0, "rss_mb": rss, "rc": p.returncode, "killed": killed}


def finished(r: dict, run_dir: Path, log: Path) -> int:
    """Pairs of a run that finished (exit 0, or 1 with pairs written); else stop with the log."""
    pairs = count_pairs(run_dir)
    if r["rc"] not in (0, 1) or not pairs:
        tail = log.read_text(errors="replace").splitlines()[-8:]
        raise SystemExit(f"glan run failed (exit {r['rc']}, pairs {pairs}):\n  " + "\n  ".join(tail))
    return pairs


def measure(name: str, src: Path, url: str, size: int, concurrency: int, tmp: Path) -> dict:
    """First run, rerun of it, a fresh run killed at half its answers and then resumed."""
    env = dict(os.environ, PYTHONPATH=str(src), GLAN_BENCH_KEY="x")
    work = tmp / f"{name}-{size}"
    work.mkdir()
    for run in ("first", "resumed"):
        write_config(work / f"{run}.yaml", work / run, url, size, concurrency, src)

    r = glan_run(env, work / "first.yaml", work / "first.log")
    res = {"pairs": finished(r, work / "first", work / "first.log")}
    res.update(first_pairs_s=res["pairs"] / r["wall_s"], first_s=r["wall_s"], first_rss=r["rss_mb"])
    print(f"  {name}: first run {res['pairs']:,} pairs in {r['wall_s']:.1f} s, exit {r['rc']}", flush=True)

    r = glan_run(env, work / "first.yaml", work / "rerun.log")
    finished(r, work / "first", work / "rerun.log")
    res.update(rerun_s=r["wall_s"], rerun_rss=r["rss_mb"])
    print(f"  {name}: rerun {r['wall_s']:.2f} s, exit {r['rc']}", flush=True)

    r = glan_run(env, work / "resumed.yaml", work / "killed.log", kill=(url, res["pairs"] // 2))
    if not r["killed"]:
        raise SystemExit(f"{name}: the run to kill ended (exit {r['rc']}) before half its answers")
    killed_s = r["wall_s"]
    r = glan_run(env, work / "resumed.yaml", work / "resumed.log")
    pairs = finished(r, work / "resumed", work / "resumed.log")
    if pairs != res["pairs"]:
        raise SystemExit(f"{name}: the resumed run has {pairs:,} pairs, the first {res['pairs']:,}")
    res.update(resumed_s=r["wall_s"], resumed_rss=r["rss_mb"])
    print(f"  {name}: killed after {killed_s:.1f} s, resumed in {r['wall_s']:.1f} s", flush=True)
    return res


# -- the driver -----------------------------------------------------------------------------


def imported_from(src: Path, tmp: Path) -> str:
    """Where `import glan` resolves with PYTHONPATH=src (from a neutral directory): must be src."""
    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, "-c", "import glan; print(glan.__file__)"]
    out = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(out).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"glan imports from {out}, not from {src}")
    return out


ROWS = [
    ("first run: pairs/s", "first_pairs_s", "{:,.0f}"),
    ("first run: wall s", "first_s", "{:.1f}"),
    ("first run: peak RSS MB", "first_rss", "{:.0f}"),
    ("rerun of the finished run: wall s (target < 2 s)", "rerun_s", "{:.2f}"),
    ("rerun: peak RSS MB", "rerun_rss", "{:.0f}"),
    ("resumed after kill -9 at half the answers: wall s", "resumed_s", "{:.1f}"),
    ("resumed: peak RSS MB", "resumed_rss", "{:.0f}"),
]


def table(size: int, res: dict[str, dict]) -> None:
    names = list(res)
    pairs = " / ".join(f"{res[n]['pairs']:,}" for n in names)
    print(f"\n| {size:,} pairs ({pairs}) | " + " | ".join(names) + " | candidate / baseline |")
    print("|---" * (len(names) + 2) + "|")
    for label, key, fmt in ROWS:
        cells = [fmt.format(res[n][key]) for n in names]
        ratio = f"{res['candidate'][key] / res['baseline'][key]:.2f}" if len(names) == 2 else "-"
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="pairs, comma-separated")
    ap.add_argument("--baseline", default="8c89c97", help="git ref of the baseline version")
    ap.add_argument("--candidate", help="git ref of the candidate (default: the working tree)")
    ap.add_argument("--only", choices=["both", "candidate", "baseline"], default="both")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--keep", action="store_true", help="keep the run dirs (their path is printed)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve()
    if not GLAN.exists():
        ap.error(f"no glan console script beside {sys.executable}: run this with the project's venv")
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    versions: dict[str, Path] = {}
    trees: list[Path] = []
    server = None
    try:
        for name, ref in (("baseline", args.baseline), ("candidate", args.candidate)):
            if args.only not in ("both", name):
                continue
            if ref is None:
                versions[name] = REPO / "src"
                continue
            trees.append(tmp / f"{name}-tree")
            subprocess.run(
                ["git", "-C", REPO, "worktree", "add", "--detach", "-q", trees[-1], ref], check=True
            )
            versions[name] = trees[-1] / "src"
        for name, src in versions.items():
            print(f"{name}: glan from {imported_from(src, tmp)}")
        server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/v1"
        print(f"server {url}; concurrency {args.concurrency}; {os.cpu_count()} CPUs; run dirs in {tmp}")
        for size in sizes:
            s, q = shape(size)
            print(f"\n{size:,} pairs: {DISCIPLINES} disciplines x {s} subjects x {q} questions", flush=True)
            table(size, {n: measure(n, src, url, size, args.concurrency, tmp) for n, src in versions.items()})
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        for tree in trees:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", tree])
        if args.keep:
            print(f"\nrun dirs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
