"""The dataset card is inert: names an LLM or a user wrote never become HTML, links, images,
code or extra table cells in README.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import make_pairs, write_jsonl

from glan.post.card import md
from glan.post.config import PostConfig
from glan.post.pipeline import export

EVIL = {
    "field": "<script>alert(1)</script>",
    "discipline": "Physics | injected | cells\nand a new line",
    "difficulty": "`code` ~~strike~~ **bold** _em_",
    "question_model": "<img src=x onerror=alert(1)>",
    "answer_model": "[click me](javascript:alert(1))",
    "question_sampling": {"note": "```</code><script>alert(2)</script>"},
}


@pytest.fixture()
def card(tmp_path: Path) -> str:
    rows = [dict(r, **EVIL) for r in make_pairs(5)]
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    cfg = PostConfig.model_validate(
        {
            "export": {
                "hf_dataset": "no",
                "dataset_name": "My <b>set</b> ![x](javascript:alert(3))\n# h",
                "system_prompt": "````\n<script>alert(4)</script>",
            }
        }
    )
    export(src, tmp_path / "out", cfg)
    return (tmp_path / "out" / "README.md").read_text()


def test_rendered_card_has_no_active_html_links_or_images(card: str):
    markdown_it = pytest.importorskip("markdown_it")
    body = card.split("\n---\n", 1)[1]  # after the YAML header the hub reads
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(body)
    for bad in ("<script", "<img", "<b>", 'javascript:alert(1)"', "href=", "<strong>bold", "<em>", "<del>"):
        assert bad not in html, (bad, html)
    assert html.count("<h1>") == 1  # the name's newline did not start a heading
    # user text shows up as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "[click me](javascript:alert(1))" in html


def test_every_table_row_has_its_header_cell_count(card: str):
    lines = card.splitlines()
    pipes = [len(re.findall(r"(?<!\\)\|", line)) for line in lines]
    want = None
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            want = None
            continue
        if want is None:  # a header: the line after it is the |---| rule
            assert lines[i + 1].startswith("|---"), line
            want = pipes[i]
        assert pipes[i] == want, line
    assert "| Physics \\| injected \\| cells and a new line |" in card


def test_settings_block_cannot_be_closed_early(card: str):
    block = card.split("## Clean and export settings\n", 1)[1]
    fence = block.splitlines()[0].removesuffix("json")
    assert len(fence) >= 5 and set(fence) == {"`"}  # longer than the ```` in the system prompt
    assert block.rstrip().endswith(fence) and block.count(fence) == 2


def test_md_escapes_one_value():
    assert md("a|b\nc") == "a\\|b c"
    assert md("<img onerror=x>") == "&lt;img onerror=x&gt;"
    assert md("[x](javascript:y)") == "\\[x\\](javascript:y)"
    assert md("`x` *y* _z_ snake_case") == "\\`x\\` \\*y\\* \\_z\\_ snake_case"
    assert md("qwen2.5-1.5b") == "qwen2.5-1.5b"
