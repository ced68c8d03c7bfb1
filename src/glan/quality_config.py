"""The settings of quality control: question critique and answer verification (sections
`critique:` and `verify:` of the run config). Both are off unless set; each may name its own
`llm:` (a judge other than the generator)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from glan.config_base import Sampling, Strict

VerifyMethod = Literal["code", "self_consistency", "double_critic"]


class CritiqueConfig(Sampling):
    """A judge call per question (self-contained, answerable, on topic, free of its answer, of
    its stated difficulty); a question that fails is not answered and goes to the step's
    removed file with the judge's reason."""

    enabled: bool = Field(default=False, description="critique every question before it is answered")
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 400


class CodeCheckConfig(Strict):
    """The sandbox that runs the Python programs an answer shows (bubblewrap: no network, a
    read-only system, a temporary folder as the only writable place, CPU / memory / process /
    output limits, killed at `timeout_s`)."""

    timeout_s: float = Field(default=10.0, gt=0, le=600, description="wall-clock limit per program")
    cpu_s: int = Field(default=10, ge=1, le=600, description="CPU-time limit per program")
    memory_mb: int = Field(default=512, ge=32, description="address-space limit per program")
    processes: int = Field(default=32, ge=1, description="processes a program may have at once")
    max_output_kb: int = Field(default=64, ge=1, description="stdout / stderr kept, and file size limit")
    python: str = Field(
        default="auto",
        description="the interpreter inside the sandbox: 'auto' (the system python3, else glan's own)",
    )
    workers: int | None = Field(default=None, ge=1, description="programs run at once (default: CPUs)")
    on_mismatch: Literal["drop", "repair", "flag"] = Field(
        default="drop",
        description="an output block that is not what the program prints: drop the pair, put the "
        "real output in its place, or keep it flagged",
    )


class VerifyConfig(Sampling):
    """Answer verification, the method chosen per pair among `methods` (in this order of
    preference): `code` for answers that show Python programs (run in the sandbox, no call),
    `self_consistency` for answers with a short final answer (`samples` answers sampled, the
    majority kept), `double_critic` for the rest (two judgments, both must hold). An empty
    list turns verification off."""

    methods: list[VerifyMethod] = Field(default_factory=list, description="empty: off")
    input: str | None = Field(
        default=None, description="the verify recipe's pairs: a JSONL file, or a run's step folder"
    )
    samples: int = Field(default=5, ge=2, le=32, description="self-consistency: answers sampled")
    min_agreement: float = Field(
        default=0.6, gt=0, le=1, description="self-consistency: the majority's share needed"
    )
    replace: bool = Field(
        default=True, description="self-consistency: keep a majority answer when the pair's disagrees"
    )
    on_fail: Literal["drop", "flag"] = Field(
        default="drop", description="a pair that fails: to the removed file, or kept with passed false"
    )
    temperature: float = Field(default=0.8, ge=0, le=2, description="of the self-consistency samples")
    judge_temperature: float = Field(default=0.0, ge=0, le=2, description="of the critics' calls")
    max_tokens: int = 1024
    code: CodeCheckConfig = Field(default_factory=CodeCheckConfig)
