"""A run dir with data for two disciplines (a fake OpenAI-compatible server), a review server on
it, and an HTTP client that holds the cookie and the CSRF token as the page does."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from typer.testing import CliRunner

from glan.cli import app as cli
from glan.config import load_config
from glan.review.app import ReviewApp
from glan.review.server import ReviewServer
from tests.http_fakes import FakeOpenAIServer

TAXONOMY = """\
Science:
  Physical sciences:
    - Physics
    - Chemistry
  Life sciences:
    - Biology
Humanities:
  History:
    - Ancient history
"""


def write_run(tmp: Path, base_url: str, taxonomy: str = TAXONOMY, run: list[str] | None = None) -> Path:
    """A config over `taxonomy` and, run on the disciplines `run` (Physics and Chemistry), its data."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "taxonomy.yaml").write_text(taxonomy)
    settings = {
        "run_dir": str(tmp / "run"),
        "taxonomy": "taxonomy.yaml",
        "disciplines": run or ["Physics", "Chemistry"],
        "subjects": {"samples": 1, "mode": "json"},
        "syllabi": {"min_sessions": 3, "max_sessions": 4},
        "questions": {"per_syllabus": 2},
        "llm": {"backend": "openai", "base_url": base_url, "model": "fake", "api_key_env": None},
    }
    config = tmp / "run.yaml"
    config.write_text(json.dumps(settings))
    result = CliRunner().invoke(cli, ["run", "-c", str(config), "-q"])
    assert result.exit_code == 0, result.output
    return config


@dataclass
class Client:
    host: str
    port: int
    cookie: str = ""
    csrf: str = ""

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        sent = {"Cookie": self.cookie, "X-CSRF-Token": self.csrf, "Content-Type": "application/json"}
        sent.update({k.replace("_", "-"): v for k, v in headers.items()})
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={k: v for k, v in sent.items() if v is not None})
        resp = conn.getresponse()
        raw = resp.read()
        self.last_headers = dict(resp.getheaders())
        conn.close()
        kind = resp.getheader("Content-Type") or ""
        return resp.status, json.loads(raw) if kind.startswith("application/json") else raw.decode()

    def login(self, url: str) -> Client:
        parts = urlsplit(url)
        status, _ = self.request("GET", f"/?{parts.query}")
        assert status == 303, status
        self.cookie = self.last_headers["Set-Cookie"].split(";")[0]
        status, html = self.request("GET", "/")
        assert status == 200
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        return self

    def state(self) -> dict[str, Any]:
        status, body = self.request("GET", "/api/state")
        assert status == 200, body
        return body

    def op(self, who: str, **op: Any) -> tuple[int, Any]:
        return self.request("POST", "/api/op", {"reviewer": who, **op})

    def ids(self) -> dict[str, dict[str, Any]]:
        return {n["name"]: n for n in self.state()["nodes"]}

    def wait_job(self, timeout: float = 300) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            job = self.state()["job"]
            if job["state"] != "running":
                return job
            time.sleep(0.2)
        raise AssertionError("the generation did not end")


@contextmanager
def review_server(
    tmp: Path, taxonomy: str = TAXONOMY
) -> Iterator[tuple[ReviewServer, FakeOpenAIServer, Path]]:
    """A fake LLM server, a run on it, and `glan review`'s server on the run (stopped after)."""
    with FakeOpenAIServer() as fake:
        config = write_run(tmp, fake.base_url, taxonomy)
        server = ReviewServer(ReviewApp(load_config(config, []), ["-c", str(config)]))
        server.start()
        try:
            yield server, fake, config
        finally:
            server.app.job.stop()
            server.app.job.wait(60)
            server.stop()
