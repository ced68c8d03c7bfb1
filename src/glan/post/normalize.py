"""Text normalisation shared by every step, fast LCS / ROUGE-L, and n-gram window hashes."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np

_WORD = re.compile(r"\w+")
# ASCII fast path, identical to \w+ on ASCII text: keep [A-Za-z0-9_] (lower-cased), else space
_ASCII = str.maketrans(
    {i: (chr(i).lower() if chr(i).isalnum() or chr(i) == "_" else " ") for i in range(128)}
)
_P = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64
_P_INV = pow(_P, -1, 2**64)
_pow_cache: dict[str, np.ndarray] = {}


def tokens(text: str) -> list[str]:
    """Normalised word tokens: NFKC, lower case, runs of letters/digits/underscore."""
    if text.isascii():
        return text.translate(_ASCII).split()
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def normalize(text: str) -> str:
    """The normalised form used for exact matching: tokens joined by single spaces."""
    return " ".join(tokens(text))


def prompt_text(rec: dict[str, Any]) -> str:
    """The user turn of a pair: the instruction, then the Alpaca `input` when there is one."""
    extra = rec.get("input")
    return f"{rec['instruction']}\n\n{extra}" if extra else rec["instruction"]


def prompt_tokens(rec: dict[str, Any]) -> list[str]:
    """Tokens of the user turn, computed once and cached on the record (key `_ptok`)."""
    tok = rec.get("_ptok")
    if tok is None:
        tok = rec["_ptok"] = tokens(prompt_text(rec))
    return tok


def response_tokens(rec: dict[str, Any]) -> list[str]:
    """Tokens of the response, cached on the record (key `_rtok`)."""
    tok = rec.get("_rtok")
    if tok is None:
        tok = rec["_rtok"] = tokens(rec["response"])
    return tok


def public(rec: dict[str, Any]) -> dict[str, Any]:
    """The record without the private `_` keys the steps cache on it."""
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def lcs_masks(a: list[Any]) -> dict[Any, int]:
    """Match masks of a sequence: token -> bit set of its positions (for `lcs_with_masks`)."""
    masks: dict[Any, int] = {}
    for i, t in enumerate(a):
        masks[t] = masks.get(t, 0) | (1 << i)
    return masks


def lcs_len(a: list[Any], b: list[Any]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyro 2004): O(len(b)) int ops."""
    if not a or not b:
        return 0
    return lcs_with_masks(lcs_masks(a), len(a), b)


def lcs_with_masks(masks: dict[Any, int], m: int, b: list[Any]) -> int:
    """LCS of a sequence given by its match masks (length m) and `b`."""
    full = (1 << m) - 1
    v = full
    get = masks.get
    for t in b:
        u = get(t)
        if u:
            u &= v
            v = ((v + u) | (v - u)) & full
    return m - v.bit_count()


def rouge_l_f(a: list[Any], b: list[Any]) -> float:
    """ROUGE-L F1 of two token lists (the F-measure rouge-score reports, beta = 1)."""
    if not a or not b:
        return 0.0
    return 2.0 * lcs_len(a, b) / (len(a) + len(b))


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P**i and P**-i (mod 2**64) for i < n, grown by doubling."""
    pw = _pow_cache.get("pw")
    if pw is None:
        pw, ipw = np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)
    else:
        ipw = _pow_cache["ipw"]
    while len(pw) < n:
        m = len(pw)
        pw = np.concatenate([pw, pw * np.uint64(pow(_P, m, 2**64))])
        ipw = np.concatenate([ipw, ipw * np.uint64(pow(_P_INV, m, 2**64))])
    _pow_cache["pw"], _pow_cache["ipw"] = pw, ipw
    return pw, ipw


def _powers32(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P**i and P**-i modulo 2**32 (the low halves of the 64-bit powers)."""
    pw32 = _pow_cache.get("pw32")
    if pw32 is None or len(pw32) < n:
        pw, ipw = _powers(n)
        _pow_cache["pw32"], _pow_cache["ipw32"] = pw.astype(np.uint32), ipw.astype(np.uint32)
    return _pow_cache["pw32"], _pow_cache["ipw32"]


def prefix_sums(th: np.ndarray) -> np.ndarray:
    """Prefix sums S of t[i] * P**i (mod 2**64) over a concatenation of token hashes."""
    pw, _ = _powers(len(th) + 1)
    s = np.zeros(len(th) + 1, dtype=np.uint64)
    np.cumsum(th.astype(np.uint64, copy=False) * pw[: len(th)], out=s[1:])
    return s


def window_hashes(s: np.ndarray, k: int) -> np.ndarray:
    """Hash of every k-token window, equal wherever the same k tokens occur: sum t[i+j] P**j."""
    n = len(s) - 1 - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    _, ipw = _powers(len(s))
    return (s[k : k + n] - s[:n]) * ipw[:n]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the bits of a polynomial hash."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def spaced(text: str) -> str:
    """The text with every non-word character turned into a space (same tokens as `tokens`)."""
    if text.isascii():
        return text.translate(_ASCII)
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


class TokenBatch:
    """Many texts tokenised and hashed at once with numpy, no Python string per token.

    `th` holds one 64-bit hash per token, texts end to end; text i owns tokens
    `starts[i] : starts[i] + lens[i]`. `words(i, k)` gives back the text of k tokens from i.
    """

    def __init__(self, texts: list[str]) -> None:
        pieces = [spaced(t).encode() for t in texts]
        self.buf = b" ".join(pieces) + b" "
        blen = np.fromiter(map(len, pieces), np.int64, len(pieces))
        bstart = np.zeros(len(pieces), dtype=np.int64)
        if len(pieces) > 1:
            np.cumsum(blen[:-1] + 1, out=bstart[1:])
        a = np.frombuffer(self.buf, dtype=np.uint8)
        edge = np.diff((a != 32).view(np.int8), prepend=np.int8(0))
        self.tok_start = np.nonzero(edge == 1)[0]
        self.tok_end = np.nonzero(edge == -1)[0]
        # 32-bit polynomial hash of each token's bytes (half the memory traffic of 64-bit),
        # widened with the token length and mixed to 64 bits
        pw, ipw = _powers32(len(a) + 1)
        s = np.zeros(len(a) + 1, dtype=np.uint32)
        np.cumsum(a * pw[: len(a)], out=s[1:], dtype=np.uint32)
        raw = (s[self.tok_end] - s[self.tok_start]) * ipw[self.tok_start]
        span = (self.tok_end - self.tok_start).astype(np.uint64)
        self.th = _mix(raw.astype(np.uint64) | (span << np.uint64(32)))
        first = np.searchsorted(self.tok_start, bstart)
        last = np.searchsorted(self.tok_start, bstart + blen)
        self.starts, self.lens = first, last - first

    def words(self, i: int, k: int) -> str:
        """The normalised text of tokens i .. i+k-1 (global token positions)."""
        return " ".join(self.buf[self.tok_start[i] : self.tok_end[i + k - 1]].decode().split())
