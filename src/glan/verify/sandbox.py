"""Run one Python program in isolation, never inside glan's process.

Isolation is bubblewrap (`bwrap`, Debian package `bubblewrap`): Linux namespaces without a
daemon, a setuid helper or root. The program sees an empty network namespace (no route
anywhere, not even the host's 127.0.0.1), its own process ids, `/usr` read-only, a read-only
root and two small in-memory folders as the only writable places (`/work`, where it runs, and
`/tmp`, each at most `memory_mb`; bwrap before 0.8 cannot size them), no environment variable
of glan's, no file of the host beyond `/usr`. The alternatives: docker needs an engine (none
here, and none in CI), nsjail is not packaged by Debian, seccomp alone leaves the file system
open, and a plain subprocess with rlimits leaves both network and file system open.

Limits are rlimits set by `prlimit` before bwrap starts (the subprocess module sets the user
and session itself, so no Python runs between fork and exec while other threads run checks):
CPU seconds, address space, file size (also what keeps stdout and stderr, which go to files,
under `max_output_kb`) and processes. Root is exempt from the process limit, so when glan runs
as root each sandbox runs as an unprivileged uid of its own (UID_BASE + i, held by a lock file
while it runs), which is what makes the limit bite; whatever that uid still runs afterwards is
killed. Not as root, the sandbox keeps glan's uid and the process limit is the number of tasks
that uid runs already plus `processes`: other programs of the same user, and sandboxes running
at once, share that allowance. The rlimits are per process: a program may hold `memory_mb` in
each of its `processes`. A program is killed, with everything it started, at `timeout_s`.

The interpreter is the system's `/usr/bin/python3` (`python: auto`), else glan's own base
interpreter, whose prefix is then bound read-only; one under a folder the sandbox's uid cannot
enter (`/root` is 0700) does not start, and `sandbox_problem` says so before a run writes
anything. Its packages are the system's: a program that imports numpy needs python3-numpy.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from glan.quality_config import CodeCheckConfig

UID_BASE = 200_000  # the uids sandboxes run as when glan runs as root: no user of the host may have them
UID_POOL = 4096
OVERHEAD = 1  # the process that is not the program's: bwrap, outside the namespace
SYSTEM_PYTHON = "/usr/bin/python3"
ENV = {  # the sandbox's whole environment; a fixed hash seed makes printed sets reproducible
    "PATH": "/usr/bin:/bin",
    "HOME": "/work",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONUTF8": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None  # None: killed at timeout_s; 128 + N: killed by signal N (bwrap's way)
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool  # stdout or stderr reached max_output_kb (the program got "file too large")

    @property
    def ok(self) -> bool:
        """The program ran to its end, exited 0, and all its output is here."""
        return self.exit_code == 0 and not self.timed_out and not self.truncated


def run_python(code: str, cfg: CodeCheckConfig, stdin: str = "") -> SandboxResult:
    """Run `code` as /work/main.py in a fresh sandbox with `stdin`; blocks until it ends."""
    python, binds = interpreter(cfg.python)
    limit = cfg.max_output_kb * 1024
    program = code.encode()
    with (
        tempfile.TemporaryDirectory(prefix="glan-sandbox-", ignore_cleanup_errors=True) as tmp,
        _sandbox_uid() as uid,
    ):
        folder = Path(tmp)  # never seen by the program: it gets copies and file descriptors
        (folder / "main.py").write_bytes(program)
        (folder / "stdin").write_text(stdin)
        with (
            open(folder / "main.py", "rb") as source,
            open(folder / "stdin", "rb") as inp,
            open(folder / "stdout", "wb+") as out,
            open(folder / "stderr", "wb+") as err,
        ):
            # bwrap copies the program under the same file size limit as the program's writes
            fsize = max(limit, len(program) + 4096)
            cmd = [*_limits(cfg, fsize, uid), *_bwrap(cfg, python, binds, source.fileno())]
            identity = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
            proc = subprocess.Popen(
                cmd, stdin=inp, stdout=out, stderr=err, pass_fds=(source.fileno(),),
                start_new_session=True, **identity,
            )  # fmt: skip
            timed_out = False
            try:
                proc.wait(cfg.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:  # also when the wait is interrupted: no program outlives its call
                if proc.poll() is None:
                    _stop(proc)
            stdout, cut_out = _read(out, limit)
            stderr, cut_err = _read(err, limit)
        if uid is not None:
            _clear(uid)
    code_ = None if timed_out else proc.returncode
    return SandboxResult(code_, stdout, stderr, timed_out, cut_out or cut_err)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the program, pid 1 of its namespace, so that all it started dies with it and bwrap
    reaps it (no zombie left to the host's init); then bwrap, should it still run."""
    with contextlib.suppress(OSError, ValueError):
        for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
            os.kill(int(pid), signal.SIGKILL)
    try:
        proc.wait(2)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # --die-with-parent: the program dies with it
        proc.wait()


def _read(f: BinaryIO, limit: int) -> tuple[str, bool]:
    f.seek(0)
    data = f.read(limit + 1)
    return data[:limit].decode("utf-8", "replace"), len(data) >= limit


