"""The OpenAI Batch API over aiohttp: upload a request file, create a batch, poll it,
download its output and error files. Endpoints that offer it: OpenAI, Azure OpenAI and
servers that copy them; `vllm run-batch` reads and writes the same files offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson

from glan.errors import BackendError, ConfigError
from glan.llm.batch_files import ENDPOINT
from glan.llm.openai_compat import error_detail

FINAL = {"completed", "failed", "expired", "cancelled"}


class BatchAPI:
    def __init__(self, base_url: str, api_key: str | None, timeout_s: float = 600.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url {base_url!r} must start with http:// or https://")
        self.base = base_url.rstrip("/")
        self._secret = api_key
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def _call(self, method: str, path: str, **kw: Any) -> bytes:
        url = self.base + path
        try:
            async with self._http().request(method, url, **kw) as r:
                raw = await r.read()
                status = r.status
        except (TimeoutError, aiohttp.ClientError) as e:
            raise BackendError(f"{type(e).__name__} talking to {url}") from None
        if status in (401, 403):
            raise ConfigError(f"HTTP {status} from {url}: check the API key")
        if status == 404 and path.startswith(("/files", "/batches")) and method == "POST":
            raise ConfigError(f"HTTP 404 from {url}: this endpoint has no Batch API")
        if status >= 400:
            raise BackendError(f"HTTP {status} from {url}: {error_detail(raw, self._secret)}")
        return raw

    async def _json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        raw = await self._call(method, path, **kw)
        try:
            out = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BackendError(f"{self.base}{path}: the answer is not JSON") from None
        if not isinstance(out, dict):
            raise BackendError(f"{self.base}{path}: the answer is not a JSON object")
        return out

    async def upload(self, path: Path) -> str:
        """Upload a request file (purpose "batch"); its file id."""
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        with path.open("rb") as f:
            form.add_field("file", f, filename=path.name, content_type="application/jsonl")
            out = await self._json("POST", "/files", data=form)
        return str(out["id"])

    async def create(self, input_file_id: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        body = {"input_file_id": input_file_id, "endpoint": ENDPOINT, "completion_window": "24h"}
        if metadata:
            body["metadata"] = metadata
        return await self._json(
            "POST", "/batches", data=orjson.dumps(body), headers={"Content-Type": "application/json"}
        )

    async def get(self, batch_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/batches/{batch_id}")

    async def download(self, file_id: str, dest: Path) -> Path:
        """The file's content, streamed to `dest` (renamed into place once complete)."""
        url = f"{self.base}/files/{file_id}/content"
        tmp = dest.with_name(dest.name + ".partial")
        try:
            async with self._http().get(url) as r:
                if r.status >= 400:
                    raise BackendError(f"HTTP {r.status} from {url}")
                with tmp.open("wb") as f:
                    async for chunk in r.content.iter_chunked(1 << 20):
                        f.write(chunk)
        except (TimeoutError, aiohttp.ClientError) as e:
            raise BackendError(f"{type(e).__name__} talking to {url}") from None
        tmp.replace(dest)
        return dest

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
