"""vLLM (CPU) as a subprocess for the suite: the OpenAI-compatible server, its metrics, and
offline batch files. The engine runs in its own process group, ended as a whole."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# The settings that make vLLM fit here (see shared/reference/vllm-cpu.md): eager mode, a short
# context and a 2 GiB KV cache beside the other work on the machine.
ENGINE_ARGS = ["--dtype", "bfloat16", "--enforce-eager", "--max-model-len", "4096"]
START_TIMEOUT_S = 600.0


def vllm_env() -> dict[str, str]:
    return {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, n: int = 40) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    return "\n".join(lines[-n:])


def end_group(proc: subprocess.Popen, wait_s: float = 60.0) -> None:
    """Stop `proc` and the engine processes it started (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class VLLMServer:
    """`python -m vllm.entrypoints.openai.api_server` on 127.0.0.1, a free port, an API key and
    prefix caching on; its log in `log`."""

    def __init__(self, model_dir: Path, name: str, api_key: str, log: Path) -> None:
        self.model_dir, self.name, self.api_key, self.log = model_dir, name, api_key, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir), "--served-model-name", self.name,
            "--host", "127.0.0.1", "--port", str(self.port), "--api-key", self.api_key,
            "--enable-prefix-caching", *ENGINE_ARGS,
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=vllm_env(), start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {self.proc.returncode}:\n{tail(self.log)}")
            try:
                with urllib.request.urlopen(self.root + "/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1.0)
        self.stop()
        raise RuntimeError(f"vLLM server not ready after {START_TIMEOUT_S:.0f} s:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc is not None:
            end_group(self.proc)
            self.proc = None

    def metrics(self) -> dict[str, float]:
        """The server's Prometheus metrics, summed over labels, by name."""
        with urllib.request.urlopen(self.root + "/metrics", timeout=10) as r:
            text = r.read().decode()
        totals: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0]
            totals[name] = totals.get(name, 0.0) + float(value)
        return totals


def run_batch(model_dir: Path, name: str, src: Path, dest: Path, log: Path) -> None:
    """Answer a Batch API request file offline with `vllm.entrypoints.openai.run_batch`."""
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.run_batch", "-i", str(src), "-o", str(dest),
        "--model", str(model_dir), "--served-model-name", name, *ENGINE_ARGS,
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=vllm_env(), start_new_session=True
        )
    try:
        rc = proc.wait(START_TIMEOUT_S)
    finally:
        end_group(proc)
    if rc != 0:
        raise RuntimeError(f"vllm run_batch exited with {rc}:\n{tail(log)}")
