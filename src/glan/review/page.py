"""The review page: `render(csrf, title) -> str`, one HTML document with its script and style inline.

The page loads nothing else. A Content-Security-Policy (`csp()`, also sent as a header by the
server) allows only this script and this stylesheet, by their sha256, and requests to the page's
own origin: a name an LLM wrote could neither run nor fetch anything even if it reached markup.
The script writes every name, note and message as text (see assets/review.js).
"""

from __future__ import annotations

import base64
import hashlib
import html
from functools import cache
from importlib import resources


@cache
def _asset(name: str) -> str:
    text = resources.files("glan.review").joinpath("assets", name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():  # would end the inline element early
        raise RuntimeError(f"glan/review/assets/{name} must not contain a closing script or style tag")
    return text


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _policy() -> str:
    return (
        f"default-src 'none'; script-src 'sha256-{_sha256(_asset('review.js'))}'; "
        f"style-src 'sha256-{_sha256(_asset('review.css'))}'; connect-src 'self'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def csp() -> str:
    """The page's Content-Security-Policy, for the server's response header."""
    return _policy() + "; frame-ancestors 'none'"


def meta_csp() -> str:
    """The same policy for the page's <meta>: without frame-ancestors, which browsers ignore in a
    meta element and report as a console error."""
    return _policy()


_SHORTCUTS = [
    ("↑ ↓", "previous / next row"),
    ("→ ←", "expand or go to the first child / collapse or go to the parent"),
    ("Home End", "first / last row"),
    ("Enter", "expand or collapse"),
    ("k x u", "vote keep / vote remove / clear my vote"),
    ("e F2", "rename"),
    ("a", "add a child (field → sub-field → discipline)"),
    ("m", "move to another parent"),
    ("n", "write my note"),
    ("s", "ask the LLM to suggest children"),
    ("/", "filter by name"),
    ("?", "this help"),
    ("Esc", "close an editor or this help"),
]

_BODY = """
<header class="top"><h1>glan review<span class="ttl">{title}</span></h1>
<label>Your name <input id="reviewer" type="text" maxlength="60" autocomplete="name"
 placeholder="needed to vote">
<span class="need">needed before voting</span></label></header>
<div class="layout"><main>
<div class="head"><div class="bar" role="toolbar" aria-label="Tree tools">
<input id="filter" type="search" placeholder="Filter by name  ( / )" aria-label="Filter by name">
<span class="quick" role="group" aria-label="Show">
<button type="button" data-quick="all" aria-pressed="true">all</button>
<button type="button" data-quick="new" aria-pressed="false">new</button>
<button type="button" data-quick="removed" aria-pressed="false">removed</button>
<button type="button" data-quick="undecided" aria-pressed="false">undecided</button></span>
<button type="button" id="expand-all">Expand all</button>
<button type="button" id="collapse-all">Collapse all</button>
<span id="count" aria-live="polite"></span><span class="sp"></span>
<button type="button" id="add-field" data-action="add">Add field</button>
<button type="button" id="suggest-fields" data-action="suggest" disabled>Suggest fields</button>
<button type="button" id="help-open" aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)">?</button>
</div>
<div id="root-ed"></div>
<div class="cols" aria-hidden="true"><span>Name</span><span>Votes</span><span>My vote</span>
<span class="n" title="subjects">Subj</span><span class="n" title="syllabi">Syll</span>
<span class="n" title="questions">Q</span><span class="n" title="pairs">Pairs</span>
<span class="n" title="kept pairs">Kept</span><span class="n">Cost</span><span></span></div></div>
<div id="tree" role="tree" aria-label="Taxonomy"></div><p id="empty" hidden>No rows match.</p>
</main><aside>
<section><h2><label for="rule">Decision rule</label></h2><select id="rule"></select>
<p id="rule-desc"></p></section>
<section><h2>Generation</h2><div id="pending"><p class="muted">Loading…</p></div>
<div class="gen-btns">
<button type="button" id="generate" class="primary" disabled>Generate for the new nodes</button>
<button type="button" id="stop" class="danger" hidden>Stop</button></div><div id="job"></div></section>
<section><h2>Files</h2><dl id="files"></dl></section>
<section><h2>Reviewers</h2><p id="reviewers" class="muted"></p></section>
</aside></div>
<div id="status" role="status" aria-live="polite"></div>
<dialog id="help" aria-labelledby="help-title"><h2 id="help-title">Keyboard shortcuts</h2>
<table>{shortcuts}</table><p class="muted">Shortcuts act on the selected row and are off while typing.</p>
<button type="button" id="help-close">Close</button></dialog>
"""


def render(csrf: str, title: str) -> str:
    """The whole page; `title` (untrusted) and `csrf` are escaped."""
    esc = html.escape
    shortcuts = "".join(
        f"<tr><td>{' '.join(f'<kbd>{esc(k)}</kbd>' for k in keys.split())}</td><td>{esc(what)}</td></tr>"
        for keys, what in _SHORTCUTS
    )
    body = _BODY.format(title=esc(title), shortcuts=shortcuts)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(meta_csp())}">'
        f'<meta name="csrf-token" content="{esc(csrf)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>glan review · {esc(title)}</title><style>{_asset('review.css')}</style></head>"
        f"<body>{body}<script>{_asset('review.js')}</script></body></html>\n"
    )
