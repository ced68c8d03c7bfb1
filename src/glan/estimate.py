"""What a config will cost before anything is spent: calls, tokens and dollars per stage.

Counts are exact where a stage's input file exists in the run directory (and the calls
already cached are subtracted); further down they follow from the config and one assumption,
the number of distinct subjects a sample yields. Tokens per call come from what the run
measured so far (the manifest's usage: a small pilot run makes them real) or, before that,
from the stage's real prompt on a representative input (about four characters a token) and
a typical reply length, capped at max_tokens. The upper bound takes every reply at max_tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from glan.config import PriceConfig, RunConfig, Sampling
from glan.errors import ConfigError
from glan.llm.cache import ResponseCache
from glan.records import ClassSession, Discipline, Question, Record, Subject, SubjectDraft, Syllabus
from glan.stages.answers import AnswerStage
from glan.stages.base import Stage
from glan.stages.questions import QuestionStage
from glan.stages.subjects import SubjectConvertStage, SubjectDraftStage, SubjectsJsonStage
from glan.stages.syllabus import SyllabusStage
from glan.store import count_lines, read_jsonl
from glan.taxonomy import load_taxonomy

# Typical reply lengths in tokens, before anything is measured (capped at max_tokens).
TYPICAL_REPLY = {
    "subject_drafts": 900,
    "subject_samples": 1000,
    "syllabi": 1800,
    "questions": 120,
    "pairs": 600,
}


@dataclass
class StageEstimate:
    stage: str
    model: str
    calls: int
    cached: int
    prompt_per_call: float
    reply_per_call: float
    max_tokens: int
    price: PriceConfig | None
    basis: str  # where the token figures come from: "measured" or "prompt+typical"
    counted: str  # where the call count comes from: "exact" or "assumed"

    @property
    def to_send(self) -> int:
        return max(0, self.calls - self.cached)

    @property
    def prompt_tokens(self) -> float:
        return self.to_send * self.prompt_per_call

    @property
    def completion_tokens(self) -> float:
        return self.to_send * self.reply_per_call

    def cost(self, at_most: bool = False) -> float | None:
        if self.price is None:
            return None
        reply = self.max_tokens if at_most else self.reply_per_call
        return self.price.cost(self.to_send * self.prompt_per_call, self.to_send * reply)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "model": self.model,
            "calls": self.calls,
            "cached": self.cached,
            "to_send": self.to_send,
            "prompt_tokens": round(self.prompt_tokens),
            "completion_tokens": round(self.completion_tokens),
            "completion_tokens_max": self.to_send * self.max_tokens,
            "cost_usd": None if self.price is None else round(self.cost() or 0.0, 4),
            "cost_usd_max": None if self.price is None else round(self.cost(at_most=True) or 0.0, 4),
            "basis": self.basis,
            "counted": self.counted,
        }


def _filler(tokens: int) -> str:
    return " ".join(["lorem"] * int(tokens * 4 / 6))  # about `tokens` tokens at four characters each


def _subject(d: Discipline) -> Subject:
    return Subject(
        id="s", **d.lineage(), subject="A representative course", level="undergraduate",
        subtopics=[f"subtopic {i} {_filler(3)}" for i in range(6)],
    )  # fmt: skip


def _syllabus(d: Discipline, sessions: int) -> Syllabus:
    return Syllabus(
        id="y",
        **d.lineage(),
        subject="A representative course",
        level="undergraduate",
        introduction=_filler(60),
        objectives=[_filler(12) for _ in range(4)],
        sessions=[
            ClassSession(
                number=i + 1,
                title=f"Session {i + 1}",
                description=_filler(35),
                key_concepts=[_filler(3) for _ in range(5)],
            )
            for i in range(sessions)
        ],
        model="m",
    )


def _question(d: Discipline, tokens: int) -> Question:
    return Question(
        id="q", **d.lineage(), syllabus_id="y", subject="A course", level="undergraduate", index=0,
        difficulty="basic", sessions=[1], concepts=["c"], question=_filler(tokens), model="m", sampling={},
    )  # fmt: skip


class Estimator:
    def __init__(self, cfg: RunConfig, subjects_per_sample: float = 12.0) -> None:
        self.cfg = cfg
        self.root = cfg.run_dir
        self.subjects_per_sample = subjects_per_sample
        manifest: dict[str, Any] = {}
        if (self.root / "manifest.json").is_file():
            manifest = orjson.loads((self.root / "manifest.json").read_bytes())
        self.usage: dict[str, dict[str, dict[str, float]]] = manifest.get("usage", {})
        self.steps: dict[str, dict[str, Any]] = manifest.get("steps", {})
        cache_path = self.root / "cache.sqlite"
        self.cache = ResponseCache(cache_path) if cache_path.is_file() else None

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def _file(self, name: str) -> Path | None:
        path = self.root / f"{name}.jsonl"
        return path if path.is_file() else None

    def disciplines(self) -> list[Discipline]:
        path = self._file("disciplines")
        if path is not None:
            return list(read_jsonl(path, Discipline))
        if self.cfg.taxonomy == "generate":
            raise ConfigError("taxonomy: generate: run `glan disciplines` first, then estimate the rest")
        tax = load_taxonomy(None if self.cfg.taxonomy == "builtin" else Path(self.cfg.taxonomy))
        if self.cfg.disciplines:
            tax = tax.select(self.cfg.disciplines)
        return tax.disciplines()

    def stage(
        self,
        stage: Stage,
        step: Sampling,
        inputs: Iterable[Record] | None,
        example: Record,
        assumed_calls: int,
    ) -> StageEstimate:
        """One stage: real inputs when they exist (exact count, cached calls subtracted),
        else `assumed_calls` calls like the ones `example` makes."""
        llm = self.cfg.llm_for(step)
        calls = cached = 0
        prompt = 0.0
        if inputs is not None:
            for item in inputs:
                for job in stage.jobs(item):
                    calls += 1
                    prompt += job.request.estimated_tokens() - job.request.max_tokens
                    if self.cache is not None and self.cache.get(job.request.key()) is not None:
                        cached += 1
            prompt_per_call = prompt / calls if calls else 0.0
        else:
            jobs = list(stage.jobs(example))
            prompt = sum(j.request.estimated_tokens() - j.request.max_tokens for j in jobs)
            prompt_per_call = prompt / len(jobs)
            calls = assumed_calls
        max_tokens = step.max_tokens
        reply = float(min(max_tokens, TYPICAL_REPLY.get(stage.name, max_tokens)))
        basis = "prompt+typical"
        used = self.usage.get(stage.name, {}).get(llm.model)
        if used and used.get("calls"):
            prompt_per_call = used["prompt_tokens"] / used["calls"]
            reply = used["completion_tokens"] / used["calls"]
            basis = "measured"
        ran = self.steps.get(stage.name, {})
        if ran.get("jobs"):  # re-asks add calls in the same proportion as measured
            calls = round(calls * (1 + ran.get("reasks", 0) / ran["jobs"]))
        return StageEstimate(
            stage=stage.name,
            model=llm.model,
            calls=calls,
            cached=cached,
            prompt_per_call=prompt_per_call,
            reply_per_call=reply,
            max_tokens=max_tokens,
            price=self.cfg.price_for(llm.model),
            basis=basis,
            counted="exact" if inputs is not None else "assumed",
        )

    def _read(self, name: str, model: type[Record]) -> Iterator[Record] | None:
        path = self._file(name)
        return read_jsonl(path, model) if path is not None else None

    def rows(self) -> list[StageEstimate]:
        cfg = self.cfg
        ds = self.disciplines()
        if not ds:
            raise ConfigError("the taxonomy selects no discipline")
        d0, n_d = ds[0], len(ds)
        sc = cfg.subjects
        model = cfg.llm_for(sc).model
        rows = []
        per_sample = sc.samples * n_d
        if sc.mode == "two_call":
            rows.append(self.stage(SubjectDraftStage(sc, model, cfg.seed), sc, ds, d0, per_sample))
            text = _filler(TYPICAL_REPLY["subject_drafts"])
            draft = SubjectDraft(id="x", **d0.lineage(), sample=0, text=text, model=model)
            drafts = self._read("subject_drafts", SubjectDraft)
            rows.append(self.stage(SubjectConvertStage(sc, model), sc, drafts, draft, per_sample))
        else:
            rows.append(self.stage(SubjectsJsonStage(sc, model, cfg.seed), sc, ds, d0, per_sample))
        subjects_file = self._file("subjects")
        if subjects_file is not None:
            n_subjects = count_lines(subjects_file)
        else:
            per_discipline = sc.samples * self.subjects_per_sample
            if sc.max_per_discipline is not None:
                per_discipline = min(per_discipline, sc.max_per_discipline)
            n_subjects = round(n_d * per_discipline)
        yc = cfg.syllabus
        rows.append(
            self.stage(
                SyllabusStage(yc, cfg.llm_for(yc).model, cfg.seed),
                yc,
                self._read("subjects", Subject),
                _subject(d0),
                n_subjects,
            )
        )
        qc = cfg.questions
        syllabi_file = self._file("syllabi")
        n_syllabi = count_lines(syllabi_file) if syllabi_file else n_subjects
        sessions = (yc.min_sessions + yc.max_sessions) // 2
        rows.append(
            self.stage(
                QuestionStage(qc, cfg.llm_for(qc).model, cfg.seed),
                qc,
                self._read("syllabi", Syllabus),
                _syllabus(d0, sessions),
                n_syllabi * qc.per_syllabus,
            )
        )
        ac = cfg.answers
        rows.append(
            self.stage(
                AnswerStage(ac, cfg.llm_for(ac).model, cfg.seed),
                ac,
                self._read("questions", Question),
                _question(d0, TYPICAL_REPLY["questions"]),
                n_syllabi * qc.per_syllabus,
            )
        )
        return rows


def estimate(cfg: RunConfig, subjects_per_sample: float = 12.0) -> list[StageEstimate]:
    """Per-stage calls, tokens and cost still to spend for `cfg` (see the module docstring)."""
    est = Estimator(cfg, subjects_per_sample)
    try:
        return est.rows()
    finally:
        est.close()
