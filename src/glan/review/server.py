"""The review's HTTP server: the page, the JSON API (glan/review: app.py), and its guards.

- Bound to 127.0.0.1 unless `allow_remote`; every request needs the token of the URL printed
  at start (the first visit trades it for an HttpOnly, SameSite=Strict cookie and drops it
  from the address bar), and a local server answers only to a local Host header (no DNS
  rebinding).
- A POST must carry the page's CSRF token in `X-CSRF-Token`, be JSON, come from this origin
  (when the browser says where from) and stay under 64 KiB.
- Nothing is served from disk by a request: the only paths are the page and the API, so no
  request can name a file, in the run dir or out of it.
"""

from __future__ import annotations

import json
import secrets
import threading
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from glan.errors import ConfigError, GlanError
from glan.review import page
from glan.review.app import ReviewApp
from glan.review.state import ReviewError

MAX_BODY = 64 * 1024
LOCAL = ("127.0.0.1", "localhost", "::1")
ROUTES = {"/api/op": "act", "/api/suggest": "suggest", "/api/generate": "generate", "/api/stop": "stop"}


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: ReviewApp, host: str = "127.0.0.1", port: int = 0, *,
                 allow_remote: bool = False, token: str | None = None) -> None:  # fmt: skip
        if host not in LOCAL and not allow_remote:
            raise ConfigError(
                f"--host {host}: serving beyond this machine needs --allow-remote (anyone who can "
                "reach it and holds the URL's token can edit the review)"
            )
        if token is not None and len(token) < 16:
            raise ConfigError("--token: use at least 16 characters (or leave it out for a random one)")
        self.app, self.local = app, host in LOCAL
        self.token = token or secrets.token_urlsafe(24)
        self.csrf = secrets.token_urlsafe(24)
        super().__init__((host, port), Handler)
        self.port = self.server_address[1]
        self.cookie = f"glan_review_{self.port}"
        shown = "127.0.0.1" if host in LOCAL else host
        self.url = f"http://{shown}:{self.port}/?token={self.token}"
        app.store.note_url(self.url)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve on a background thread (tests; `glan review` serves on its main thread)."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.app.close()


class Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the URL holds the token: requests are not logged

    # -- answers -------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {
            "Content-Type": ctype,
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": page.csp(),
            **(extra or {}),
        }
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _error(self, status: int, message: str, **more: Any) -> None:
        self._json(status, {"error": message, **more})

    # -- guards --------------------------------------------------------------------------

    def _host_ok(self) -> bool:
        if not self.server.local:
            return True
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        return host in LOCAL

    def _authed(self) -> bool:
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie") or "")
        except Exception:  # noqa: BLE001  a malformed cookie header is no cookie
            return False
        held = jar.get(self.server.cookie)
        return held is not None and secrets.compare_digest(held.value, self.server.token)

    def _post_ok(self) -> str | None:
        """Why a state-changing request is refused, or None."""
        if not secrets.compare_digest(self.headers.get("X-CSRF-Token", ""), self.server.csrf):
            return "missing or wrong CSRF token: reload the page"
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return "send JSON (Content-Type: application/json)"
        origin = self.headers.get("Origin")
        if origin not in (None, "null") and urlsplit(origin).netloc != self.headers.get("Host"):
            return f"cross-origin request from {origin[:100]!r} refused"
        return None

    # -- routes --------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
        if url.path == "/" and (given := parse_qs(url.query).get("token")):
            if not secrets.compare_digest(given[0], self.server.token):
                return self._error(HTTPStatus.FORBIDDEN, "wrong token: open the URL glan review printed")
            cookie = f"{self.server.cookie}={self.server.token}; HttpOnly; SameSite=Strict; Path=/"
            moved = {"Location": "/", "Set-Cookie": cookie}
            return self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", moved)
        if not self._authed():
            return self._error(HTTPStatus.FORBIDDEN, "open the URL glan review printed (it holds the token)")
        if url.path == "/":
            title = str(self.server.app.cfg.run_dir)
            html = page.render(self.server.csrf, title).encode()
            return self._send(HTTPStatus.OK, html, "text/html; charset=utf-8")
        if url.path == "/api/state":
            app = self.server.app
            since = parse_qs(url.query).get("since", [""])[0]
            if since.isdigit() and int(since) == app.changes:
                return self._json(HTTPStatus.OK, {"version": app.changes, "unchanged": True})
            return self._json(HTTPStatus.OK, app.state())
        self._error(HTTPStatus.NOT_FOUND, "not found")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
        if not self._authed():
            return self._error(HTTPStatus.FORBIDDEN, "open the URL glan review printed (it holds the token)")
        if (why := self._post_ok()) is not None:
            return self._error(HTTPStatus.FORBIDDEN, why)
        if path not in ROUTES:
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        try:
            size = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            size = -1
        if not 0 < size <= MAX_BODY:
            return self._error(HTTPStatus.BAD_REQUEST, f"send a JSON body of at most {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(size))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._error(HTTPStatus.BAD_REQUEST, "the body is not JSON")
        if not isinstance(body, dict):
            return self._error(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        app = self.server.app
        try:
            result = getattr(app, ROUTES[path])(body)
        except ReviewError as e:
            extra = {"state": app.state()} if e.status == HTTPStatus.CONFLICT else {}
            return self._error(e.status, str(e), **extra)
        except GlanError as e:
            return self._error(HTTPStatus.CONFLICT, str(e))
        except Exception as e:  # noqa: BLE001  an LLM or disk failure: one line, the server goes on
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(e).__name__}: {e}"[:500])
        self._json(HTTPStatus.OK, result)
