"""Self-Instruct (Wang et al. 2022): the bootstrap prompts that ask for new tasks, shown a
sample of the pool, and the instance generation of each kept task (a classification call,
then its instances: output-first for classification tasks, input-first otherwise)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from functools import cached_property
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from glan.llm.base import ChatRequest, ChatResponse
from glan.method_config import InstancesConfig, SelfInstructConfig
from glan.records import Dropped, InstructionPair, Record, Task, lineage_id
from glan.stages.base import FollowUp, Job, SeededStage, parse_reply, seed_for
from glan.stages.self_instruct_prompts import BOOTSTRAP, CLASSIFY, INPUT_FIRST, OUTPUT_FIRST
from glan.tasks_file import load_tasks

CLASSIFY_EXAMPLES = 6  # of each kind, from the labelled seed tasks (the paper showed 31)
INSTANCE_EXAMPLES = 2  # seed tasks of the same kind, with an instance each
EXAMPLE_CHARS = 600  # a longer seed task makes a poor example (and a long prompt)


class BootstrapPrompt(Record):
    """One prompt of a round: the pool instructions it shows (`machine` of them generated)."""

    round: int
    index: int
    shown: list[str]
    machine: int


def build_prompts(
    cfg: SelfInstructConfig, seed: int, round_: int, humans: list[str], machines: list[str]
) -> list[BootstrapPrompt]:
    """The prompts of round `round_`, from a generator seeded by (seed, round): a resumed run
    builds the same prompts, so their calls come from the cache. Each shows
    `machine_per_prompt` generated tasks (fewer while fewer exist: seeds fill in) and
    `human_per_prompt` seeds, in a shuffled order."""
    rng = random.Random(seed_for(seed, "self_instruct", round_))
    prompts = []
    for i in range(cfg.prompts_per_round):
        m = min(cfg.machine_per_prompt, len(machines))
        h = min(len(humans), cfg.human_per_prompt + cfg.machine_per_prompt - m)
        shown = rng.sample(machines, m) + rng.sample(humans, h)
        rng.shuffle(shown)
        prompts.append(BootstrapPrompt(id=f"r{round_}p{i}", round=round_, index=i, shown=shown, machine=m))
    return prompts


def _list_schema(name: str, items: dict[str, Any], most: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "array", "items": items, "minItems": 1, "maxItems": most}},
        "required": [name],
        "additionalProperties": False,
    }


class Instructions(BaseModel):
    instructions: list[str] = Field(min_length=1)


class BootstrapStage(SeededStage):
    """A prompt -> its new tasks, unfiltered (the loop filters them in order), each with the
    prompt's id; those past `new_per_prompt` are dropped as `over_new_per_prompt`."""

    name = "instructions"
    input = BootstrapPrompt
    output = Task
    cfg: SelfInstructConfig

    def jobs(self, item: BootstrapPrompt) -> Iterable[Job]:
        tasks = "\n".join(f"Task {i + 1}: {' '.join(t.split())}" for i, t in enumerate(item.shown))
        n = self.cfg.new_per_prompt
        text = BOOTSTRAP.format(shown=len(item.shown), tasks=tasks, n=n)
        request = ChatRequest(
            model=self.model,
            messages=[{"role": "user", "content": text}],
            seed=seed_for(self.seed, "self_instruct", item.id),
            response_schema=_list_schema("instructions", {"type": "string"}, n),
            schema_name="instructions",
            **self.cfg.sampling(),
        )
        yield Job(item, request)

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        item: BootstrapPrompt = job.item
        out: list[Record] = []
        for pos, text in enumerate(parse_reply(response, Instructions).instructions):
            tid = lineage_id("self_instruct", self.seed, item.id, pos)
            if pos < self.cfg.new_per_prompt:
                out.append(
                    Task(id=tid, instruction=text.strip(), origin="machine", round=item.round, prompt=item.id)
                )
            else:
                out.append(
                    Dropped(
                        id=tid, stage=self.name, input_id=item.id, reason="over_new_per_prompt", text=text
                    )
                )
        return out


class TaskType(BaseModel):
    is_classification: bool


class Instance(BaseModel):
    input: str = ""
    output: str = Field(min_length=1)


class Instances(BaseModel):
    instances: list[Instance] = Field(min_length=1)


TASK_TYPE_SCHEMA = {
    "type": "object",
    "properties": {"is_classification": {"type": "boolean"}},
    "required": ["is_classification"],
    "additionalProperties": False,
}


def _instance_schema(output_first: bool, most: int) -> dict[str, Any]:
    fields = ["output", "input"] if output_first else ["input", "output"]  # the order generated in
    item = {
        "type": "object",
        "properties": {f: {"type": "string"} for f in fields},
        "required": fields,
        "additionalProperties": False,
    }
    return _list_schema("instances", item, most)


def _short(task: Task) -> bool:
    first = task.instances[:1]
    return len(task.instruction) + sum(len(i["input"]) + len(i["output"]) for i in first) < EXAMPLE_CHARS


def _render_example(task: Task, output_first: bool) -> str:
    inst = task.instances[0]
    if output_first:
        return f"Task: {task.instruction}\nClass label: {inst['output']}\nInput: {inst['input']}\n\n"
    return f"Task: {task.instruction}\nInput: {inst['input'] or '(none)'}\nOutput: {inst['output']}\n\n"


