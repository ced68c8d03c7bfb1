"""The settings of the Self-Instruct and Evol-Instruct methods (sections of the run config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from glan.config_base import Sampling

# Self-Instruct's keyword filter (Wang et al. 2022): tasks a text-only model cannot do.
KEYWORDS = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
    "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip

EvolOperation = Literal[
    "add_constraints", "deepening", "concretizing", "increase_reasoning", "complicate_input", "breadth"
]
OPERATIONS: tuple[EvolOperation, ...] = (
    "add_constraints", "deepening", "concretizing", "increase_reasoning", "complicate_input", "breadth"
)  # fmt: skip


class SelfInstructConfig(Sampling):
    """The bootstrap loop: each round asks `prompts_per_round` prompts, each showing
    `human_per_prompt` seed tasks and `machine_per_prompt` generated ones, for up to
    `new_per_prompt` new tasks; the loop stops once `target` generated tasks are kept (or after
    `max_rounds`)."""

    seed_tasks: str = Field(
        default="builtin",
        description="'builtin' (the 175 Self-Instruct seed tasks) or a JSONL file of tasks "
        "(`instruction`, optional `instances` or `input`/`output`, `is_classification`)",
    )
    target: int = Field(default=100, ge=1, description="generated tasks to keep")
    max_rounds: int = Field(default=100, ge=1)
    prompts_per_round: int = Field(default=8, ge=1)
    human_per_prompt: int = Field(default=6, ge=0)
    machine_per_prompt: int = Field(default=2, ge=0)
    new_per_prompt: int = Field(default=8, ge=1)
    temperature: float = 0.7
    top_p: float = 0.5
    max_tokens: int = 1024
    min_words: int = Field(default=4, ge=1, description="shorter instructions are dropped")
    max_words: int = Field(default=150, ge=1, description="longer instructions are dropped")
    keywords: list[str] = Field(default_factory=lambda: list(KEYWORDS))
    rouge_l_threshold: float = Field(default=0.7, gt=0, le=1, description="ROUGE-L F against the pool")


class InstancesConfig(Sampling):
    """Self-Instruct's instance generation: a classification call, then the instances
    (output-first for classification tasks, input-first otherwise)."""

    max_instances: int = Field(default=3, ge=1)
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024


class EvolveConfig(Sampling):
    """Evol-Instruct: each chosen item is evolved `rounds` times by an operation picked per item
    and round; an evolution that fails an elimination rule leaves the item as it was."""

    share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="the share of items evolved (GLAN: 0, off, unless set; evol_instruct: 1)",
    )
    rounds: int = Field(default=1, ge=1)
    operations: list[EvolOperation] = Field(
        default_factory=lambda: list(OPERATIONS), min_length=1, description="chosen from uniformly"
    )
    instructions: str = Field(
        default="self-instruct-seeds",
        description="evol_instruct's input: 'self-instruct-seeds' or a JSONL file with `instruction`",
    )
    judge: bool = Field(default=True, description="ask the LLM whether an evolution adds information")
    temperature: float = 0.7
    max_tokens: int = 1024
