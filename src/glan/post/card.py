"""The dataset card (README.md): counts, what each step removed, models and settings used.

Every text that comes from the data or the user (taxonomy and model names, which an LLM may
have written; the dataset name; drop reasons) is escaped: in the card it is inert text, never
HTML, a link, an image or a break in a table.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

import orjson

Record = dict[str, Any]
_MAX_SETTINGS = 20


class Stats:
    """Counts gathered while exporting (bounded by the number of disciplines and models)."""

    def __init__(self) -> None:
        self.splits: Counter[str] = Counter()
        self.fields: Counter[str] = Counter()
        self.disciplines: Counter[tuple[str, str]] = Counter()
        self.difficulty: Counter[str] = Counter()
        self.models: Counter[tuple[str, str]] = Counter()
        self.settings: Counter[tuple[str, str]] = Counter()
        self.methods: Counter[str] = Counter()
        self.turns: Counter[int] = Counter()  # user turns per record (1: a single pair)
        self.missing: Counter[str] = Counter()  # records without a subject / discipline

    def add(self, rec: Record, split: str) -> None:
        self.splits[split] += 1
        self.methods[str(rec.get("method") or "(unknown)")] += 1
        turns = rec.get("messages") or ()
        self.turns[sum(t["role"] == "user" for t in turns) or 1] += 1
        for key in ("subject", "discipline"):
            if not rec.get(key):
                self.missing[key] += 1
        field = str(rec.get("field") or "(none)")
        self.fields[field] += 1
        self.disciplines[(field, str(rec.get("discipline") or "(none)"))] += 1
        if rec.get("difficulty"):
            self.difficulty[str(rec["difficulty"])] += 1
        for role in ("question", "answer"):
            model = rec.get(f"{role}_model")
            if model:
                self.models[(role, str(model))] += 1
            sampling = rec.get(f"{role}_sampling")
            if sampling:
                key = (role, orjson.dumps(sampling, option=orjson.OPT_SORT_KEYS).decode())
                if key in self.settings or len(self.settings) < _MAX_SETTINGS:
                    self.settings[key] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "splits": dict(self.splits),
            "fields": dict(self.fields),
            "disciplines": {f"{f} / {d}": n for (f, d), n in sorted(self.disciplines.items())},
            "difficulty": dict(self.difficulty),
            "models": {f"{r}: {m}": n for (r, m), n in self.models.items()},
            "methods": dict(self.methods),
            "user_turns": {str(k): n for k, n in sorted(self.turns.items())},
        }

    def has(self, key: str) -> bool:
        """Whether some record has `key` (subject, discipline)."""
        return self.missing[key] < sum(self.splits.values())


# what can start Markdown inline structure: code, emphasis, strike-through, links and images
# ([ and ]), table cells; `_` inside a word (exact_dedup) is plain text and stays readable
_MD_PUNCT = re.compile(r"[\\`*\[\]|~]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def md(value: Any) -> str:
    """Text as inert Markdown on one line: HTML special characters become entities, Markdown
    punctuation is backslash-escaped (no links, images, emphasis, code or table cells), line
    breaks become spaces."""
    text = " ".join(str(value).split())
    return html.escape(_MD_PUNCT.sub(lambda m: "\\" + m.group(0), text), quote=False)


def _code_fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in `text`, so it cannot be closed early."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c if isinstance(c, _Raw) else md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class _Raw(str):
    """A table cell that is already Markdown (built here from escaped parts)."""


def render(
    name: str, stats: Stats, report: dict[str, Any], files: dict[str, dict[str, dict[str, str]]]
) -> str:
    """Markdown with a YAML header that the Hugging Face hub reads (configs -> data files)."""
    configs = []
    for fmt, by_split in files.items():
        configs.append(f"- config_name: {fmt}\n  data_files:")
        for s, paths in sorted(by_split.items()):
            p = paths.get("parquet") or paths.get("jsonl")
            configs.append(f"  - split: {s}\n    path: {p}")
    total = sum(stats.splits.values())
    clean = report.get("clean", {})
    out = [
        "---",
        "task_categories:\n- text-generation",
        "language:\n- en",
        "tags:\n- synthetic\n- glan\n- instruction-tuning",
        "configs:",
        *configs,
        "---",
        f"# {md(name)}",
        "",
        "Synthetic instruction-response pairs generated with glan (Generalized Instruction "
        "Tuning, arXiv 2402.13064), then deduplicated, decontaminated and filtered.",
        "",
        f"**{total:,} pairs** exported" + (f" from {clean['read']:,} read" if "read" in clean else "") + ".",
        "",
        "## Splits",
        _table(("split", "pairs"), sorted(stats.splits.items())),
        "",
        "## Formats and files",
        _table(
            ("format", "split", "file"),
            [
                (f, s, _Raw(", ".join(md(p) for p in paths.values())))
                for f, by in files.items()
                for s, paths in sorted(by.items())
            ],
        ),
        "",
    ]
    if set(stats.methods) != {"(unknown)"}:
        out += ["## Pairs per method", _table(("method", "pairs"), stats.methods.most_common()), ""]
    if set(stats.turns) != {1}:
        rows = [("1 (a single pair)" if k == 1 else k, n) for k, n in sorted(stats.turns.items())]
        out += ["## Conversations", _table(("user turns", "pairs"), rows), ""]
    if stats.has("discipline"):  # a taxonomy's counts (GLAN); other methods have none
        out += [
            "## Pairs per field",
            _table(("field", "pairs"), stats.fields.most_common()),
            "",
            "## Pairs per discipline",
            _table(
                ("field", "discipline", "pairs"),
                [(f, d, n) for (f, d), n in sorted(stats.disciplines.items())],
            ),
            "",
        ]
    if stats.difficulty:
        out += ["## Difficulty", _table(("difficulty", "pairs"), stats.difficulty.most_common()), ""]
    out += _quality(report.get("quality") or {})
    removed = clean.get("removed", {})
    rows = [(step, reason, n) for step, by in removed.items() for reason, n in by.items()]
    out += ["## What each step removed"]
    out += [_table(("step", "reason", "pairs"), rows) if rows else "Nothing was removed.", ""]
    if clean:
        out += [
            "Removed pairs are kept in `removed.jsonl` with the step, the reason and what they "
            "matched (the pair they duplicated, or the benchmark item they overlap).",
            "",
        ]
    out += ["## Models and settings"]
    if stats.models:
        out += [_table(("role", "model", "pairs"), [(r, m, n) for (r, m), n in stats.models.most_common()])]
    else:
        out += ["No model information in the input records."]
    if stats.settings:
        out += [
            "",
            _table(
                ("role", "sampling", "pairs"),
                [(r, s, n) for (r, s), n in stats.settings.most_common()],
            ),
        ]
    cfg = report.get("config")
    if cfg:
        dumped = orjson.dumps(cfg, option=orjson.OPT_INDENT_2).decode()
        fence = _code_fence(dumped)  # inside a fenced block HTML and Markdown are inert
        out += ["", "## Clean and export settings", f"{fence}json", dumped, fence]
    return "\n".join(out) + "\n"


QUALITY_STEPS = {
    "critiqued_questions": "Question critique",
    "executed": "Code check",
    "verified": "Verification",
}


def _quality(quality: dict[str, Any]) -> list[str]:
    """The acceptance rate of each quality step (glan.verify.acceptance): per check, per
    method and per discipline; checked counts the pairs (or questions) a check judged."""
    out: list[str] = []
    for step, by in quality.items():
        rows = [
            (kind, name, checked, passed, f"{passed / checked:.0%}" if checked else "-")
            for kind in ("check", "method", "discipline")
            for name, (checked, passed) in by.get(kind, {}).items()
        ]
        if rows:
            title = QUALITY_STEPS.get(step, step)
            out += [
                f"## {md(title)}: acceptance",
                _table(("by", "name", "checked", "accepted", "rate"), rows),
                "",
            ]
    return out
