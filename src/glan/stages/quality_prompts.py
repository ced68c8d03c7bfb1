"""The judges' prompts and reply schemas: the question critique, the two critics of an answer,
and the self-consistency sample's closing line (our own wording)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from glan.records import Question
from glan.stages.base import strict_schema

CHECKS = ("self_contained", "answerable", "on_topic", "answer_free", "difficulty_fits")

CRITIQUE = """You review homework questions written for a course before students get them.

Course: {subject} ({level}), in the discipline {discipline} ({field} / {sub_field}).
Concepts the question was asked to test: {concepts}.
Stated difficulty: {difficulty}. {difficulty_meaning}

Question:
<<<
{question}
>>>

Judge the question on each point, strictly:
- self_contained: it can be understood on its own (no reference to "the course", "the session", \
"the text above", or data it does not give).
- answerable: it has a definite answer or a clear task a competent student can complete in writing.
- on_topic: it belongs to the discipline and tests the concepts listed.
- answer_free: it does not state or give away its own answer.
- difficulty_fits: its difficulty matches the stated one.
Reply with JSON: {{"self_contained": true|false, "answerable": true|false, "on_topic": true|false, \
"answer_free": true|false, "difficulty_fits": true|false, "reason": "one sentence on the main \
problem, or 'ok'"}}."""

MEANING = {
    "basic": "A basic question tests one class session's concepts directly.",
    "challenging": "A challenging question combines concepts from two sessions and needs several steps.",
}


class Critique(BaseModel):
    self_contained: bool
    answerable: bool
    on_topic: bool
    answer_free: bool
    difficulty_fits: bool
    reason: str = Field(default="", max_length=600)


CRITIQUE_SCHEMA = strict_schema(Critique)


def critique_prompt(q: Question) -> str:
    return CRITIQUE.format(
        subject=q.subject,
        level=q.level,
        discipline=q.discipline,
        field=q.field,
        sub_field=q.sub_field,
        concepts="; ".join(q.concepts) or "(none given)",
        difficulty=q.difficulty,
        difficulty_meaning=MEANING[q.difficulty],
        question=q.question,
    )


# Self-consistency: each sample answers the instruction and closes with its final answer, so
# the answers can be compared without another call.
FINAL_LINE = (
    "\n\nWork it out step by step, then end your response with a last line of the form "
    "'Final answer: <answer>' giving only the final answer (a number with its unit, an "
    "expression, or the letter of a choice)."
)

# The double critic: two questions of opposite polarity, asked independently, so that a judge's
# tendency to agree with whatever it is shown cannot pass a response on its own.
SHOWN = "\n\nTask:\n<<<\n{instruction}\n>>>\n\nResponse:\n<<<\n{response}\n>>>\n\n"
CORRECT = (
    "Here is a task and a response to it." + SHOWN + "Check the response carefully (recompute any "
    "calculation, check every formula and fact). Is the response correct and complete: does it "
    "answer the whole task, with no wrong statement, formula or number?\n"
    'Reply with JSON: {{"verdict": "yes" | "no", "reason": "one sentence"}}.'
)
ERROR = (
    "Here is a task and a response to it. Your job is to find a mistake in the response."
    + SHOWN
    + "Go through the response step by step: recompute each calculation, check each formula, unit "
    "and fact, and check that the final answer follows from the work. Does the response contain "
    "an error?\n"
    'Reply with JSON: {{"verdict": "yes" | "no", "reason": "the error, or why there is none, in '
    'one sentence"}}.'
)

ERROR = """Here is a task and a response to it. Your job is to find a mistake in the response.

Task:
<<<
{instruction}
>>>

Response:
<<<
{response}
>>>

Go through the response step by step: recompute each calculation, check each formula, unit and \
fact, and check that the final answer follows from the work. Does the response contain an error?
Reply with JSON: {{"verdict": "yes" | "no", "reason": "the error, or why there is none, in one \
sentence"}}."""


class Judgment(BaseModel):
    verdict: Literal["yes", "no"]
    reason: str = Field(default="", max_length=600)


JUDGMENT_SCHEMA = strict_schema(Judgment)
