"""PostConfig: everything `glan clean` / `glan export` can be told, validated with pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from glan.errors import ConfigError
from glan.yamlio import line_of

FILTER_NAMES = (
    "empty_response",
    "truncated",
    "refusal",
    "repeats_question",
    "instruction_length",
    "response_length",
    "template_leftover",
    "verification",
)

DEFAULT_REFUSALS = [
    r"^\s*(i'?m|i am)\s+(sorry|afraid)\b.{0,80}\b(can(no|')t|unable|not able)",
    r"\bas an ai(\s+language)?\s+model\b",
    r"^\s*i\s+(can(no|')t|am unable to|am not able to|won'?t)\s+"
    r"(help|assist|answer|provide|comply|do that)",
    r"^\s*(i\s+don'?t\s+know|i\s+do\s+not\s+know|i'?m\s+not\s+sure)\b",
    r"^\s*(sorry|unfortunately)[,.!]?\s+i\s+(can(no|')t|am unable|don'?t)",
]

DEFAULT_TEMPLATE_LEFTOVERS = [  # one pattern each: a literal first character keeps re fast
    r"<\|(im_start|im_end|eot_id|start_header_id|end_header_id|endoftext)\|>",
    r"\[/?INST\]",
    r"</?s>",
    r"<<SYS>>",
    r"#{2,}[ \t]*(instruction|response|input|question|answer)\b",
    r"\{\{?\s*(question|instruction|syllabus|concepts?|sessions?|subject|discipline)\s*\}?\}",
    r"^\s*(sure|certainly|okay|ok)[,!.]?\s+here\s+(is|are)\s+(a|an|the|some)\s+"
    r"(new\s+)?(homework\s+)?(question|problem|exercise)",
    r"^\s*(homework\s+question|question|instruction)\s*\d*\s*:",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldMap(_Model):
    """Names of the fields to read in the input file (the pipeline's names by default)."""

    instruction: str = Field(default="instruction", min_length=1)
    response: str = Field(default="response", min_length=1)
    input: str = Field(default="input", min_length=1, description="Alpaca-style extra input")
    id: str = Field(default="id", min_length=1)
    finish_reason: str = Field(default="finish_reason", min_length=1)
    messages: str = Field(
        default="messages", min_length=1, description="a conversation: a list of {role, content} turns"
    )


class FilterConfig(_Model):
    """Quality filters; each one is named, switchable and counted."""

    enabled: list[Literal[FILTER_NAMES]] = Field(default_factory=lambda: list(FILTER_NAMES))  # type: ignore[valid-type]
    instruction_min_words: int = Field(default=3, ge=0)
    instruction_max_words: int = Field(default=2000, ge=1)
    response_min_words: int = Field(default=1, ge=0)
    response_max_words: int = Field(default=10000, ge=1)
    refusal_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUSALS))
    refusal_max_words: int = Field(
        default=80, ge=1, description="only responses this short can count as refusals"
    )
    template_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_TEMPLATE_LEFTOVERS))
    min_agreement: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="verification: self-consistency agreement a pair needs (meta.verify.agreement)",
    )
    require_verified: bool = Field(
        default=False, description="verification: drop pairs that carry no verdict (meta.verify)"
    )
    repeat_threshold: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="share of response words found, in order, in the instruction",
    )


class DedupConfig(_Model):
    exact: bool = True
    exact_on: Literal["instruction", "instruction+response"] = "instruction"
    near: bool = True
    near_on: Literal["instruction", "instruction+response"] = "instruction"
    rouge_l_threshold: float = Field(default=0.7, gt=0, le=1)
    shingle: int = Field(default=1, ge=1, le=5, description="words per MinHash shingle")
    num_perm: int = Field(
        default=120, ge=4, le=512, description="MinHash length (all of it estimates Jaccard)"
    )
    bands: int = Field(default=20, ge=1, le=512, description="LSH bands")
    rows: int = Field(default=3, ge=1, le=64, description="MinHash values per LSH band")
    max_candidates: int = Field(default=32, ge=1, description="ROUGE-L checks per pair at most")
    jaccard_margin: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="candidates whose MinHash Jaccard estimate is this far below the ROUGE-L "
        "bound t/(2-t) are skipped without a ROUGE-L check",
    )
    max_bucket: int = Field(
        default=8, ge=1, description="earliest pairs looked at per LSH bucket (bounds hot buckets)"
    )
    seed: int = 1
    max_memory_mb: int = Field(
        default=1024,
        ge=0,
        description="dedup state kept in memory at most; past it (estimated from the input's "
        "size) exact and near dedup run on disk, with the same results (0: always on disk)",
    )

    @model_validator(mode="after")
    def _bands_divide(self) -> DedupConfig:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows ({self.bands} x {self.rows}) must not exceed num_perm ({self.num_perm})"
            )
        return self


