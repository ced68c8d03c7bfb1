"""Self-Instruct's bootstrap loop as a `loop` step: round after round, prompts that show a
sample of the pool (seed tasks and the tasks kept so far) ask for new tasks; the candidates
are filtered in order (glan.stages.self_instruct_filters) and the kept ones join the pool.

    RUN/instructions/round-NNNN.jsonl           the tasks round NNNN kept (glan.records.Task)
    RUN/instructions/round-NNNN.removed.jsonl   its candidates dropped, each with its reason
    RUN/instructions/round-NNNN.failures.jsonl  its prompts that got no valid reply
    RUN/instructions/round-NNNN.done.json       its marker

A round's marker fingerprints the step's settings (but `target` and `max_rounds`, which only
say when to stop), the seed tasks and the previous round's marker and records: a round is
finished when everything it was made from is unchanged, so a killed run resumes at its first
unfinished round, and a larger `target` continues after the last round made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glan.errors import StepDeferred
from glan.exec import Reruns
from glan.recipes.base import Step
from glan.records import Dropped, Failure, Record, Task
from glan.shards import Shard, StepFolder, fingerprint
from glan.stages.base import Stage
from glan.stages.self_instruct import build_prompts
from glan.stages.self_instruct_filters import CandidateFilter
from glan.store import JsonlWriter, read_jsonl

if TYPE_CHECKING:
    from glan.config import LLMConfig
    from glan.session import Session


def round_config(session: Session, step: Step) -> str:
    """What the rounds are made with: steps.step_config without `target` and `max_rounds`."""
    cfg = session.cfg
    section = step.sampling(cfg)
    assert step.stage is not None
    return fingerprint(
        cfg.recipe,
        step.name,
        cfg.seed,
        cfg.max_reasks,
        cfg.max_rerun_attempts,
        section.model_dump(mode="json", exclude={"target", "max_rounds"}),
        cfg.llm_for(section).model_dump(mode="json"),
        step.stage(cfg).version,
    )


async def bootstrap(session: Session, step: Step) -> None:
    """Rounds until the pool holds `target` generated tasks or `max_rounds` were made; each
    round is a shard of the step's folder, read back unasked when it is finished."""
    from glan.steps import step_folders  # glan.steps imports the recipes

    cfg, si = session.cfg, session.cfg.self_instruct
    folders = step_folders(session, step)
    if folders is None:
        return  # finished, from the same seeds and settings: nothing is read
    source, inputs, out, config = folders
    assert step.stage is not None
    stage, llm = step.stage(cfg), cfg.llm_for(step.sampling(cfg))
    seeds = [t.instruction for t in source.records(Task)]
    chain = round_config(session, step)
    pool = CandidateFilter(si, seeds)
    machines: list[str] = []
    shards: list[Shard] = []
    previous = ("", "")  # the previous round's fingerprint and records digest
    skipped = 0
    out.unfinish()  # until the loop ends, the steps after it must not read this one
    while len(machines) < si.target and len(shards) < si.max_rounds:
        r = len(shards)
        name, fp = f"round-{r:04d}", fingerprint(chain, inputs["digest"], *previous)
        shard = out.finished(name, fp)
        if shard is not None:
            kept = [t.instruction for t in read_jsonl(out.records_path(name), Task)]
            for text in kept:
                pool.add(text)
            skipped += 1
        else:
            rnd = Round(session, step, stage, llm, out, name, fp)
            shard, kept = await rnd.run(build_prompts(si, cfg.seed, r, seeds, machines), pool)
        machines.extend(kept)
        shards.append(shard)
        previous = (fp, shard.digest)
    index = out.write_index(shards, config, inputs["digest"])
    if len(machines) < si.target:
        session.events.note(
            f"{step.name}: {len(machines)} of self_instruct.target={si.target} tasks kept in "
            f"max_rounds={si.max_rounds} rounds; raise max_rounds to go on (see {out.root}/*.removed.jsonl)",
            "yellow",
        )
    entry = session.report.setdefault(step.name, {})
    entry.update(
        records=index["records"], removed=index["removed"], rounds=len(shards), skipped_shards=skipped
    )


class Round:
    """One round: its prompts through the session's executor, then its candidates filtered
    and written as shard `name` with its marker."""

    def __init__(
        self, session: Session, step: Step, stage: Stage, llm: LLMConfig, out: StepFolder, name: str, fp: str
    ) -> None:
        self.session, self.step, self.stage, self.llm = session, step, stage, llm
        self.out, self.name, self.fp = out, name, fp

    async def run(self, prompts: list[Record], pool: CandidateFilter) -> tuple[Shard, list[str]]:
        cfg = self.session.cfg
        # the failures of the previous run of this round, read before they are rewritten
        asked = Reruns.load(self.out.failures_path(self.name), cfg.max_rerun_attempts).next
        made: list[Record] = []
        failed: list[Failure] = []
        result = await self.session.run_stage(
            self.stage, prompts, len(prompts), self.llm, made.append, failed.append,
            Reruns(asked, cfg.max_rerun_attempts),
        )  # fmt: skip
        if result.deferred:  # some prompts wait for batch results: the round is not made yet
            raise StepDeferred(self.step.name, result.deferred)
        kept: list[str] = []
        records = JsonlWriter(self.out.records_path(self.name))
        removed = JsonlWriter(self.out.removed_path(self.name))
        failures = JsonlWriter(self.out.failures_path(self.name))
        with records, removed, failures:
            # `made` is in prompt order, then reply order (run_stage emits in input order):
            # the order in which candidates join the pool, the same on every run
            for rec in made:
                if isinstance(rec, Dropped):
                    removed.write(rec)
                    continue
                assert isinstance(rec, Task)
                rejected = pool.rejects(rec.instruction)
                if rejected is None:
                    records.write(rec)
                    kept.append(rec.instruction)
                else:
                    reason, detail = rejected
                    removed.write(
                        Dropped(
                            id=rec.id, stage=self.stage.name, input_id=rec.prompt or "", reason=reason,
                            text=rec.instruction, detail=detail,
                        )
                    )  # fmt: skip
            for f in failed:
                failures.write(f)
        shard = Shard(self.name, records.digest, records.count, failures.count, self.fp, removed.count)
        self.out.mark(shard)
        return shard, kept
