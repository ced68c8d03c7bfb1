"""Short final answers in LLM responses, for self-consistency verification: extract the answer a
response states (`final_answer`), put it in a canonical form (`normalize`), compare two answers
with a numeric tolerance (`same_answer`) and keep the majority of k sampled answers (`majority`).
Pure functions, no LLM."""

from __future__ import annotations

import math
import re

__all__ = ["asks_short_answer", "final_answer", "majority", "normalize", "same_answer"]

MAX_ANSWER_CHARS = 80  # longer than this is not a short answer (an essay's sentence)

# Markers of a stated answer; the one that occurs last in the response wins.
_FINAL = re.compile(r"(?i)final[ \t]+answer[ \t]*(?:\*\*|__)?[ \t]*[:：](?P<x>[^\n]*)")
_FINAL_HEADING = re.compile(r"(?im)^[ \t#>*_]*final[ \t]+answer[ \t*_:]*$")  # the answer on the next line
_ANSWER_IS = re.compile(
    r"(?i)\b(?:(?:final|correct|right)[ \t]+answer|answer|(?:correct|right|best)[ \t]+(?:option|choice))"
    r"[ \t*_]+(?:is|would[ \t]+be)[ \t*_]*[:：]?(?P<x>[^\n]*)"
)
_ANSWER_LINE = re.compile(r"(?im)^[ \t>*_#-]*answer[ \t*_]*[:：](?P<x>[^\n]*)")
_CHOICE_IS_CORRECT = re.compile(
    r"(?:\b(?i:option|choice)[ \t]+\(?(?P<a>[A-J])\)?|\((?P<b>[A-J])\)|\b(?P<c>[A-J]))\s+is\s+"
    r"(?:the\s+)?(?i:correct|right)\b"
)
_GSM8K = re.compile(r"(?m)^####[ \t]*(?P<x>[-+−$]?[ \t]*\d[^\n]*)$")
_BOXED = re.compile(r"\\(?:boxed|fbox)[ \t]*\{")
# Where a sentence that states the answer ends: "The answer is 42, since ..." -> "42".
_SENTENCE_END = re.compile(r"\.(?=\s|$)|;|,\s+(?:which|since|because|so|as|and)\b")
# "The answer is that ..." and the like are prose, not a stated answer.
_PROSE = re.compile(r"(?i)^(?:that|not|because|to|a matter|simple|complex|complicated|nuanced|it)\b")
_CHOICE_OR_NUMBER = re.compile(r"^(?:\(?[A-Ja-j]\)?(?:[.):\s]|$)|[-+−$\\(~≈]*\s*\d)")
_LEADING_CHOICE = re.compile(r"^(?:\([A-J]\)|[A-J](?:[.):]|$))(?:\s|$)")
_NUMBER_TOKEN = re.compile(r"(?<![\w^.])[-−]?\$?\d[\d,]*(?:\.\d+)?%?")