def _limits(cfg: CodeCheckConfig, fsize: int, uid: int | None) -> list[str]:
    tasks = cfg.processes + OVERHEAD
    if uid is None:  # glan's own uid: its running tasks count against the same limit
        tasks += sum(_processes(os.getuid()).values())
    return [
        _tool("prlimit"),
        f"--cpu={cfg.cpu_s}:{cfg.cpu_s + 1}",  # SIGXCPU, then SIGKILL a second later
        f"--as={cfg.memory_mb << 20}",
        f"--fsize={fsize}",
        f"--nproc={tasks}",
        "--",
    ]


def _bwrap(cfg: CodeCheckConfig, python: str, binds: list[str], program_fd: int) -> list[str]:
    new = _bwrap_version() >= (0, 8)  # --size and --disable-userns (Ubuntu 22.04 has 0.6)
    cmd = [_tool("bwrap"), "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    if new:  # no namespaces of its own inside: less of the kernel within the program's reach
        cmd += ["--unshare-user", "--disable-userns"]
    for name, value in ENV.items():
        cmd += ["--setenv", name, value]
    cmd += ["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"]
    cmd += ["--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev"]
    for path in binds:
        cmd += ["--ro-bind", path, path]
    size = ["--size", str(cfg.memory_mb << 20)] if new else []
    cmd += [*size, "--tmpfs", "/tmp", *size, "--tmpfs", "/work"]
    cmd += ["--file", str(program_fd), "/work/main.py", "--remount-ro", "/", "--chdir", "/work"]
    # python is the namespace's pid 1: bwrap's own init would outlive the bwrap that waits for
    # the program, a zombie for the host's init to reap, counted against the uid's processes
    cmd += ["--as-pid-1"]
    return [*cmd, python, "/work/main.py"]


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/bin/{name}"


@functools.cache
def _bwrap_version() -> tuple[int, ...]:
    try:
        out = subprocess.run([_tool("bwrap"), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    found = re.search(r"(\d+)\.(\d+)", out)
    return (int(found[1]), int(found[2])) if found else ()


def interpreter(setting: str) -> tuple[str, list[str]]:
    """The interpreter for `python:` and the folders to bind read-only for it (its prefix,
    when it is outside /usr). Raises FileNotFoundError when there is none."""
    if setting == "auto":
        if os.path.exists(SYSTEM_PYTHON):
            return SYSTEM_PYTHON, []
        v = sys.version_info
        base = Path(sys.base_prefix) / "bin" / f"python{v.major}.{v.minor}"  # not the venv's
        setting = str(base if base.exists() else Path(sys.executable).resolve())
    found = shutil.which(setting)
    if found is None:
        raise FileNotFoundError(setting)
    real = Path(found).resolve()
    if real.is_relative_to("/usr"):
        return str(real), []
    return str(real), [str(real.parent.parent)]  # PREFIX/bin/python: the prefix holds its library


@contextlib.contextmanager
def _sandbox_uid() -> Iterator[int | None]:
    """A uid no other sandbox uses now (as root), held by a lock on its file; None otherwise."""
    if os.geteuid() != 0:
        yield None
        return
    locks = Path(tempfile.gettempdir()) / "glan-sandbox-uids"
    locks.mkdir(mode=0o700, exist_ok=True)
    if locks.is_symlink() or locks.stat().st_uid != 0:  # made by someone else, to hold our uids
        raise RuntimeError(f"{locks}: not root's own folder")
    for i in range(UID_POOL):
        fd = os.open(locks / f"{UID_BASE + i}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield UID_BASE + i
        finally:
            os.close(fd)  # releases the lock
        return
    raise RuntimeError(f"all {UID_POOL} sandbox uids are in use")


def _processes(uid: int) -> dict[int, int]:
    """pid -> threads of the live processes whose real uid is `uid` (the process limit counts
    threads; a zombie is for its parent to reap, and cannot be killed)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, KeyError):  # gone meanwhile
            status = Path(entry.path, "status").read_text()
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
                found[int(entry.name)] = int(fields["Threads"])
    return found


def _clear(uid: int, wait_s: float = 5.0) -> None:
    """Kill what still runs as a sandbox's uid and wait until it is gone, so that the next
    sandbox on this uid starts with its whole process allowance."""
    deadline = time.monotonic() + wait_s
    while (left := _processes(uid)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


@functools.cache
def sandbox_problem(python: str = "auto") -> str | None:
    """None when the sandbox runs a program here, else one line that says what to install or
    set (callers raise it as a ConfigError before a run writes anything). Checked once."""
    lead = "verify.methods has 'code' but"
    if not sys.platform.startswith("linux"):
        return f"{lead} the code sandbox (bubblewrap) needs Linux"
    if shutil.which("bwrap") is None and not os.path.exists("/usr/bin/bwrap"):
        return f"{lead} bubblewrap is missing: apt install bubblewrap"
    if shutil.which("prlimit") is None and not os.path.exists("/usr/bin/prlimit"):
        return f"{lead} prlimit is missing: apt install util-linux"
    try:
        found, _ = interpreter(python)
    except FileNotFoundError:
        return f"{lead} verify.code.python: {python} not found"
    try:
        result = run_python("print('ok')", CodeCheckConfig(python=python, timeout_s=30))
    except OSError as e:
        return f"{lead} the code sandbox does not start: {e}"
    if result.stdout.strip() != "ok":
        why = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
        hint = "" if found == SYSTEM_PYTHON else " (install python3 in /usr/bin, or set verify.code.python)"
        return f"{lead} the code sandbox cannot run {found}: {why}{hint}"
    return None
