"""Batch API stand-ins for tests: a local batch processor (what `vllm run-batch` does: each
request line sent to a chat-completions endpoint, one result line back), and a fake server
with OpenAI's /v1/files and /v1/batches that processes the files it is given."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.http_fakes import FakeOpenAIServer


def result_line(custom_id: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"batch_req_{custom_id[:12]}",
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": f"req_{custom_id[:8]}", "body": body},
        "error": None,
    }


async def process_lines(
    lines: list[dict[str, Any]], base_url: str, api_key: str | None = None, concurrency: int = 4
) -> list[dict[str, Any]]:
    """Each request line POSTed to base_url + its url (minus /v1); its result line."""
    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def one(line: dict[str, Any]) -> dict[str, Any]:
            assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
            async with sem, http.post(base_url + "/chat/completions", json=line["body"]) as r:
                body = await r.json(content_type=None)
                return result_line(line["custom_id"], r.status, body)

        return list(await asyncio.gather(*(one(line) for line in lines)))


def process_batch_file(src: Path, dest: Path, base_url: str, api_key: str | None = None) -> int:
    """A local batch processor: request file in, result file out. The number of lines."""
    lines = [json.loads(x) for x in src.read_text().splitlines() if x.strip()]
    results = asyncio.run(process_lines(lines, base_url, api_key))
    dest.write_text("".join(json.dumps(r) + "\n" for r in results))
    return len(results)


class FakeBatchServer(FakeOpenAIServer):
    """A FakeOpenAIServer with the Batch API: uploaded request files are answered through its
    own chat-completions route. `fail_next` request lines get a 500 in the error file."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.fail_next = 0
        self.polls = 0
        self._ids = itertools.count(1)

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{id}/content", self._content)
        app.router.add_post("/v1/batches", self._create)
        app.router.add_get("/v1/batches/{id}", self._get)

    def _auth_ok(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        form = await request.post()
        assert form["purpose"] == "batch"
        upload = form["file"]
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = upload.file.read()  # type: ignore[union-attr]
        return web.json_response({"id": file_id, "object": "file", "purpose": "batch"})

    async def _content(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["id"])
        if data is None:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        return web.Response(body=data, content_type="application/jsonl")

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        assert body["endpoint"] == "/v1/chat/completions" and body["completion_window"] == "24h"
        src = self.files[body["input_file_id"]]
        batch = {
            "id": f"batch_{next(self._ids)}",
            "object": "batch",
            "status": "validating",
            "input_file_id": body["input_file_id"],
            "metadata": body.get("metadata"),
            "created_at": int(time.time()),
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
        }
        self.batches[batch["id"]] = batch
        lines = [json.loads(x) for x in src.decode().splitlines() if x.strip()]
        asyncio.get_running_loop().create_task(self._process(batch, lines))
        return web.json_response(batch)

    async def _process(self, batch: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        await asyncio.sleep(0.05)
        batch["status"] = "in_progress"
        batch["request_counts"]["total"] = len(lines)
        failing, self.fail_next = lines[: self.fail_next], 0
        results = await process_lines(lines[len(failing) :], self.base_url, self.api_key)
        errors = [
            result_line(x["custom_id"], 500, {"error": {"message": "The server had an error"}})
            for x in failing
        ]
        batch["status"] = "finalizing"
        await asyncio.sleep(0.05)
        for kind, rows in (("output_file_id", results), ("error_file_id", errors)):
            if rows:
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[kind] = file_id
        batch["request_counts"].update(completed=len(results), failed=len(errors))
        batch["status"] = "completed"

    async def _get(self, request: web.Request) -> web.Response:
        self.polls += 1
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        return web.json_response(batch)
