"""The review page as rendered (no browser): its CSP matches the inline script and style by hash,
it carries the CSRF token, escapes the title, and refers to nothing outside itself."""

from __future__ import annotations

import base64
import hashlib
import html
import re

from glan.review import page

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'


def sha(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())


def test_csp_hashes_match_the_inline_script_and_style() -> None:
    out = page.render("tok", "run")
    scripts = re.findall(r"<script>(.*?)</script>", out, re.S)
    styles = re.findall(r"<style>(.*?)</style>", out, re.S)
    assert len(scripts) == 1 and len(styles) == 1 and "<script " not in out and "<style " not in out
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', out)
    assert meta
    got = directives(html.unescape(meta.group(1)))
    assert got["script-src"] == f"'{sha(scripts[0])}'"
    assert got["style-src"] == f"'{sha(styles[0])}'"
    assert got["default-src"] == "'none'" and got["connect-src"] == "'self'"
    header = directives(page.csp())
    assert header["frame-ancestors"] == "'none'"
    # the meta is the header's policy minus frame-ancestors (ignored, and logged as an error, in a meta)
    assert {k: v for k, v in header.items() if k != "frame-ancestors"} == got


def test_csrf_token_and_title_are_escaped() -> None:
    out = page.render('a"b<c>&', HOSTILE)
    assert '<meta name="csrf-token" content="a&quot;b&lt;c&gt;&amp;">' in out
    assert HOSTILE not in out
    assert html.escape(HOSTILE) in out
    assert "<img" not in out and "<script>window" not in out


def test_no_external_urls_and_no_inline_handlers() -> None:
    out = page.render("tok", "run")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", out, re.I)
    assert "http://" not in out and "https://" not in out
    assert not re.search(r"\son[a-z]+\s*=", out, re.I)  # CSP forbids inline handlers anyway
    assert not re.search(r"\sstyle\s*=", out, re.I)
    for hook in ("reviewer", "rule", "generate", "stop", "status", "job", "filter", "tree"):
        assert f'id="{hook}"' in out