def few_shot(seeds: list[Task], seed: int) -> dict[str, str]:
    """The few-shot text of each instance prompt (`classify`, `output_first`, `input_first`):
    short labelled seed tasks, picked once per run seed."""
    rng = random.Random(seed_for(seed, "instances", "examples"))
    seeds = [t for t in seeds if _short(t)]
    yes = [t for t in seeds if t.is_classification]
    no = [t for t in seeds if t.is_classification is False]
    picked = rng.sample(yes, min(CLASSIFY_EXAMPLES, len(yes))) + rng.sample(
        no, min(CLASSIFY_EXAMPLES, len(no))
    )
    rng.shuffle(picked)
    answer = {True: "Yes", False: "No"}
    out = {
        "classify": "".join(
            f"Task: {t.instruction}\nIs it classification? {answer[bool(t.is_classification)]}\n\n"
            for t in picked
        )
    }
    for key, kind in (("output_first", yes), ("input_first", no)):
        usable = [t for t in kind if t.instances]
        shown = rng.sample(usable, min(INSTANCE_EXAMPLES, len(usable)))
        out[key] = "".join(_render_example(t, key == "output_first") for t in shown)
    return out


class InstancesStage(SeededStage):
    """A task -> its instruction pairs: whether it is classification (asked unless the task
    says), then its instances, each an InstructionPair. Of the instances, those past
    `max_instances` are dropped (`over_max_instances`), an exact repeat of an earlier one as
    `duplicate_instance`, and all that share an input but not an output as
    `conflicting_instances`. Few-shot examples come from the seed tasks, the same for every
    task of a run (a shared prompt prefix)."""

    name = "instances"
    input = Task
    output = InstructionPair
    cfg: InstancesConfig
    method: ClassVar[str] = "self_instruct"
    recipe: ClassVar[str] = "self_instruct"

    def __init__(
        self, cfg: InstancesConfig, model: str, seed: int, seed_tasks: str, lineage_steps: tuple[str, ...]
    ) -> None:
        super().__init__(cfg, model, seed)
        self.seed_tasks = seed_tasks  # self_instruct.seed_tasks: the few-shot examples' source
        self.lineage_steps = lineage_steps

    @cached_property
    def examples(self) -> dict[str, str]:
        return few_shot(load_tasks(self.seed_tasks, "self_instruct.seed_tasks"), self.seed)

    def _request(
        self, task: Task, text: str, schema: dict[str, Any], name: str, **sampling: Any
    ) -> ChatRequest:
        return ChatRequest(
            model=self.model,
            messages=[{"role": "user", "content": text}],
            seed=seed_for(self.seed, task.id, name),
            response_schema=schema,
            schema_name=name,
            **{**self.cfg.sampling(), **sampling},
        )

    def _instances_request(self, task: Task, classification: bool) -> ChatRequest:
        key, template = ("output_first", OUTPUT_FIRST) if classification else ("input_first", INPUT_FIRST)
        n = self.cfg.max_instances
        text = template.format(n=n, examples=self.examples[key], instruction=task.instruction)
        return self._request(task, text, _instance_schema(classification, n), "instances")

    def jobs(self, item: Task) -> Iterable[Job]:
        if item.is_classification is not None:  # a labelled task needs no classification call
            label = item.is_classification
            yield Job(item, self._instances_request(item, label), {"label": label})
            return
        text = CLASSIFY.format(examples=self.examples["classify"], instruction=item.instruction)
        # a label, not a creative text: greedy, and a short reply
        short = {"temperature": 0.0, "top_p": 1.0, "max_tokens": min(64, self.cfg.max_tokens)}
        yield Job(item, self._request(item, text, TASK_TYPE_SCHEMA, "task_type", **short))

    def parse(self, job: Job, response: ChatResponse) -> list[Record] | FollowUp:
        task: Task = job.item
        if "label" not in job.context:
            label = parse_reply(response, TaskType).is_classification
            return FollowUp(self._instances_request(task, label), {"label": label})
        instances = parse_reply(response, Instances).instances
        return list(self._pairs(task, job.context["label"], instances, response.finish_reason))

    def _pairs(
        self, task: Task, label: bool, instances: list[Instance], finish: str | None
    ) -> Iterable[Record]:
        """The task's pairs in reply order, and what the instance filters drop."""
        pairs = [(i.input.strip(), i.output.strip()) for i in instances]
        kept = pairs[: self.cfg.max_instances]
        outputs: dict[str, set[str]] = {}
        for inp, out in kept:
            outputs.setdefault(inp, set()).add(out)
        seen: set[tuple[str, str]] = set()
        meta = {"is_classification": label, "round": task.round, "task_id": task.id}
        for i, (inp, out) in enumerate(pairs):
            rid = lineage_id("pair", task.id, self.seed, i)
            if i >= len(kept):
                reason: str | None = "over_max_instances"
            elif len(outputs[inp]) > 1:
                reason = "conflicting_instances"
            else:
                reason = "duplicate_instance" if (inp, out) in seen else None
            seen.add((inp, out))
            if reason is not None:
                yield Dropped(
                    id=rid, stage=self.name, input_id=task.id, reason=reason, text=out, detail={"input": inp}
                )
                continue
            yield InstructionPair(
                id=rid,
                instruction=task.instruction,
                input=inp or None,
                response=out,
                finish_reason=finish,
                answer_model=self.model,
                method=self.method,
                recipe=self.recipe,
                steps=list(self.lineage_steps),
                meta=meta,
            )
