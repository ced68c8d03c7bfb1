"""Quality filters: each is a named check that returns a drop reason (or None to keep)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from glan.errors import ConfigError
from glan.post.base import Record, Removed
from glan.post.config import FilterConfig
from glan.post.normalize import lcs_len, prompt_text, prompt_tokens, response_tokens

Check = Callable[[Record], str | None]
_HEAD = 400  # characters of a text that ^-anchored template patterns look at


def _compile(patterns: list[str], what: str) -> re.Pattern[str] | None:
    if not patterns:
        return None
    flags = re.IGNORECASE | re.MULTILINE
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns), flags)
    except re.error as exc:
        raise ConfigError(f"bad {what} pattern: {exc}") from exc


def _outside(n: int, lo: int, hi: int) -> str | None:
    """The drop reason when a word count falls outside [lo, hi], else None."""
    if n < lo:
        return f"{n} words < {lo}"
    if n > hi:
        return f"{n} words > {hi}"
    return None


def _words(rec: Record, key: str, text: str) -> int:
    """Whitespace-separated words (cached on the record): cheap, used for length bounds."""
    n = rec.get(key)
    if n is None:
        n = rec[key] = len(text.split())
    return n


def make_checks(cfg: FilterConfig) -> dict[str, Check]:
    """The enabled filters by name, in a fixed order (cheap ones first)."""
    refusal = _compile(cfg.refusal_patterns, "refusal")
    # a pattern starting with ^ is matched at the start of a text, any other is searched
    # for in all of it; each is compiled alone (re is fast on a literal first character)
    heads = [_compile([p], "template_patterns") for p in cfg.template_patterns if p.startswith("^")]
    anywhere = [_compile([p], "template_patterns") for p in cfg.template_patterns if not p.startswith("^")]

    def empty_response(rec: Record) -> str | None:
        return None if rec["response"].strip() else "empty response"

    def truncated(rec: Record) -> str | None:
        fr = rec.get("finish_reason")
        return "finish_reason=length" if fr == "length" else None

    def instruction_length(rec: Record) -> str | None:
        n = _words(rec, "_pw", prompt_text(rec))
        return _outside(n, cfg.instruction_min_words, cfg.instruction_max_words)

    def response_length(rec: Record) -> str | None:
        n = _words(rec, "_rw", rec["response"])
        return _outside(n, cfg.response_min_words, cfg.response_max_words)

    def refusal_check(rec: Record) -> str | None:
        if refusal is None or _words(rec, "_rw", rec["response"]) > cfg.refusal_max_words:
            return None
        m = refusal.search(rec["response"])
        return f"refusal: {m.group(0)[:60]!r}" if m else None

    def repeats_question(rec: Record) -> str | None:
        if _words(rec, "_rw", rec["response"]) > 2 * _words(rec, "_pw", prompt_text(rec)) + 5:
            return None
        r, p = response_tokens(rec), prompt_tokens(rec)
        if not r or not p:
            return None
        share = lcs_len(r, p) / len(r)
        return (
            f"{share:.0%} of the response repeats the instruction"
            if (share >= cfg.repeat_threshold)
            else None
        )

    def template_leftover(rec: Record) -> str | None:
        for key in ("instruction", "response"):
            text = rec[key]
            for rx in heads:
                m = rx.match(text, 0, _HEAD)
                if m:
                    return f"{key}: {m.group(0).strip()[:60]!r}"
            for rx in anywhere:
                m = rx.search(text)
                if m:
                    return f"{key}: {m.group(0).strip()[:60]!r}"
        return None

    def verification(rec: Record) -> str | None:
        """The verdicts that travel with a pair (glan.recipes.quality): a flagged failure, an
        agreement under the threshold, or (when required) no verdict at all."""
        verdict = (rec.get("meta") or {}).get("verify")
        if not isinstance(verdict, dict):
            return "no verdict (require_verified)" if cfg.require_verified else None
        if verdict.get("passed") is False:
            return f"{verdict.get('method')}: {verdict.get('reason') or 'failed'}"
        agreement = verdict.get("agreement")
        if agreement is not None and agreement < cfg.min_agreement:
            return f"agreement {agreement:.2f} < {cfg.min_agreement:.2f}"
        return None

    table: dict[str, Check] = {
        "empty_response": empty_response,
        "truncated": truncated,
        "instruction_length": instruction_length,
        "response_length": response_length,
        "template_leftover": template_leftover,
        "refusal": refusal_check,
        "repeats_question": repeats_question,
        "verification": verification,
    }
    return {name: fn for name, fn in table.items() if name in cfg.enabled}


class QualityFilter:
    """Runs the enabled checks in order; the first that fires names the drop reason."""

    name = "filter"

    def __init__(self, cfg: FilterConfig) -> None:
        self.checks = make_checks(cfg)

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]:
        checks = list(self.checks.items())
        for rec in records:
            for fname, check in checks:
                why = check(rec)
                if why is not None:
                    removed.drop(rec, self.name, fname, why)
                    break
            else:
                yield rec