def _braced(text: str, start: int) -> str | None:
    """The text inside the balanced braces that open at `start` (None when they never close)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def _next_line(text: str, pos: int) -> str:
    for line in text[pos:].splitlines():
        if line.strip():
            return line
    return ""


def _tidy(x: str) -> str:
    """The answer itself from the text after a marker: markdown and a sentence's words around it
    stripped ("**v = 12 m/s**." -> "12 m/s", "The speed is 12 m/s" -> "12 m/s"; a sentence with
    one number: from the number on)."""
    boxed = list(_BOXED.finditer(x))
    if boxed:
        x = _braced(x, boxed[-1].end() - 1) or x
    bold = re.findall(r"\*\*(.+?)\*\*", x)
    if len(bold) == 1 and x.strip(" \t.") != f"**{bold[0]}**":  # "The tank is full after **2 hours**."
        x = bold[0]
    x = re.sub(r"\*\*|__|`", "", x).strip(" \t*_>")
    if _LEADING_CHOICE.match(x):  # "(C) I = 0.25 kg m^2": the choice is the answer
        return x.rstrip(".").strip()
    x = re.split(r"=|≈", x)[-1].strip() if re.search(r"(?<![<>!=])=(?!=)|≈", x) else x
    said = re.match(r"(?i)^[a-z][^=]*?\bis\s+(?:approximately\s+|about\s+|roughly\s+)?(?=[-+−$\\(]?\d)", x)
    if said:
        x = x[said.end() :]
    numbers = list(_NUMBER_TOKEN.finditer(x))
    if len(numbers) == 1 and re.match(r"[A-Za-z]+\s+[A-Za-z]+", x):  # "The car travels 120 km."
        x = x[numbers[0].start() :]
    return x.strip().rstrip(".").strip()


def _candidates(text: str) -> list[tuple[int, str, bool]]:
    """(position, answer text, is the "answer is" phrasing) for every marker in the text."""
    found: list[tuple[int, str, bool]] = []
    for m in _FINAL.finditer(text):
        x = m["x"] if m["x"].strip(" \t*_") else _next_line(text, m.end())
        found.append((m.start(), x, False))
    for m in _FINAL_HEADING.finditer(text):
        found.append((m.start(), _next_line(text, m.end()), False))
    for m in _ANSWER_IS.finditer(text):
        found.append((m.start(), _SENTENCE_END.split(m["x"], maxsplit=1)[0], True))
    for m in _ANSWER_LINE.finditer(text):
        x = m["x"].strip(" \t*_")
        if _CHOICE_OR_NUMBER.match(x):  # "Answer:" heads essays too; only a choice or a number counts
            found.append((m.start(), x, False))
    for m in _CHOICE_IS_CORRECT.finditer(text):
        found.append((m.start(), f"({m['a'] or m['b'] or m['c']})", False))
    for m in _GSM8K.finditer(text):
        found.append((m.start(), m["x"], False))
    for m in _BOXED.finditer(text):
        inner = _braced(text, m.end() - 1)
        if inner is not None:
            found.append((m.start(), inner, False))
    return sorted(found, key=lambda c: c[0])


def final_answer(text: str, loose: bool = False) -> str | None:
    """The final answer `text` states, or None when it states no short one (an essay).

    Recognised, the last occurrence winning: `Final answer: X` (also bold, or a "Final Answer"
    heading with X on the next line), `\\boxed{X}`, `The (final / correct) answer is X`,
    `Answer: (B)` (a choice or a number only: "Answer:" also heads essays), `(B) is correct`,
    `#### X` (GSM8K). An answer longer than MAX_ANSWER_CHARS is no short answer: None.

    `loose=True` adds one fallback when no marker is found: the last paragraph, when it is at
    most 120 characters and holds exactly one number, gives that number. Off by default since
    the last number of an essay means nothing.
    """
    for _pos, raw, phrased in reversed(_candidates(text)):
        answer = _tidy(raw)
        if not answer or (phrased and _PROSE.match(answer)):
            continue
        return answer if len(answer) <= MAX_ANSWER_CHARS else None
    if loose:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        if paragraphs and len(paragraphs[-1]) <= 120:
            numbers = _NUMBER_TOKEN.findall(paragraphs[-1])
            if len(numbers) == 1:
                return numbers[0]
    return None


# ---- normal form -------------------------------------------------------------------------
_LATEX_WRAPPERS = re.compile(
    r"\\(?:text|mathrm|textbf|mathbf|textrm|textit|mathit|operatorname|mbox|boxed|fbox)\s*\{([^{}]*)\}"
)
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_CHOICE = re.compile(r"^(?:(?:option|choice|answer)\s*)?(?:\((?P<a>[a-j])\)|(?P<b>[a-j])(?:[).:]|$))(?:\s|$)")
_NUMBER = re.compile(
    r"""^(?:approximately\s+|about\s+|roughly\s+|[~≈]\s*)?
    (?P<sign>[-+−])?\s*(?:\$|usd\s*|€|£)?\s*(?P<sign2>[-+−])?\s*
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)
    (?:\s*(?:×|x|\*|·)\s*10\s*\^\s*(?P<exp>[-+−]?\d+)|e(?P<exp2>[-+]?\d+))?
    (?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?
    \s*(?P<rest>.*)$""",
    re.X,
)


def _strip_latex(s: str) -> str:
    s = re.sub(r"(?<=\d)\\[,;:! ](?=\d{3}\b)", "", s)  # 1\,200: a thousands separator
    s = re.sub(r"\\[,;:! ]|~", " ", s)
    s = re.sub(r"\^\s*\{?\\circ\}?|\\circ|\\degree", "°", s)
    s = s.replace("\\%", "%").replace("\\$", "$").replace("\\times", "×").replace("\\cdot", "·")
    s = re.sub(r"\\left|\\right|\\displaystyle", "", s)
    s = re.sub(r"\\\(|\\\)|\\\[|\\\]|\$", "", s)
    previous = None
    while previous != s:  # inside out: \text{\textbf{x}}, \frac{\text{1}}{2}
        previous = s
        s = _LATEX_WRAPPERS.sub(r"\1", s)
        s = _LATEX_FRAC.sub(r"\1/\2", s)
    return s.replace("{", "").replace("}", "")


def _split_number(s: str) -> tuple[float, str] | None:
    """(value, unit) of a normalised answer that starts with a number; "%" / "percent" -> "%"."""
    m = _NUMBER.match(s)
    if m is None:
        return None
    value = float(m["num"].replace(",", ""))
    exp = m["exp"] or m["exp2"]
    if exp:
        value *= 10.0 ** int(exp.replace("−", "-"))
    if m["den"]:
        if float(m["den"]) == 0:
            return None
        value /= float(m["den"])
    if (m["sign"] or m["sign2"]) in ("-", "−"):
        value = -value
    unit = re.sub(r"^(?:percent|per cent)\b", "%", m["rest"].strip())
    return value, unit


def _format_number(value: float) -> str:
    text = format(value, ".12g")
    return "0" if text == "-0" else text


def normalize(answer: str) -> str:
    """The canonical form of a short answer, for comparison: latex and markdown wrappers off,
    lower case, no trailing period; a single choice letter ("(B)", "B)", "B.", "option B", also
    with text after it: "(B) 42 m") -> "b"; a number without thousands separators or currency
    sign and with fractions evaluated ("$1,200.50" -> "1200.5", "\\frac{3}{4}" -> "0.75"),
    its unit kept ("12.0 m/s" -> "12 m/s", "45 percent" -> "45%")."""
    s = _strip_latex(answer.strip())
    s = re.sub(r"\*\*|__|`", "", s).strip(" \t\"'*_")
    s = re.sub(r"\s+", " ", s.lower()).strip().rstrip(" .;,:")
    choice = _CHOICE.match(s)
    if choice:
        return choice["a"] or choice["b"]
    s = re.sub(r"^[a-z][a-z0-9_]{0,10}\s*(?:=|≈)\s*", "", s)  # "v = 12 m/s"
    number = _split_number(s)
    if number is None:
        return s
    value, unit = number
    if not unit or unit == "%":
        return _format_number(value) + unit
    return f"{_format_number(value)} {unit}"


def same_answer(a: str, b: str, rel_tol: float = 1e-4) -> bool:
    """Whether two short answers agree: equal normal forms, or both numbers within `rel_tol`
    (and 1e-9 absolute) whose units are equal, or absent from either one."""
    na, nb = normalize(a), normalize(b)
    if na == nb:
        return True
    pa, pb = _split_number(na), _split_number(nb)
    if pa is None or pb is None:
        return False
    (va, ua), (vb, ub) = pa, pb
    if ua and ub and ua != ub:
        return False
    return math.isclose(va, vb, rel_tol=rel_tol, abs_tol=1e-9)


def majority(answers: list[str | None]) -> tuple[str | None, int, int]:
    """(a representative of the largest group of agreeing answers, its size, the number of
    answers that are not None). Ties go to the group seen first; None never wins."""
    groups: list[list[str]] = []
    for answer in answers:
        if answer is None:
            continue
        for group in groups:
            if same_answer(group[0], answer):
                group.append(answer)
                break
        else:
            groups.append([answer])
    if not groups:
        return None, 0, 0
    best = max(groups, key=len)  # max keeps the first of equal sizes
    return best[0], len(best), sum(len(g) for g in groups)


_OPTION = re.compile(r"\(([A-E])\)|(?m:^[ \t]*([A-E])[.)][ \t]+\S)")
_ASKS_COMPUTATION = re.compile(
    r"(?i)\b(?:calculate|compute|convert|how many|how much|how long|how far|how fast|what is the value|"
    r"find the|determine the|evaluate|solve for|what percentage)\b"
)


def asks_short_answer(question: str) -> bool:
    """A heuristic, not a classifier: whether `question` likely has a short final answer.
    True for multiple choice (options (A) and (B), or lines "A." / "A)" and "B." / "B)"), and
    for a computation ("calculate", "compute", "convert", "how many", "how much", "what is the value",
    "find the", "determine the", ...) in a question that holds a digit."""
    letters = {a or b for a, b in _OPTION.findall(question)}
    if {"A", "B"} <= letters:
        return True
    return bool(_ASKS_COMPUTATION.search(question)) and any(c.isdigit() for c in question)
