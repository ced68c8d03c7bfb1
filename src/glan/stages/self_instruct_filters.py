"""Self-Instruct's rules for keeping a generated instruction (Wang et al. 2022, section 2.3).

Each rule is a function of the text that returns its named reason, or None when the text
passes; `CandidateFilter` applies them in the paper's order, then ROUGE-L against the pool
(the seeds and every instruction kept so far), and adds what it keeps to the pool. The
reason is what the step's NAME.removed.jsonl records.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Any

from glan.method_config import SelfInstructConfig
from glan.post.normalize import lcs_masks, lcs_with_masks, tokens

Rejection = tuple[str, dict[str, Any] | None]  # (reason, detail)


def word_count(text: str, min_words: int, max_words: int) -> str | None:
    """Too short to be a task, or too long to be an instruction (whitespace-separated words)."""
    n = len(text.split())
    if n < min_words:
        return "too_short"
    if n > max_words:
        return "too_long"
    return None


class Keywords:
    """Mentions of what a text-only model cannot do (images, files, drawing ...): a keyword of
    the list as a whole word or phrase, in any case, found in list order."""

    def __init__(self, keywords: list[str]) -> None:
        self.patterns = [
            (kw, re.compile(r"\b" + r"\s+".join(map(re.escape, kw.split())) + r"\b", re.IGNORECASE))
            for kw in keywords
            if kw.strip()
        ]

    def __call__(self, text: str) -> str | None:
        for kw, pattern in self.patterns:
            if pattern.search(text):
                return f"keyword:{kw}"
        return None


def write_a_program(text: str) -> str | None:
    """The paper drops "Write a program ...": such tasks get instances that are hard to check."""
    return "write_a_program" if text.lower().startswith("write a program") else None


def leading_punctuation(text: str) -> str | None:
    """A list marker, quote or other debris where the instruction should start."""
    return "leading_punctuation" if text and text[0] in string.punctuation else None


def non_ascii(text: str) -> str | None:
    return "non_ascii" if text and not text[0].isascii() else None


class RougePool:
    """Instructions to compare a candidate with: the most similar by ROUGE-L F (glan.post's
    bit-parallel LCS on normalised tokens, the F-measure rouge-score reports)."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.texts: list[str] = []
        self.toks: list[list[str]] = []
        for t in texts:
            self.add(t)

    def add(self, text: str) -> None:
        self.texts.append(text)
        self.toks.append(tokens(text))

    def most_similar(self, text: str) -> tuple[float, str | None]:
        """(ROUGE-L F, instruction) of the pool instruction most similar to `text`."""
        a = tokens(text)
        m = len(a)
        if not m:
            return 0.0, None
        masks = lcs_masks(a)
        best, best_i = 0.0, -1
        for i, b in enumerate(self.toks):
            n = len(b)
            if not n or 2.0 * min(m, n) / (m + n) <= best:  # cannot beat the best so far
                continue
            score = 2.0 * lcs_with_masks(masks, m, b) / (m + n)
            if score > best:
                best, best_i = score, i
        return best, (self.texts[best_i] if best_i >= 0 else None)


class CandidateFilter:
    """The rules in the paper's order over candidates taken one at a time; a kept one joins
    the pool, so later candidates (of the same round too) are compared with it."""

    def __init__(self, cfg: SelfInstructConfig, pool: list[str]) -> None:
        self.cfg = cfg
        self.keywords = Keywords(cfg.keywords)
        self.pool = RougePool(pool)

    def add(self, text: str) -> None:
        """A task kept earlier (a finished round read back) joins the pool."""
        self.pool.add(text)

    def rejects(self, text: str) -> Rejection | None:
        """Why `text` is dropped, or None when it is kept (and added to the pool)."""
        reason = (
            word_count(text, self.cfg.min_words, self.cfg.max_words)
            or self.keywords(text)
            or write_a_program(text)
            or leading_punctuation(text)
            or non_ascii(text)
        )
        if reason is not None:
            return reason, None
        score, similar = self.pool.most_similar(text)
        if score >= self.cfg.rouge_l_threshold:
            return "rouge_l", {"most_similar": similar, "rouge_l": round(score, 4)}
        self.pool.add(text)
        return None
