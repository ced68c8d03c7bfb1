"""What a config will cost before anything is spent: calls, tokens and dollars per stage.

The disciplines are the config's (taxonomy and selection), not an older disciplines.jsonl.
Counts are exact for the disciplines a stage's input file in the run directory holds (and
the calls already cached are subtracted); for the rest they follow from the config and one
assumption, the number of distinct subjects a sample yields. Tokens per call come from what
the run measured so far (the usage in its cache: a small pilot run makes them real) or, before that,
from the stage's real prompt on a representative input (about four characters a token) and
a typical reply length, capped at max_tokens. The upper bound takes every reply at max_tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glan.config import PriceConfig, RunConfig, Sampling
from glan.errors import ConfigError
from glan.llm.cache import ResponseCache
from glan.records import (
    ClassSession,
    Discipline,
    Lineage,
    Question,
    Record,
    Subject,
    SubjectDraft,
    Syllabus,
)
from glan.stages.answers import AnswerStage
from glan.stages.base import Stage
from glan.stages.questions import QuestionStage
from glan.stages.subjects import SubjectConvertStage, SubjectDraftStage, SubjectsJsonStage
from glan.stages.syllabus import SyllabusStage
from glan.store import RunDir, read_jsonl
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


Key = tuple[str, str, str]  # field, sub_field, discipline


def _key(r: Record) -> Key:
    assert isinstance(r, Lineage)
    return (r.field, r.sub_field, r.discipline)


class Estimator:
    def __init__(self, cfg: RunConfig, subjects_per_sample: float = 12.0) -> None:
        self.cfg = cfg
        self.root = cfg.run_dir
        self.subjects_per_sample = subjects_per_sample
        self.selected: set[Key] = set()
        run = RunDir(self.root)
        self.steps: dict[str, dict[str, Any]] = run.read_manifest().get("steps", {})
        self.cache = ResponseCache(run.cache) if run.cache.is_file() else None
        # what each stage's calls measured so far: the cache holds every answer, killed runs' too
        self.usage = self.cache.usage() if self.cache is not None else {}

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def _file(self, name: str) -> Path | None:
        path = self.root / f"{name}.jsonl"
        return path if path.is_file() else None

    def disciplines(self) -> list[Discipline]:
        """The config's disciplines, as the next run's taxonomy step will write them (only a
        generated taxonomy is read back from disciplines.jsonl)."""
        if self.cfg.taxonomy == "generate":
            path = self._file("disciplines")
            if path is None:
                raise ConfigError("taxonomy: generate: run `glan disciplines` first, then estimate the rest")
            return list(read_jsonl(path, Discipline))
        tax = load_taxonomy(None if self.cfg.taxonomy == "builtin" else Path(self.cfg.taxonomy))
        if self.cfg.disciplines:
            tax = tax.select(self.cfg.disciplines)
        return tax.disciplines()

    def _inputs(self, name: str, model: type[Record], seen: Counter[Key]) -> Iterator[Record]:
        """The records of RUN/name.jsonl that belong to the selected disciplines, counted per
        discipline into `seen` (a file written for an earlier selection is read in part)."""
        path = self._file(name)
        if path is None:
            return
        for r in read_jsonl(path, model):
            if _key(r) in self.selected:
                seen[_key(r)] += 1
                yield r

    def stage(
        self,
        stage: Stage,
        step: Sampling,
        inputs: Iterable[Record],
        example: Record,
        assumed: Callable[[], int],
    ) -> StageEstimate:
        """One stage: the calls of the real inputs (exact; cached ones subtracted), plus
        `assumed()` calls like the ones `example` makes, for what no input file holds yet."""
        llm = self.cfg.llm_for(step)
        calls = cached = 0
        prompt = 0.0
        for item in inputs:
            for job in stage.jobs(item):
                calls += 1
                prompt += job.request.estimated_tokens() - job.request.max_tokens
                if self.cache is not None and self.cache.has(job.request.key()):
                    cached += 1
        more = assumed()  # after the inputs: it may count what they held
        if calls:
            prompt_per_call = prompt / calls
        else:
            jobs = list(stage.jobs(example))
            prompt = sum(j.request.estimated_tokens() - j.request.max_tokens for j in jobs)
            prompt_per_call = prompt / len(jobs)
        calls += more
        max_tokens = step.max_tokens
        reply = float(min(max_tokens, TYPICAL_REPLY.get(stage.name, max_tokens)))
        basis = "prompt+typical"
        used = self.usage.get(stage.name, {}).get(llm.model)
        if used and used.get("calls"):
            prompt_per_call = used["prompt_tokens"] / used["calls"]
            reply = used["completion_tokens"] / used["calls"]
            basis = "measured"
        ran = self.steps.get(stage.name, {})
        if ran.get("jobs"):  # the calls still to send need re-asks in the proportion measured
            calls = cached + round((calls - cached) * (1 + ran.get("reasks", 0) / ran["jobs"]))
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
            counted="exact" if more == 0 else "assumed",
        )

    def _unheld(self, level: Counter[Key], per: Callable[[Key], float]) -> Callable[[], int]:
        """Calls for the selected disciplines an input file does not hold (`per` each); called
        once the file was read, since reading it fills `level`."""
        return lambda: round(sum(per(k) for k in self.selected if k not in level))

    def rows(self) -> list[StageEstimate]:
        cfg = self.cfg
        ds = self.disciplines()
        if not ds:
            raise ConfigError("the taxonomy selects no discipline")
        self.selected = {_key(d) for d in ds}
        d0 = ds[0]
        sc = cfg.subjects
        model = cfg.llm_for(sc).model
        rows = []
        if sc.mode == "two_call":
            rows.append(self.stage(SubjectDraftStage(sc, model, cfg.seed), sc, ds, d0, lambda: 0))
            text = _filler(TYPICAL_REPLY["subject_drafts"])
            draft = SubjectDraft(id="x", **d0.lineage(), sample=0, text=text, model=model)
            drafted: Counter[Key] = Counter()
            drafts = self._inputs("subject_drafts", SubjectDraft, drafted)
            missing = self._unheld(drafted, lambda k: sc.samples)
            rows.append(self.stage(SubjectConvertStage(sc, model), sc, drafts, draft, missing))
        else:
            rows.append(self.stage(SubjectsJsonStage(sc, model, cfg.seed), sc, ds, d0, lambda: 0))
        per_discipline = sc.samples * self.subjects_per_sample
        if sc.max_per_discipline is not None:
            per_discipline = min(per_discipline, sc.max_per_discipline)
        # items per discipline, level by level: counted in a file where it holds the
        # discipline, else from the level above (and the assumption at the top)
        subjects: Counter[Key] = Counter()
        syllabi: Counter[Key] = Counter()
        questions: Counter[Key] = Counter()

        def n_syllabi(k: Key) -> float:
            return syllabi[k] if k in syllabi else subjects.get(k, per_discipline)

        yc, qc, ac = cfg.syllabus, cfg.questions, cfg.answers
        sessions = (yc.min_sessions + yc.max_sessions) // 2
        rows += [
            self.stage(
                SyllabusStage(yc, cfg.llm_for(yc).model, cfg.seed),
                yc,
                self._inputs("subjects", Subject, subjects),
                _subject(d0),
                self._unheld(subjects, lambda k: per_discipline),
            ),
            self.stage(
                QuestionStage(qc, cfg.llm_for(qc).model, cfg.seed),
                qc,
                self._inputs("syllabi", Syllabus, syllabi),
                _syllabus(d0, sessions),
                self._unheld(syllabi, lambda k: n_syllabi(k) * qc.per_syllabus),
            ),
            self.stage(
                AnswerStage(ac, cfg.llm_for(ac).model, cfg.seed),
                ac,
                self._inputs("questions", Question, questions),
                _question(d0, TYPICAL_REPLY["questions"]),
                self._unheld(questions, lambda k: n_syllabi(k) * qc.per_syllabus),
            ),
        ]
        return rows


def estimate(cfg: RunConfig, subjects_per_sample: float = 12.0) -> list[StageEstimate]:
    """Per-stage calls, tokens and cost still to spend for `cfg` (see the module docstring)."""
    est = Estimator(cfg, subjects_per_sample)
    try:
        return est.rows()
    finally:
        est.close()
