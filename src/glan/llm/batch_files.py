"""OpenAI Batch API files: requests out as JSONL (also what `vllm run-batch` reads), results
back into the response cache.

A request line is `{"custom_id": <request key>, "method": "POST", "url": "/v1/chat/completions",
"body": <chat body>}`; a result line `{"custom_id": ..., "response": {"status_code": 200,
"body": <chat.completion>}, "error": null}`. The custom id is the cache key, so importing a
result is one cache put and the next run of the step finds every answer cached.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from glan.errors import ConfigError
from glan.llm.base import ChatRequest, ChatResponse
from glan.llm.cache import ResponseCache

ENDPOINT = "/v1/chat/completions"
MAX_LINES = 50_000  # the Batch API's limits per file: 50,000 requests, 200 MB
MAX_BYTES = 190 * 2**20
_KEY = re.compile(r"^[0-9a-f]{64}$")


def request_line(key: str, request: ChatRequest) -> bytes:
    line = {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": request.openai_body()}
    return orjson.dumps(line) + b"\n"


class BatchWriter:
    """Streams requests into `<stem>-NNN.jsonl` files under `folder`, a new file every
    MAX_LINES lines or MAX_BYTES bytes; each file appears (renamed) only once complete."""

    def __init__(
        self, folder: Path, stem: str, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES
    ) -> None:
        self.folder = folder
        self.stem = stem
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.files: list[Path] = []
        self.count = 0
        self._f: Any = None
        self._keys: set[str] = set()
        self._bytes = 0

    def add(self, request: ChatRequest) -> None:
        key = request.key()
        if key in self._keys:  # a custom_id must be unique within a file
            return
        line = request_line(key, request)
        if self._f is None or len(self._keys) >= self.max_lines or self._bytes + len(line) > self.max_bytes:
            self._rotate()
        self._f.write(line)
        self._keys.add(key)
        self._bytes += len(line)
        self.count += 1

    def _rotate(self) -> None:
        self._close_file()
        self.folder.mkdir(parents=True, exist_ok=True)
        n = len(self.files) + 1
        path = self.folder / f"{self.stem}-{n:03d}.jsonl"
        self.files.append(path)
        self._f = path.with_name(path.name + ".partial").open("wb")
        self._keys = set()
        self._bytes = 0

    def _close_file(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            os.replace(self._f.name, self.files[-1])
            self._f = None

    def close(self) -> list[Path]:
        self._close_file()
        return self.files


@dataclass
class ImportReport:
    lines: int = 0
    imported: int = 0
    known: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    models: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


def _error_of(line: dict[str, Any]) -> str | None:
    err = line.get("error")
    if err:
        return str(err.get("message") or err.get("code") or err) if isinstance(err, dict) else str(err)
    resp = line.get("response")
    if not isinstance(resp, dict):
        return "no response"
    if resp.get("status_code") != 200:
        body = resp.get("body")
        msg = body.get("error", {}).get("message") if isinstance(body, dict) else None
        return f"HTTP {resp.get('status_code')}" + (f": {msg}" if msg else "")
    return None


def import_results(path: Path, cache: ResponseCache, report: ImportReport | None = None) -> ImportReport:
    """Put every successful result line of a Batch API output (or error) file into the cache."""
    report = report or ImportReport()
    try:
        f = path.open("rb")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read batch results ({e.strerror})") from None
    with f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                line = orjson.loads(raw)
                key = line["custom_id"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise ConfigError(f"{path}:{n}: not a Batch API result line (no custom_id)") from None
            if not isinstance(key, str) or not _KEY.match(key):
                raise ConfigError(f"{path}:{n}: custom_id {str(key)[:40]!r} is not a glan request key")
            report.lines += 1
            error = _error_of(line)
            if error is None:
                try:
                    resp = ChatResponse.from_openai(line["response"]["body"])
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    error = "malformed response body"
            if error is not None:
                report.errors[" ".join(error.split())[:200]] += 1
                continue
            if not cache.add(key, resp):
                report.known += 1  # imported before: counted (and paid) once
                continue
            report.imported += 1
            report.prompt_tokens += resp.prompt_tokens
            report.completion_tokens += resp.completion_tokens
            report.models[resp.model or "?"] += 1
    return report
