"""A labelled set for answer verification whose correct answers are known without an LLM.

Generated word problems with computed answers (shopping, unit conversions, a solid sphere's
moment of inertia, kinematics, electrical power, successive percentages, compound interest, work
rates) and multiple-choice items with their keys, each paired with a correct response and a
plausibly wrong one (a wrong formula, an inverted unit factor, percentages added, simple
interest, an arithmetic slip) whose working leads consistently to its wrong final answer. One in
four numeric items shows its working as a Python program and its output: right in the correct
response, made up in the wrong one (what the code-execution verifier must catch).

    .venv/bin/python benchmarks/verify_set.py --n 200 --seed 0 --out verify_set.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Literal

from glan.records import lineage_id
from glan.verify.final_answer import same_answer

try:  # imported as benchmarks.verify_set (the tests)
    from benchmarks.verify_set_kinds import (
        Problem,
        compound_interest,
        shopping,
        successive_percentages,
        unit_conversion,
        with_unit,
        work_rates,
    )
    from benchmarks.verify_set_physics import electrical_power, kinematics, moment_of_inertia
except ModuleNotFoundError:  # run as a script: benchmarks/ is on sys.path
    from verify_set_kinds import (
        Problem,
        compound_interest,
        shopping,
        successive_percentages,
        unit_conversion,
        with_unit,
        work_rates,
    )
    from verify_set_physics import electrical_power, kinematics, moment_of_inertia

NUMERIC_KINDS: dict[str, Callable[[random.Random], Problem]] = {
    "shopping": shopping,
    "unit_conversion": unit_conversion,
    "moment_of_inertia": moment_of_inertia,
    "kinematics": kinematics,
    "electrical_power": electrical_power,
    "successive_percentages": successive_percentages,
    "compound_interest": compound_interest,
    "work_rates": work_rates,
}
KINDS = (*NUMERIC_KINDS, "multiple_choice")
CODE_EVERY = 4  # one numeric item in four shows its working as a program and its output
_INTROS = (
    "Let me compute this with a short Python program.",
    "I'll do the arithmetic in Python:",
    "Here is the calculation as a small program.",
)


@dataclass(frozen=True)
class Item:
    question: str
    key: str  # the correct final answer: a number to 2 decimals, or a choice letter
    kind: str
    correct: str  # a correct response, ending with "Final answer: ..."
    wrong: str  # a plausibly wrong response, its working consistent with its wrong final answer
    wrong_why: str  # the mistake the wrong response makes
    shows_code: bool = False  # the responses show a ```python block and its ```output block


def _draw(kind: str, rng: random.Random, ok: Callable[[Problem], bool]) -> Problem:
    """A problem of `kind` whose answer is a usable key and whose mistake changes the answer."""
    for _ in range(200):
        p = NUMERIC_KINDS[kind](rng)
        if float(p.key) >= 0.5 and float(p.wrong_key) > 0 and not same_answer(p.key, p.wrong_key) and ok(p):
            return p
    raise RuntimeError(f"no valid {kind} problem in 200 draws")  # a bug in a kind's ranges


def _code_response(intro: str, program: str, output: str, what: str, answer: str) -> str:
    return (
        f"{intro}\n\n```python\n{program}```\n\n```output\n{output}\n```\n\n"
        f"Running it prints {output}, so the {what} is {answer}.\n\nFinal answer: {answer}"
    )


def _numeric_item(kind: str, rng: random.Random, shows_code: bool) -> Item:
    p = _draw(kind, rng, lambda _p: True)
    answer, wrong_answer = with_unit(p.key, p.unit), with_unit(p.wrong_key, p.unit)
    if not shows_code:
        correct = f"{p.working}\n\nFinal answer: {answer}"
        wrong = f"{p.wrong_working}\n\nFinal answer: {wrong_answer}"
        return Item(p.question, p.key, kind, correct, wrong, p.wrong_why)
    intro = rng.choice(_INTROS)
    # The wrong response runs the right program but shows the output of the kind's mistake.
    return Item(
        p.question,
        p.key,
        kind,
        _code_response(intro, p.program, p.key, p.what, answer),
        _code_response(intro, p.program, p.wrong_key, p.what, wrong_answer),
        f"the output block is made up: the program prints {p.key}, not {p.wrong_key}",
        shows_code=True,
    )


MC_BASES = ("moment_of_inertia", "kinematics", "electrical_power", "compound_interest", "work_rates")


def _distinct_options(p: Problem) -> bool:
    values = [p.key, p.wrong_key, *p.distractors[:2]]
    return len(values) == 4 and all(not same_answer(a, b) for a, b in combinations(values, 2))


def _multiple_choice_item(rng: random.Random) -> Item:
    """Four options: the computed answer, the answer of the wrong response's mistake and two
    answers of other typical mistakes; the wrong response picks its mistake's option."""
    p = _draw(rng.choice(MC_BASES), rng, _distinct_options)
    options = [p.key, p.wrong_key, *p.distractors[:2]]
    rng.shuffle(options)
    letter = "ABCD"[options.index(p.key)]
    wrong_letter = "ABCD"[options.index(p.wrong_key)]
    listed = "\n".join(f"({c}) {with_unit(v, p.unit)}" for c, v in zip("ABCD", options, strict=True))
    return Item(
        f"{p.stem} Choose the correct option.\n{listed}",
        letter,
        "multiple_choice",
        f"{p.working} That is option ({letter}).\n\nFinal answer: ({letter})",
        f"{p.wrong_working} That is option ({wrong_letter}).\n\nFinal answer: ({wrong_letter})",
        p.wrong_why,
    )