class BenchmarkFile(_Model):
    """A user benchmark: JSONL, Parquet or CSV; the item text joins `fields`."""

    path: Path
    fields: list[str] = Field(min_length=1)
    name: str | None = None
    id_field: str | None = None


class DecontamConfig(_Model):
    enabled: bool = True
    ngram: int = Field(default=13, ge=3, le=64)
    min_item_tokens: int = Field(
        default=8, ge=1, description="items shorter than this many tokens are not matched"
    )
    builtin: list[Literal["humaneval", "mmlu"]] = Field(default_factory=lambda: ["humaneval", "mmlu"])
    files: list[BenchmarkFile] = Field(default_factory=list)
    check: list[Literal["instruction", "response"]] = Field(
        default_factory=lambda: ["instruction", "response"]
    )


class SplitConfig(_Model):
    """Optional held-out test split, GLAN-Test style."""

    mode: Literal["none", "subject", "discipline"] = "none"
    test_share: float = Field(default=0.05, gt=0, lt=1)
    test_per_discipline: int | None = Field(
        default=None, ge=1, description="fixed count per discipline instead of a share"
    )
    seed: int = 0


class ExportConfig(_Model):
    formats: list[Literal["messages", "sharegpt", "alpaca"]] = Field(
        default_factory=lambda: ["messages", "sharegpt", "alpaca"], min_length=1
    )
    file_types: list[Literal["jsonl", "parquet"]] = Field(default_factory=lambda: ["jsonl", "parquet"])
    hf_dataset: Literal["auto", "yes", "no"] = Field(
        default="auto", description="save a `datasets` dataset on disk (auto: if installed)"
    )
    system_prompt: str | None = None
    include_metadata: bool = True
    dataset_name: str = "glan-instructions"


class PostConfig(_Model):
    """Configuration of the clean and export steps (`post:` in the run config)."""

    fields: FieldMap = Field(default_factory=FieldMap)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    batch_size: int = Field(default=2048, ge=1, le=1_000_000)


def load_post_config(path: Path | None, flags: dict[str, tuple[str, Any]]) -> PostConfig:
    """PostConfig from a YAML/JSON file (a whole run config with a `post:` key, or the post
    settings alone), with command-line values on top: `flags` maps a dotted setting to (the
    flag, its value; None: not given). Read, overridden and worded as the run config is
    (glan.config): every problem is one line naming the flag, or the file and line, then the
    setting and its value."""
    from glan.config import located, post_problem, read_config_file, set_setting

    whole, tree = read_config_file(path) if path is not None else ({}, None)
    prefix: tuple[str, ...] = ("post",) if "post" in whole else ()
    if prefix and whole["post"] is None:
        whole["post"] = {}
    if prefix and not isinstance(whole["post"], dict):
        kind = type(whole["post"]).__name__
        raise ConfigError(
            f"{path}:{line_of(tree, prefix) or 1}: `post:` must be a mapping of settings, got {kind}"
        )
    given = []
    for dotted, (flag, value) in flags.items():
        if value is not None:
            keys = (*prefix, *dotted.split("."))
            set_setting(whole, keys, value, flag)
            given.append((keys, flag))
    data = whole["post"] if prefix else whole
    try:
        return PostConfig.model_validate(data)
    except ValidationError as e:
        loc, problem = post_problem(e, data)
        if not prefix:  # the post settings alone: no `post:` level above them
            loc, problem = loc[1:], problem.removeprefix("post.")
        raise located(loc, problem, path, tree, given) from None
