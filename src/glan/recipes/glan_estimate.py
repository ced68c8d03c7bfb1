"""What `glan estimate` assumes of the GLAN steps until their inputs exist: the disciplines
the config selects, how many records a step makes of one input, representative records (so
that a prompt's size is the real prompt's on a typical input) and typical reply lengths."""

from __future__ import annotations

from pathlib import Path

from glan.config import RunConfig
from glan.errors import ConfigError
from glan.recipes.base import Estimate
from glan.records import (
    ClassSession,
    Discipline,
    InstructionPair,
    Lineage,
    Question,
    Record,
    Subject,
    SubjectDraft,
    Syllabus,
)  # fmt: skip
from glan.shards import StepFolder
from glan.store import RunDir
from glan.taxonomy import load_taxonomy

DRAFT_TOKENS = 900  # a free-text subject list
QUESTION_TOKENS = 120  # a homework question
ANSWER_TOKENS = 600  # an answer


def _filler(tokens: int) -> str:
    return " ".join(["lorem"] * int(tokens * 4 / 6))  # about `tokens` tokens at four characters each


def _lineage(r: Record) -> dict[str, str]:
    assert isinstance(r, Lineage)
    return r.lineage()


def selected_disciplines(cfg: RunConfig) -> list[Record]:
    """The config's disciplines, as the next run's disciplines step will write them (only a
    generated taxonomy is read back from the run's disciplines)."""
    if cfg.taxonomy == "generate":
        folder = StepFolder(RunDir(cfg.run_dir).stage("disciplines"))
        if folder.index() is None:
            raise ConfigError("taxonomy: generate: run `glan disciplines` first, then estimate the rest")
        ds: list[Record] = list(folder.records(Discipline))
    else:
        tax = load_taxonomy(None if cfg.taxonomy == "builtin" else Path(cfg.taxonomy))
        ds = list((tax.select(cfg.disciplines) if cfg.disciplines else tax).disciplines())
    if not ds:
        raise ConfigError("the taxonomy selects no discipline")
    return ds


def _draft(cfg: RunConfig, d: Record) -> Record:
    model = cfg.llm_for(cfg.subjects).model
    return SubjectDraft(id="x", **_lineage(d), sample=0, text=_filler(DRAFT_TOKENS), model=model)


def _subject(cfg: RunConfig, r: Record) -> Record:
    return Subject(
        id="s", **_lineage(r), subject="A representative course", level="undergraduate",
        subtopics=[f"subtopic {i} {_filler(3)}" for i in range(6)],
    )  # fmt: skip


def _syllabus(cfg: RunConfig, s: Record) -> Record:
    sessions = (cfg.syllabi.min_sessions + cfg.syllabi.max_sessions) // 2
    return Syllabus(
        id="y", **_lineage(s), subject="A representative course", level="undergraduate",
        introduction=_filler(60), objectives=[_filler(12) for _ in range(4)],
        sessions=[
            ClassSession(number=i + 1, title=f"Session {i + 1}", description=_filler(35),
                         key_concepts=[_filler(3) for _ in range(5)])
            for i in range(sessions)
        ],
        model="m",
    )  # fmt: skip


def _question(cfg: RunConfig, y: Record) -> Record:
    return Question(
        id="q", **_lineage(y), syllabus_id="y", subject="A course", level="undergraduate", index=0,
        difficulty="basic", sessions=[1], concepts=["c"], question=_filler(QUESTION_TOKENS), model="m",
        sampling={},
    )  # fmt: skip


def _pair(cfg: RunConfig, q: Record) -> Record:
    assert isinstance(q, Question)
    return InstructionPair(id="p", **q.lineage(), instruction=q.question, response=_filler(ANSWER_TOKENS))


def _at_most(cfg: RunConfig, n: float) -> float:
    cap = cfg.subjects.max_per_discipline
    return n if cap is None else min(n, cap)


DISCIPLINES = Estimate(records=selected_disciplines)
SUBJECT_DRAFTS = Estimate(example=_draft, reply=DRAFT_TOKENS)
# the distinct subjects one sample yields: the one assumption not read from the config
SUBJECT_SAMPLES = Estimate(per_job=12.0, assumption="subjects_per_sample", example=_subject, reply=1000)
SUBJECTS = Estimate(keep=_at_most)  # merged per discipline, max_per_discipline at most
SYLLABI = Estimate(example=_syllabus, reply=1800)
QUESTIONS = Estimate(example=_question, reply=QUESTION_TOKENS)
ANSWERS = Estimate(example=_pair, reply=ANSWER_TOKENS)
