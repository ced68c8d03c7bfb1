"""The code sandbox (bubblewrap) on real programs: output, stdin, and what a program must not
reach or exhaust. In CI a missing bubblewrap fails these tests (tests/conftest.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from glan.quality_config import CodeCheckConfig
from glan.verify import sandbox
from glan.verify.sandbox import run_python, sandbox_problem

SMALL = CodeCheckConfig(timeout_s=5, cpu_s=2, memory_mb=256, processes=8, max_output_kb=16)


@pytest.fixture(autouse=True)
def _needs_sandbox() -> None:
    problem = sandbox_problem()
    if problem:
        pytest.skip(problem)


def test_stdout_and_stdin() -> None:
    result = run_python("import sys\nprint('hi', sys.stdin.read().upper())", SMALL, stdin="there")
    assert (result.exit_code, result.stdout, result.ok) == (0, "hi THERE\n", True)


def test_an_error_is_an_exit_code_and_stderr() -> None:
    result = run_python("1 / 0", SMALL)
    assert result.exit_code == 1 and not result.ok
    assert "ZeroDivisionError" in result.stderr


def test_no_network() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = server.getsockname()[1]
        code = f"""
import socket
for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 53), ("8.8.8.8", 443)]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        print("connected", host)
    except OSError as e:
        print("failed", host, type(e).__name__)
"""
        result = run_python(code, SMALL)
        with pytest.raises(BlockingIOError):  # nothing reached the host's server
            server.accept()
    assert result.ok, result.stderr
    assert "connected" not in result.stdout
    assert result.stdout.count("failed") == 3


def test_no_writes_outside_its_folder(tmp_path: Path) -> None:
    host_file = tmp_path / "host.txt"
    host_file.write_text("original")
    code = f"""
import os
def attempt(path):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("changed")
        print("wrote", path)
    except OSError as e:
        print("refused", path, e.errno)
for path in [{str(host_file)!r}, "/usr/glan-x", "/usr/bin/python3", "/etc/glan-x", "/etc/passwd",
             "/root/glan-x", "/glan-x", "/work/mine.txt"]:
    attempt(path)
"""
    result = run_python(code, SMALL)
    assert result.ok, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "wrote /work/mine.txt"  # its own folder is writable
    for line in lines[1:-1]:
        assert line.startswith("refused"), line
    # the same absolute path as the host's file is a path in the sandbox's own /tmp
    assert host_file.read_text() == "original"
    assert not Path("/usr/glan-x").exists() and not Path("/etc/glan-x").exists()


def test_glan_environment_is_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-glan-test-secret")
    result = run_python("import os\nprint(dict(os.environ))", SMALL)
    assert result.ok
    assert "sk-glan-test-secret" not in result.stdout and "OPENAI_API_KEY" not in result.stdout


def _sandbox_processes() -> list[int]:
    """Live processes of the uids sandboxes run as (when the tests run as root)."""
    pids = []
    for uid in range(sandbox.UID_BASE, sandbox.UID_BASE + 16):
        pids += sandbox._processes(uid)
    return pids


def test_fork_bomb_is_stopped() -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_python(code, SMALL.model_copy(update={"timeout_s": 3}))
    assert not result.ok
    assert not _sandbox_processes()  # nothing of it outlives the call
    assert run_python("print('fine')", SMALL).stdout == "fine\n"


def test_fork_limit() -> None:
    code = """
import os, time
n = 0
try:
    while n < 100:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError:
    pass
print(n)
"""
    result = run_python(code, SMALL)
    assert result.ok, result.stderr
    assert 0 < int(result.stdout) < SMALL.processes  # the program is one of them
    assert not _sandbox_processes()  # its sleeping children died with it


def test_infinite_loop_ends() -> None:
    cfg = SMALL.model_copy(update={"timeout_s": 2, "cpu_s": 1})
    result = run_python("while True:\n    pass\n", cfg)
    assert not result.ok
    # the CPU limit (SIGKILL a second after SIGXCPU, which pid 1 ignores) or the wall clock
    assert result.timed_out or result.exit_code in (128 + 9, 128 + 24)


def test_sleeping_program_times_out() -> None:
    result = run_python("import time\ntime.sleep(60)", SMALL.model_copy(update={"timeout_s": 1}))
    assert result.timed_out and result.exit_code is None and not result.ok


def test_memory_limit() -> None:
    cfg = SMALL.model_copy(update={"memory_mb": 64})
    result = run_python("x = bytearray(200 * 1024 * 1024)\nprint('allocated')", cfg)
    assert not result.ok and "allocated" not in result.stdout
    assert "MemoryError" in result.stderr


def test_output_is_truncated() -> None:
    cfg = SMALL.model_copy(update={"max_output_kb": 1})
    result = run_python("print('x' * 10_000)", cfg)
    assert result.truncated and not result.ok
    assert len(result.stdout) <= 1024


def test_disk_is_bounded() -> None:
    code = """
import os
try:
    for i in range(10_000):
        with open(f"/work/f{i}", "w") as f:
            f.write("x" * 8000)
    print("all written")
except OSError as e:
    print("stopped", e.errno)
"""
    result = run_python(code, SMALL.model_copy(update={"memory_mb": 32}))  # /work: 32 MB
    assert result.stdout.startswith("stopped"), result.stdout + result.stderr


def test_problem_names_a_missing_interpreter() -> None:
    problem = sandbox_problem("/nonexistent/python3")
    assert problem is not None and "/nonexistent/python3" in problem and "verify.code.python" in problem


def test_runs_at_once_get_their_own_uid() -> None:
    from concurrent.futures import ThreadPoolExecutor

    code = "import os, time\ntime.sleep(0.5)\nprint(os.getuid())"
    with ThreadPoolExecutor(3) as pool:
        uids = [int(r.stdout) for r in pool.map(lambda _: run_python(code, SMALL), range(3))]
    if os.geteuid() == 0:  # as root, each runs as a uid of its own, so that its process limit bites
        assert len(set(uids)) == 3 and all(u >= sandbox.UID_BASE for u in uids)
    else:
        assert uids == [os.getuid()] * 3
