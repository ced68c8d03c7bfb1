"""`glan review` in a real browser (Debian's chromium, driven by playwright) against the real
review server on a run made through a fake OpenAI-compatible server: two reviewers vote, the
majority removes a node, the YAML follows, a node added on the page is generated alone; a
taxonomy of hostile names stays inert; the 123-discipline taxonomy expanded stays navigable.
Screenshots land in tests/artifacts/. In CI a missing chromium or playwright fails (conftest)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from glan.config import load_config
from glan.review.app import ReviewApp
from glan.review.server import ReviewServer
from glan.taxonomy import load_taxonomy
from tests.review_fixtures import TAXONOMY, review_server
from tests.test_report_browser import ARTIFACTS, browser  # noqa: F401  (the chromium fixture)

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
HOSTILE = TAXONOMY.replace("  History:", f"  '{SCRIPT}':").replace("- Ancient history", f"- '{IMG}'")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ReviewServer, Any]]:
    """The run and its review server, made off playwright's thread (it holds an event loop)."""
    cm: AbstractContextManager[Any] = review_server(tmp_path, HOSTILE)
    with ThreadPoolExecutor(1) as pool:
        server, fake, _ = pool.submit(cm.__enter__).result()
        try:
            yield server, fake
        finally:
            pool.submit(cm.__exit__, None, None, None).result()


class Reviewer:
    """One browser context (its own cookie) with the page open under a reviewer's name."""

    def __init__(self, browser: Any, server: ReviewServer, name: str) -> None:  # noqa: F811
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(server.url)
        self.page.wait_for_selector("[role=treeitem]")
        self.page.fill("#reviewer", name)
        self.page.press("#reviewer", "Tab")
        self.page.click("#expand-all")
        self.ids = {n["name"]: n["id"] for n in server.app.state()["nodes"]}

    def row(self, name: str) -> Any:
        return self.page.locator(f'[role=treeitem][data-id="{self.ids[name]}"]')

    def click(self, name: str, action: str) -> None:
        self.row(name).locator(f'[data-action="{action}"]').first.click()

    def close(self) -> None:
        self.context.close()


def wait_for(page: Any, predicate: str, arg: Any = None) -> None:
    page.wait_for_function(predicate, arg=arg, timeout=120_000)


def test_two_reviewers_a_majority_and_generation_for_the_new_node(browser: Any, served: Any) -> None:  # noqa: F811
    server, fake = served
    ana, ben = Reviewer(browser, server, "ana"), Reviewer(browser, server, "ben")
    try:
        # a vote shows as pressed once the server answered: wait for each before the next
        pressed = "([id, a]) => document.querySelector(`[data-id='${id}'] [data-action=${a}]`)?.ariaPressed"
        pressed += " === 'true'"
        ana.click("Chemistry", "remove")
        wait_for(ana.page, pressed, [ana.ids["Chemistry"], "remove"])
        ben.click("Chemistry", "remove")
        wait_for(ben.page, pressed, [ben.ids["Chemistry"], "remove"])
        ana.row("Physics").locator(".nm").click()
        ana.page.keyboard.press("k")  # the keyboard votes too
        wait_for(ana.page, pressed, [ana.ids["Physics"], "keep"])
        node = {n["name"]: n for n in server.app.state()["nodes"]}
        assert node["Chemistry"]["votes"] == {"ana": "remove", "ben": "remove"}
        assert node["Chemistry"]["decision"] == "remove" and node["Physics"]["votes"] == {"ana": "keep"}
        reviewed = load_taxonomy(server.app.store.taxonomy)
        assert reviewed.fields["Science"]["Physical sciences"] == ["Physics"]
        log = [json.loads(x) for x in server.app.store.log.read_text().splitlines()]
        made = [(e["reviewer"], e["op"]) for e in log]
        assert made == [("ana", "vote"), ("ben", "vote"), ("ana", "vote")], log

        ana.page.select_option("#rule", "unanimous")  # ben has not voted on Physics: still kept
        said = "rule => document.querySelector('#status').textContent.includes('Decision rule: ' + rule)"
        wait_for(ana.page, said, "unanimous")  # said once the server answered
        assert server.app.review.rule == "unanimous"
        assert "every" in ana.page.inner_text("#rule-desc")
        ana.page.select_option("#rule", "majority")
        wait_for(ana.page, said, "majority")

        ben.click("Physical sciences", "add")
        editor = ben.row("Physical sciences").locator(".ed input")
        editor.fill("Astrobiology")
        editor.press("Enter")
        wait_for(
            ben.page,
            "() => [...document.querySelectorAll('.nm')].some(e => e.textContent === 'Astrobiology')",
        )
        wait_for(
            ana.page,
            "() => [...document.querySelectorAll('.nm')].some(e => e.textContent === 'Astrobiology')",
        )
        assert "Astrobiology" in server.app.store.taxonomy.read_text()

        before = len(fake.bodies)
        ana.page.click("#generate")
        wait_for(ana.page, "() => ['done', 'failed'].includes(document.querySelector('#job').dataset.state)")
        assert ana.page.locator("#job").get_attribute("data-state") == "done", ana.page.inner_text("#job")
        assert "answers" in ana.page.inner_text("#job")
        sent = [json.dumps(b["messages"]) for b in fake.bodies[before:]]
        assert sent and not any("Chemistry" in s for s in sent)
        drafts = [s for s in sent if "education expert" in s]
        assert drafts and all("Astrobiology" in s for s in drafts)
        pairs = {
            n["name"]: n["data"]["pairs"] for n in server.app.state()["nodes"] if n["kind"] == "discipline"
        }
        assert pairs["Astrobiology"] > 0 and pairs["Physics"] > 0 and pairs["Chemistry"] == 0

        for r in (ana, ben):  # the hostile names are text, nothing ran, nothing was fetched
            body = r.page.inner_text("#tree")
            assert SCRIPT in body and IMG in body
            assert r.page.evaluate("window.__pwned") is None and r.page.locator("#tree img").count() == 0
            assert r.errors == [], r.errors
            assert {u.split("?")[0].rsplit(":", 1)[0] for u in r.requests} == {"http://127.0.0.1"}
        ARTIFACTS.mkdir(exist_ok=True)
        ana.page.screenshot(path=str(ARTIFACTS / "review-two-reviewers.png"), full_page=True)
    finally:
        ana.close()
        ben.close()


def test_the_builtin_taxonomy_expanded_stays_navigable(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    app = ReviewApp(load_config(None, [f"run_dir={tmp_path / 'run'}"]), [])
    server = ReviewServer(app)
    server.start()
    try:
        r = Reviewer(browser, server, "ana")
        page = r.page
        disciplines = len(load_taxonomy(None).disciplines())
        assert disciplines == 123
        assert page.locator("[role=treeitem][data-kind=discipline]").count() == disciplines
        page.locator("[role=treeitem] .nm").first.click()
        page.keyboard.press("End")
        last = page.evaluate("document.activeElement.dataset.id")
        assert last == page.locator("[role=treeitem]").last.get_attribute("data-id")
        page.keyboard.press("x")  # remove the last discipline from the keyboard
        pressed = (
            "id => document.querySelector(`[data-id='${id}'] [data-action=remove]`)?.ariaPressed === 'true'"
        )
        wait_for(page, pressed, last)
        page.keyboard.press("/")
        page.keyboard.type("physics")
        wait_for(page, "() => document.querySelectorAll('[role=treeitem]:not([hidden])').length < 20")
        assert r.errors == []
        page.keyboard.press("Escape")
        page.click("#expand-all")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "review-builtin-expanded.png"))
        r.close()
    finally:
        server.stop()
