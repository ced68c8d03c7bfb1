"""The report page without a browser: every data path escaped, missing sections, several runs."""

from __future__ import annotations

import copy
import html
from html.parser import HTMLParser

import pytest

from glan.report.html import render
from tests.report_sample import HOSTILE, hostile_report, sample_report

HEADINGS = ["Coverage", "Yield and cost", "Diversity", "Lengths and quality", "Samples"]


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


@pytest.mark.parametrize("runs", [1, 2])
def test_hostile_strings_stay_text(runs: int) -> None:
    page = render(hostile_report(runs))
    tags = parse(page)
    names = [t for t, _ in tags.tags]
    assert names.count("script") == 1 and "img" not in names
    handlers = [(t, k) for t, attrs in tags.tags for k, _ in attrs if k.startswith("on")]
    assert handlers == []
    assert all(s.strip().startswith("(function") for s in tags.scripts)
    for bad in HOSTILE:
        assert bad not in page
        assert html.escape(bad, quote=True) in page  # shown, as text
    for forbidden in ("<svg onload", "</script><script>", "<img", '="window.__pwned'):
        assert forbidden not in page


def test_every_svg_is_ours() -> None:
    """No svg element comes from the data: each one is a chart or a funnel bar drawn here."""
    tags = parse(render(hostile_report(2)))
    classes = {dict(a).get("class") for t, a in tags.tags if t == "svg"}
    assert classes <= {"chart", "chart map", "fbar"}


def test_sample_page_has_every_section_and_no_network_reference() -> None:
    page = render(sample_report())
    for h in HEADINGS:
        assert f"<h2>{h}</h2>" in page
    assert "could not be drawn" not in page and 'class="missing"' not in page
    for scheme in ("http:", "https:", "//cdn", "@import", "url("):
        assert scheme not in page
    tags = parse(page)
    assert not [a for t, a in tags.tags if any(k in ("src", "srcset") for k, _ in a)]
    assert all(v.startswith("#") for t, a in tags.tags for k, v in a if k == "href" and v)
    assert "default-src 'none'" in page


def test_missing_sections_say_so_and_never_crash() -> None:
    report = sample_report()
    run = report["runs"][0]
    for key in ("coverage", "funnel", "cost", "diversity", "lengths", "samples", "totals"):
        run[key] = None
    page = render(report)
    for h in HEADINGS:
        assert f"<h2>{h}</h2>" in page
    assert "could not be drawn" not in page
    assert "No taxonomy coverage" in page and "No diversity metrics" in page and "No samples" in page


def test_partial_sections_a_self_instruct_run() -> None:
    report = sample_report()
    run = report["runs"][0]
    run["coverage"] = None
    run["diversity"].update(vendi=None, map=None, nn_distance=None, embedding_model=None)
    run["lengths"]["verification"] = None
    page = render(report)
    assert "could not be drawn" not in page
    assert "No instruction map" in page and "No nearest-neighbour distances" in page
    assert "No verification" in page


@pytest.mark.parametrize(
    "report",
    [
        {},
        {"runs": None},
        {"runs": [None, 3, "x"]},
        {"runs": [{}]},
        {"runs": [{"name": None, "coverage": []}]},
    ],
)
def test_degenerate_reports(report: dict) -> None:
    page = render(report)
    assert page.startswith("<!DOCTYPE html>") and "could not be drawn" not in page


def test_wrong_types_everywhere_never_crash() -> None:
    """Every value replaced by a string, a list, None or a dict in turn: the page still renders."""
    base = sample_report()
    run = base["runs"][0]
    for key in run:
        for junk in ("x", [1, "y"], None, {"a": "b"}, 7):
            report = copy.deepcopy(base)
            report["runs"][0][key] = junk
            render(report)
    for key in ("tree", "difficulty"):
        report = copy.deepcopy(base)
        report["runs"][0]["coverage"][key] = "x"
        assert "could not be drawn" not in render(report)


def test_comparison_shows_both_runs_everywhere() -> None:
    report = sample_report(2)
    page = render(report)
    assert "comparing 2 runs" in page
    for name in ("demo", "demo-b"):
        assert page.count(f">{name}<") >= 5  # header, tree column, funnel, cost, map, samples ...
    assert page.count('class="chart map"') == 2  # one map per run
    assert page.count("<h4>") >= 6


def test_repeated_run_names_get_their_own_label() -> None:
    report = sample_report(2)
    report["runs"][1]["name"] = "demo"
    page = render(report)
    assert "demo (2)" in page


def test_zero_pair_subjects_are_marked() -> None:
    page = render(sample_report())
    assert page.count("0 pairs</span>") == 2  # sample_run leaves two subjects empty
    assert "subjects with no pairs" in page
