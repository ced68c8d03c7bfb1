"""Evol-Instruct's prompts (our own wording of WizardLM's method), reply schemas, and the
elimination rules checked without a call: (2) a short "sorry" response, (3) a response of
stop words and punctuation only, (4) a rewrite that copies words of the rewriting prompt."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from glan.method_config import EvolOperation
from glan.stages.base import strict_schema

DEPTH = (
    "You make instructions harder to answer well. Rewrite the #Given Prompt# below into a more "
    "demanding version that still makes sense, that a person could understand and answer, and "
    "that keeps every table, code block or input of the original. {how} The #Rewritten Prompt# "
    "may add only 10 to 20 words to the #Given Prompt#. Never write the words '#Given Prompt#', "
    "'#Rewritten Prompt#', 'given prompt' or 'rewritten prompt' in it."
)
HOW: dict[str, str] = {
    "add_constraints": "Add one more constraint or requirement that an answer must satisfy.",
    "deepening": "Where it asks about a matter, make it ask about that matter in more depth and breadth.",
    "concretizing": "Replace its general concepts with more specific ones.",
    "increase_reasoning": (
        "If a few simple thinking steps would answer it, make it explicitly ask for reasoning "
        "in several steps."
    ),
    "complicate_input": (
        "Give it a more complex input to work on (data as a table, JSON, XML, SQL, code or a "
        "formula) and make the instruction refer to that input."
    ),
}
BREADTH = (
    "You invent new instructions. Taking the #Given Prompt# below as inspiration, write a "
    "#Created Prompt#: a new instruction in the same domain on a rarer topic, of about the same "
    "length and difficulty, that makes sense and that a person could understand and answer. The "
    "#Created Prompt# may be only 10 to 20 words longer than the #Given Prompt#. Never write the "
    "words '#Given Prompt#', '#Created Prompt#', 'given prompt' or 'created prompt' in it."
)
TAIL = '\n\n#Given Prompt#:\n{text}\n\nReply with JSON: {{"instruction": "..."}}, the {what} only.'

JUDGE = (
    "Do these two instructions ask for the same thing? They are equal when they have the same "
    "constraints and requirements and ask with the same depth and breadth; otherwise they are "
    "not equal.\n\n#First Instruction#:\n{before}\n\n#Second Instruction#:\n{after}\n\n"
    'Reply with JSON: {{"verdict": "equal"}} or {{"verdict": "not_equal"}}.'
)

# Words of the rewriting prompts a rewrite must not copy (elimination rule 4)
COPIED = ("given prompt", "rewritten prompt", "created prompt")

# English function words: a response made of these and punctuation says nothing (rule 3)
_STOP = """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves ok okay yes oh well
    don't can't won't isn't aren't wasn't weren't i'm it's that's there's i'll i've i'd"""
STOP_WORDS = frozenset(_STOP.split())


class Evolved(BaseModel):
    instruction: str = Field(min_length=1)


class Verdict(BaseModel):
    verdict: Literal["equal", "not_equal"]


EVOLVED_SCHEMA = strict_schema(Evolved)
JUDGE_SCHEMA = strict_schema(Verdict)


def rewrite_prompt(operation: EvolOperation, text: str) -> str:
    """The prompt that applies `operation` to the instruction `text`."""
    if operation == "breadth":
        return BREADTH + TAIL.format(text=text, what="created prompt")
    return DEPTH.format(how=HOW[operation]) + TAIL.format(text=text, what="rewritten prompt")


def judge_prompt(before: str, after: str) -> str:
    return JUDGE.format(before=before, after=after)


def copies_prompt_words(text: str) -> bool:
    """Rule 4: the rewrite repeats the rewriting prompt's own words."""
    low = text.lower()
    return any(phrase in low for phrase in COPIED)


def response_problem(response: str) -> str | None:
    """The elimination reason of an evolution's response (rules 2 and 3), or None."""
    if "sorry" in response.lower() and len(response.split()) < 80:
        return "sorry_short_response"
    words = re.findall(r"[^\W_]+(?:'[^\W_]+)?", response.lower())
    if all(w in STOP_WORDS for w in words):  # no words at all: punctuation only
        return "stop_words_only"
    return None
