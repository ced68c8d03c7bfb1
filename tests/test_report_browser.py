"""The report page in a real browser (Debian's chromium, driven by playwright), loaded from a file.

It renders every section with non-empty charts, logs no error, requests nothing but itself, keeps
planted markup inert and visible as text, and its tree and map respond. Screenshots land in
tests/artifacts/ for a person to look at. In CI a missing chromium or playwright fails (conftest).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from glan.config import load_config
from glan.report.collect import collect
from glan.report.html import render
from tests.fakes import FakeBackend
from tests.helpers import run
from tests.report_sample import ATTR, BREAKOUT, IMG, SCRIPT, hostile_report, sample_report

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
HEADINGS = ["Coverage", "Yield and cost", "Diversity", "Lengths and quality", "Samples"]
CHARTED = ["coverage", "yield", "diversity", "lengths"]  # sections whose figures are SVG


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])"
    )
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@dataclass
class Loaded:
    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def load(browser: Any, report: dict, path: Path) -> Loaded:
    """Open the rendered report from a file:// URL, recording every request and every error."""
    path.write_text(render(report), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    loaded = Loaded(page, path.resolve().as_uri())
    page.on("request", lambda r: loaded.requests.append(r.url))
    page.on("console", lambda m: loaded.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: loaded.errors.append(f"page: {e}"))
    page.route("**/*", lambda route: route.continue_() if route.request.url == loaded.url else route.abort())
    page.goto(loaded.url, wait_until="load")
    page.wait_for_timeout(200)
    return loaded


def shapes(page: Any, selector: str) -> int:
    return page.eval_on_selector_all(
        selector, "els => els.reduce((n, e) => n + e.querySelectorAll('rect, circle, path, line').length, 0)"
    )


def check_page(loaded: Loaded, runs: int) -> None:
    page = loaded.page
    assert page.title().startswith("glan report")
    for h in HEADINGS:
        assert page.locator("h2", has_text=h).count() == 1, h
    for key in CHARTED:
        charts = page.locator(f"section#{key} svg")
        assert charts.count() > 0, key
        assert shapes(page, f"section#{key} svg") > 0, key
        # every chart container holds at least one shape
        empty = page.eval_on_selector_all(
            f"section#{key} svg",
            "els => els.filter(e => !e.querySelector('rect, circle, path, line')).length",
        )
        assert empty == 0, key
    assert page.locator("svg.map").count() == runs
    assert page.locator("svg.map circle.pt").count() >= 600 * runs
    assert loaded.errors == []
    assert set(loaded.requests) == {loaded.url}
    assert page.evaluate("window.__pwned") is None
    assert page.locator("script").count() == 1 and page.locator("img").count() == 0


def test_sample_report(browser: Any, tmp_path: Path) -> None:
    loaded = load(browser, sample_report(), tmp_path / "report.html")
    check_page(loaded, 1)
    ARTIFACTS.mkdir(exist_ok=True)
    loaded.page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    loaded.page.close()


def test_comparison(browser: Any, tmp_path: Path) -> None:
    loaded = load(browser, sample_report(2), tmp_path / "compare.html")
    check_page(loaded, 2)
    text = loaded.page.inner_text("body")
    assert "comparing 2 runs" in text and "demo-b" in text
    ARTIFACTS.mkdir(exist_ok=True)
    loaded.page.screenshot(path=str(ARTIFACTS / "report-compare.png"), full_page=True)
    loaded.page.close()


def test_planted_markup_is_inert_and_shown_as_text(browser: Any, tmp_path: Path) -> None:
    loaded = load(browser, hostile_report(2), tmp_path / "hostile.html")
    check_page(loaded, 2)
    page = loaded.page
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    text = page.inner_text("body")
    for planted in (SCRIPT, IMG, BREAKOUT, ATTR, f"discipline {BREAKOUT}", f"run {ATTR}"):
        assert planted in text, planted
    assert page.title() == f"glan report · run {ATTR}, run {ATTR} (2)"
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned") is None and loaded.errors == []
    assert set(loaded.requests) == {loaded.url}
    page.close()


def test_tree_node_opens_and_closes(browser: Any, tmp_path: Path) -> None:
    loaded = load(browser, sample_report(), tmp_path / "tree.html")
    page = loaded.page
    sub_field = page.locator("section#coverage .tree details.node details.node").first
    leaf = sub_field.locator("> .kids > details > summary").first  # a discipline under it
    assert sub_field.evaluate("d => d.open") is False and not leaf.is_visible()
    sub_field.locator("> summary").click()
    assert sub_field.evaluate("d => d.open") is True and leaf.is_visible()
    sub_field.locator("> summary").click()
    assert not leaf.is_visible()
    page.locator("section#coverage [data-open]").click()
    assert (
        page.locator("section#coverage .leaf:visible").count()
        == page.locator("section#coverage .leaf").count()
    )
    assert loaded.errors == []
    page.close()


def test_map_hover_shows_the_instruction_as_text(browser: Any, tmp_path: Path) -> None:
    loaded = load(browser, hostile_report(), tmp_path / "map.html")
    page = loaded.page
    tip = page.locator("#tip")
    assert not tip.is_visible()
    page.locator("svg.map circle.pt").last.hover()  # the planted one, drawn last: on top
    assert tip.is_visible() and tip.inner_text() == SCRIPT
    assert page.evaluate("window.__pwned") is None
    key = page.locator("section#diversity button.key").first  # hide a field's points
    n = page.locator("svg.map circle.pt:visible").count()
    key.click()
    assert 0 < page.locator("svg.map circle.pt:visible").count() < n
    assert loaded.errors == []
    page.close()


class Planted(FakeBackend):
    """The fake LLM whose answers carry markup (generated text is untrusted)."""

    async def chat(self, request: Any) -> Any:
        response = await super().chat(request)
        if (
            request.response_schema is None
            and "Act as an education expert" not in request.messages[-1]["content"]
        ):
            return response.model_copy(update={"text": SCRIPT + " " + IMG + " " + response.text})
        return response


def test_the_report_of_a_real_small_run(browser: Any, tmp_path: Path) -> None:
    """A whole run (a fake LLM, the real steps, the real embedding model) -> glan report -> the
    page in chromium: every section drawn, the map from real embeddings, planted markup inert."""
    cfg = load_config(None, [f"run_dir={tmp_path / 'run'}", "disciplines=[Physics, History]",
                             "subjects.samples=2", "syllabi.min_sessions=3", "syllabi.max_sessions=6",
                             "questions.per_syllabus=6", "critique.enabled=true",
                             "verify.methods=[double_critic]", "verify.on_fail=flag"])  # fmt: skip
    with ThreadPoolExecutor(1) as pool:  # playwright's sync API holds this thread's event loop
        pool.submit(run, cfg, Planted()).result()
    report = collect([cfg.run_dir], sample=200)
    assert report["runs"][0]["diversity"]["vendi"] is not None, report["notes"]
    loaded = load(browser, report, tmp_path / "real.html")
    page = loaded.page
    for h in HEADINGS:
        assert page.locator("h2", has_text=h).count() == 1, h
    assert shapes(page, "section#coverage svg") > 0 and shapes(page, "section#yield svg") > 0
    assert page.locator("svg.map circle.pt").count() > 20
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert SCRIPT in page.inner_text("body")
    assert page.evaluate("window.__pwned") is None and page.locator("img").count() == 0
    assert loaded.errors == [] and set(loaded.requests) == {loaded.url}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-real-run.png"), full_page=True)
    page.close()
