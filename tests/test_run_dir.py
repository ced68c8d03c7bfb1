"""The run directory tells the truth: the manifest describes the data beside it, clean/ is
never older than the pairs, one command at a time writes it (a lock), and every fault of the
run dir itself (a file in the way, no write access, a corrupt manifest or cache, a full disk)
is one line and exit 2, with nothing already there overwritten."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from glan.cli import app
from glan.config import PriceConfig, RunConfig
from glan.errors import ConfigError, GlanError
from glan.llm.cache import ResponseCache
from glan.recipes.glan import GLAN
from glan.store import RunDir
from tests.fakes import FakeBackend
from tests.helpers import run, step_done
from tests.http_fakes import FakeOpenAIServer
from tests.test_resume_kill import glan_command

GEN = tuple(GLAN.commands_help)


def one_line_error(r: Result, code: int = 2) -> str:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    return lines[0]


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def config_file(tmp_path: Path, base_url: str, per_syllabus: int = 2) -> Path:
    f = tmp_path / "run.yaml"
    f.write_text(
        "disciplines: [Physics]\nsubjects: {mode: json, samples: 2}\n"
        f"syllabi: {{min_sessions: 3, max_sessions: 3}}\nquestions: {{per_syllabus: {per_syllabus}}}\n"
        f"llm: {{backend: openai, base_url: '{base_url}', model: fake, api_key_env: null, concurrency: 4}}\n"
    )
    return f


# -- the manifest describes the data beside it ----------------------------------------------


def test_a_failed_invocation_leaves_the_manifest_alone(small_config: RunConfig, tmp_path: Path) -> None:
    run(small_config, FakeBackend())
    rd = small_config.run_dir
    manifest = (rd / "manifest.json").read_bytes()
    bad_tax = tmp_path / "tax.yaml"
    bad_tax.write_text("Sciences:\n  Physical:\n    - Physics\n    - 42\n")
    broken = [
        small_config.model_copy(update={"taxonomy": str(bad_tax)}),  # fails in the first step
        small_config.model_copy(update={"taxonomy": str(tmp_path / "missing.yaml")}),
        small_config.model_copy(update={"post": {"dedup": {"exakt": True}}}),  # checked before any step
    ]
    for cfg in broken:
        with pytest.raises(ConfigError):
            run(cfg, FakeBackend())
        assert (rd / "manifest.json").read_bytes() == manifest  # still the finished run's config
    # a step that fails before it writes or caches anything: same
    fake = FakeBackend()
    shard = next((rd / "questions").glob("*.jsonl"))
    shard.write_text("not json\n")
    (rd / "answers" / "_step.json").unlink()  # so that the step must read its input again
    for marker in (rd / "answers").glob("*.done.json"):
        marker.unlink()
    with pytest.raises(ConfigError, match=f"{shard.name}:1"):
        run(small_config.model_copy(update={"seed": 99}), fake, ("answers",))
    assert (rd / "manifest.json").read_bytes() == manifest and fake.calls == []


def test_changed_pairs_remove_the_clean_made_from_the_old_ones(small_config: RunConfig) -> None:
    rd = small_config.run_dir
    run(small_config, FakeBackend(), GEN)
    clean = rd / "clean"
    clean.mkdir()
    (clean / "clean.jsonl").write_text('{"old": true}\n')
    run(small_config, FakeBackend(), GEN)  # same config: the same pairs, clean/ still matches them
    assert (clean / "clean.jsonl").is_file()
    changed = small_config.model_copy(
        update={"answers": small_config.answers.model_copy(update={"top_p": 0.5})}
    )
    run(changed, FakeBackend(), GEN)  # new pairs, no post: -> clean/ would lie; it is removed
    assert not clean.exists()
    # with post: the same run rebuilds it from the new pairs
    (clean).mkdir()
    (clean / "clean.jsonl").write_text('{"old": true}\n')
    post = small_config.model_copy(update={"post": {"decontam": {"enabled": False}}, "seed": 5})
    run(post, FakeBackend())
    assert b'"old"' not in (clean / "clean.jsonl").read_bytes()
    assert (clean / "clean.jsonl").stat().st_size > 0


# -- usage comes from the cache --------------------------------------------------------------


def test_usage_is_what_the_cache_holds(small_config: RunConfig) -> None:
    price = PriceConfig(input=1.0, output=2.0)
    cfg = small_config.model_copy(update={"prices": {small_config.llm.model: price}})
    fake = FakeBackend()
    run(cfg, fake, GEN)
    usage = orjson.loads((cfg.run_dir / "manifest.json").read_bytes())["usage"]
    model = cfg.llm.model
    assert sum(u[model]["calls"] for u in usage.values()) == len(fake.calls)
    pairs = usage["answers"][model]
    assert pairs["cost_usd"] == pytest.approx((pairs["prompt_tokens"] + 2 * pairs["completion_tokens"]) / 1e6)
    run(cfg, FakeBackend(), GEN)  # a rerun from the cache costs nothing more
    assert orjson.loads((cfg.run_dir / "manifest.json").read_bytes())["usage"] == usage


# -- the lock --------------------------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from glan.store import RunDir
with RunDir(Path(sys.argv[1])).lock():
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """The run dir tmp_path/run, locked by another process."""
    rd = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(rd)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
        yield rd, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_a_second_command_on_a_run_dir_in_use_stops(held: tuple[Path, int], tmp_path: Path) -> None:
    rd, pid = held
    (rd / "results.jsonl").write_text("")
    (tmp_path / "tax.yaml").write_text("")
    for args in (
        ["run", "--run-dir", str(rd), "-q"],
        ["disciplines", "--run-dir", str(rd), "-q"],
        ["answers", "--run-dir", str(rd), "-q"],
        ["batch", "export", "answers", "--run-dir", str(rd)],
        ["batch", "import", str(rd / "results.jsonl"), "--run-dir", str(rd)],
        ["taxonomy", "-o", str(tmp_path / "t.yaml"), "-s", f"run_dir={rd}", "-s", "taxonomy=generate", "-q"],
    ):
        line = one_line_error(cli(*args))
        assert f"run dir {rd} is in use by pid {pid} (started " in line, (args, line)
    assert sorted(p.name for p in rd.iterdir()) == [".lock", "results.jsonl"]  # nothing written


def test_two_glan_runs_at_once(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.delay = 0.05  # about 150 calls, 4 at a time: seconds, against milliseconds for the second
    cfg = config_file(tmp_path, server.base_url, per_syllabus=12)
    rd = tmp_path / "run"
    first = subprocess.Popen(
        [*glan_command(), "run", "-c", str(cfg), "--run-dir", str(rd), "-q"], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while server.count < 2:  # it holds the lock while it calls
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        line = one_line_error(cli("run", "-c", str(cfg), "--run-dir", str(rd), "-q"))
        assert f"is in use by pid {first.pid} (started " in line
        _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err  # undisturbed by the second
    finally:
        first.kill()
        first.wait()
    assert step_done(rd, "answers")
    r = cli("run", "-c", str(cfg), "--run-dir", str(rd), "-q")  # free again once it ended
    assert r.exit_code == 0, r.output


def test_a_dead_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    rd = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(rd)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert "pid" in (rd / ".lock").read_text()  # the file stays; the kernel dropped the lock
    with RunDir(rd).lock(), RunDir(rd).lock():  # free, and re-entrant within a process
        pass


# -- faults of the run dir itself: one line, exit 2 -----------------------------------------


def test_run_dir_is_a_file_or_below_one(tmp_path: Path) -> None:
    f = tmp_path / "afile"
    f.write_text("keep me\n")
    line = one_line_error(cli("disciplines", "--run-dir", str(f), "-q"))
    assert line == f"error: run_dir {f}: {f} is a file, not a folder"
    line = one_line_error(cli("run", "--run-dir", str(f / "sub" / "run"), "-q"))
    assert line == f"error: run_dir {f / 'sub' / 'run'}: {f} is a file, not a folder"
    assert f.read_text() == "keep me\n"


def test_run_dir_not_writable(tmp_path: Path) -> None:
    """A folder glan cannot write in. As root, permissions do not stop writes, so there it
    takes a folder of sysfs, where no one may create a file (what the lock does first)."""
    if os.geteuid() != 0:
        rd = tmp_path / "ro"
        rd.mkdir()
        rd.chmod(0o555)
        expected = f"error: run_dir {rd}: not writable"
    elif Path("/sys/kernel").is_dir():
        rd = Path("/sys/kernel")
        expected = f"error: run_dir {rd}: cannot write in it ("
    else:
        pytest.skip("root, and no sysfs to stand in for a folder root cannot write in")
    line = one_line_error(cli("disciplines", "--run-dir", str(rd), "-q"))
    assert line.startswith(expected), line


def test_a_corrupt_manifest_is_named_and_kept(small_config: RunConfig) -> None:
    rd = small_config.run_dir
    rd.mkdir(parents=True)
    for text in (b"{not json", b"[1, 2]", b'{"steps": 3}', b"\xff\xfe"):
        (rd / "manifest.json").write_bytes(text)
        for command in ("disciplines", "estimate"):
            line = one_line_error(cli(command, "--run-dir", str(rd), "-s", "disciplines=[Physics]"))
            assert line.startswith(f"error: {rd / 'manifest.json'}: ") and "move it aside" in line, line
        assert (rd / "manifest.json").read_bytes() == text  # not overwritten
        assert not step_done(rd, "disciplines")


def test_a_corrupt_cache_is_named(small_config: RunConfig) -> None:
    rd = small_config.run_dir
    run(small_config, FakeBackend(), ("disciplines",))
    garbage = b"this is not an SQLite database" * 200
    (rd / "cache.sqlite").write_bytes(garbage)
    for command in ("subjects", "estimate"):
        line = one_line_error(cli(command, "--run-dir", str(rd), "-s", "disciplines=[Physics, Chemistry]"))
        assert line.startswith(f"error: {rd / 'cache.sqlite'}: cannot use it as the response cache (")
        assert "move it aside" in line
    assert (rd / "cache.sqlite").read_bytes() == garbage


class FullDisk:
    """An sqlite3 connection whose COMMITs fail after `ok` of them, as on a full disk."""

    def __init__(self, db: sqlite3.Connection, ok: int) -> None:
        self.db = db
        self.ok = ok

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            self.ok -= 1
            if self.ok < 0:
                raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.db, name)


def test_a_failed_commit_stops_the_run(small_config: RunConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = ResponseCache.__init__

    def full_after_3(self: ResponseCache, path: Path) -> None:
        opened(self, path)
        self._db = FullDisk(self._db, ok=3)  # type: ignore[assignment]

    monkeypatch.setattr(ResponseCache, "__init__", full_after_3)
    errors: list[dict] = []

    async def go() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        from glan.session import Session

        fake = FakeBackend()
        async with Session(small_config, backend_factory=lambda _llm: fake) as session:
            with pytest.raises(
                GlanError, match=r"cache\.sqlite: cannot save LLM answers \(database or disk is full\)"
            ):
                await session.run_steps(GEN)
        assert len(fake.calls) < 20  # it stopped: not the whole run (over 100 calls)

    asyncio.run(go())
    assert errors == []  # nothing merely logged by the event loop
    assert not step_done(small_config.run_dir, "answers")


def test_a_full_disk_is_one_line(server: FakeOpenAIServer, tmp_path: Path) -> None:
    """A real write failure: the files of the process may not grow past 256 kB
    (RLIMIT_FSIZE; the kernel then fails the write with EFBIG, as a full disk fails it with
    ENOSPC). The cache's write-ahead log reaches that first."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    cfg = config_file(tmp_path, server.base_url, per_syllabus=12)
    proc = subprocess.run(
        [*glan_command(), "run", "-c", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"],
        preexec_fn=limit,
        capture_output=True,
        timeout=120,
    )
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 2, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "cache.sqlite: cannot save LLM answers" in lines[0], err
    assert not step_done(tmp_path / "run", "answers")


def test_an_old_run_dir_is_named_once_and_its_files_left_alone(
    small_config: RunConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    rd = small_config.run_dir
    run(small_config, FakeBackend(), GEN)
    (rd / "pairs.jsonl").write_text('{"old": true}\n')  # a run dir of glan before the step folders
    fake = FakeBackend()
    run(small_config, fake, GEN)
    err = capsys.readouterr().err
    assert "older glan (pairs.jsonl)" in err and "delete them" in err and fake.calls == []
    assert (rd / "pairs.jsonl").read_text() == '{"old": true}\n'
    run(small_config, fake, GEN)
    assert "older glan" not in capsys.readouterr().err  # said once