def make_set(n: int, seed: int = 0) -> list[Item]:
    """`n` items, the kinds in turn (equal shares), the numbers drawn from random.Random(seed):
    the same seed gives the same set."""
    rng = random.Random(seed)
    items: list[Item] = []
    numeric = 0
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if kind == "multiple_choice":
            items.append(_multiple_choice_item(rng))
        else:
            # One in CODE_EVERY, shifted by one each round of the kinds so that every kind gets its turn.
            code = (numeric + numeric // len(NUMERIC_KINDS)) % CODE_EVERY == CODE_EVERY - 1
            items.append(_numeric_item(kind, rng, shows_code=code))
            numeric += 1
    return items


def write_pairs(
    items: Sequence[Item], path: str | Path, which: Literal["correct", "wrong", "both"] = "both"
) -> int:
    """Write the items' pairs as JSONL in glan's InstructionPair shape (id, instruction, response,
    meta: key, kind, label, item, shows_code, and for a wrong one its mistake); the pairs written."""
    if which not in ("correct", "wrong", "both"):
        raise ValueError(f"which must be correct, wrong or both, not {which!r}")
    labels = ("correct", "wrong") if which == "both" else (which,)
    written = 0
    with Path(path).open("w", encoding="utf-8") as out:
        for i, item in enumerate(items):
            for label in labels:
                meta = {"key": item.key, "kind": item.kind, "label": label, "item": i}
                meta["shows_code"] = item.shows_code
                if label == "wrong":
                    meta["wrong_why"] = item.wrong_why
                pair = {
                    "id": lineage_id("verify_set", item.question, label),
                    "instruction": item.question,
                    "response": item.correct if label == "correct" else item.wrong,
                    "meta": meta,
                }
                out.write(json.dumps(pair, ensure_ascii=False) + "\n")
                written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=180, help="items (each gives a correct and a wrong pair)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    parser.add_argument("--which", choices=("correct", "wrong", "both"), default="both")
    args = parser.parse_args()
    items = make_set(args.n, args.seed)
    written = write_pairs(items, args.out, args.which)
    kinds = Counter(item.kind for item in items)
    code = sum(item.shows_code for item in items)
    print(f"{written} pairs from {len(items)} items ({code} show code) to {args.out}: {dict(kinds)}")


if __name__ == "__main__":
    main()
