"""The run configuration: a YAML file plus `key.path=value` overrides, validated by pydantic."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from glan.config_base import LLMConfig, Sampling, Strict
from glan.errors import ConfigError
from glan.executor_config import RayConfig
from glan.llm import registry
from glan.llm.registry import BackendOptions, default_options
from glan.method_config import EvolveConfig, InstancesConfig, SelfInstructConfig
from glan.quality_config import CritiqueConfig, VerifyConfig
from glan.tasks_file import BUILTIN
from glan.yamlio import compose, construct, line_of, parse_value, read_text


class PriceConfig(Strict):
    """US dollars per million tokens; `batch` is the Batch API's share of the price."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    batch: float = Field(default=0.5, gt=0, le=1)

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


class BudgetConfig(Strict):
    """A hard limit on what the run directory spends (its cache: every invocation counted);
    the run stops before a call could pass it (glan.llm.budget)."""

    usd: float | None = Field(default=None, gt=0, description="US dollars (needs `prices:` for the models)")
    tokens: int | None = Field(default=None, gt=0, description="prompt + completion tokens")


class TaxonomyGenConfig(Sampling):
    temperature: float = 0.7
    max_fields: int = Field(default=8, ge=1)
    max_sub_fields: int = Field(default=6, ge=1)
    max_disciplines: int = Field(default=8, ge=1)
    max_tokens: int = 1024


class SubjectsConfig(Sampling):
    mode: Literal["two_call", "json"] = "two_call"
    samples: int = Field(default=10, ge=1)
    temperature: float = 1.0
    max_tokens: int = 2048
    max_per_discipline: int | None = Field(default=None, ge=1)


class SyllabusConfig(Sampling):
    min_sessions: int = Field(default=10, ge=1)
    max_sessions: int = Field(default=30, ge=1)
    max_tokens: int = 4096

    @model_validator(mode="after")
    def _bounds(self) -> SyllabusConfig:
        if self.min_sessions > self.max_sessions:
            raise ValueError(f"min_sessions {self.min_sessions} > max_sessions {self.max_sessions}")
        return self


class QuestionsConfig(Sampling):
    per_syllabus: int = Field(default=10, ge=1)
    challenging_share: float = Field(default=0.5, ge=0, le=1)
    temperature: float = 1.0
    max_tokens: int = 512


class AnswersConfig(Sampling):
    system_prompt: str | None = None
    max_tokens: int = 2048


class ReportConfig(Strict):
    """`glan report` as the last step of `glan run` (RUN/report/report.html)."""

    sample: int = Field(default=2000, ge=10, description="instructions for the diversity figures")
    embeddings: bool = Field(default=True, description="semantic diversity (needs glan[report])")


class RunConfig(Strict):
    recipe: str = Field(default="glan", description="the method: `glan recipes` lists them")
    run_dir: Path = Path("runs/glan")
    seed: int = 0
    taxonomy: str = Field(default="builtin", description="'builtin', 'generate', or a taxonomy YAML file")
    disciplines: list[str] | None = Field(
        default=None, description="only these disciplines (or sub-fields / fields)"
    )
    max_reasks: int = Field(default=2, ge=0)
    max_rerun_attempts: int = Field(
        default=3, ge=0, description="reruns that ask a job whose reply never validated anew"
    )
    llm: LLMConfig = Field(default_factory=default_options)
    executor: Literal["local", "ray"] = Field(
        default="local", description="who sends the calls: this process, or a Ray cluster (`ray:`)"
    )
    ray: RayConfig = Field(default_factory=RayConfig)
    taxonomy_gen: TaxonomyGenConfig = Field(default_factory=TaxonomyGenConfig)
    subjects: SubjectsConfig = Field(default_factory=SubjectsConfig)
    syllabi: SyllabusConfig = Field(default_factory=SyllabusConfig)
    questions: QuestionsConfig = Field(default_factory=QuestionsConfig)
    answers: AnswersConfig = Field(default_factory=AnswersConfig)
    evolve: EvolveConfig = Field(default_factory=EvolveConfig)
    self_instruct: SelfInstructConfig = Field(default_factory=SelfInstructConfig)
    instances: InstancesConfig = Field(default_factory=InstancesConfig)
    critique: CritiqueConfig = Field(default_factory=CritiqueConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    report: ReportConfig | None = Field(default=None, description="write RUN/report/ after the run")
    post: dict[str, Any] | None = Field(
        default=None, description="clean/export settings (glan.post.config.PostConfig)"
    )
    prices: dict[str, PriceConfig] = Field(
        default_factory=dict, description="model name -> price per million tokens, for cost accounting"
    )
    budget: BudgetConfig = Field(default_factory=BudgetConfig, description="stop before spending more")

    @field_validator("run_dir", "taxonomy", mode="before")
    @classmethod
    def _not_blank(cls, v: Any) -> Any:
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError("empty; leave it out to use the default")
        return v

    @field_validator("disciplines", mode="before")
    @classmethod
    def _one_or_more(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [v]  # `--set disciplines=Physics`
        if v == []:
            raise ValueError("empty list; omit it to use the whole taxonomy")
        return v

    @field_validator("budget")
    @classmethod
    def _priced(cls, budget: BudgetConfig, info: ValidationInfo) -> BudgetConfig:
        """A USD budget needs the price of every model the config names (checked at start)."""
        if budget.usd is None:
            return budget
        prices = info.data.get("prices", {})
        for model in sorted({o.model for o in _llm_sections(info.data.values())}):
            if _price(prices, model) is None:
                raise ValueError(
                    f"a USD budget needs the price of model {model!r}: add `prices: {{{model}: "
                    "{input: ..., output: ...}}` (USD per million tokens)"
                )
        return budget

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, name: str) -> str:
        from glan.recipes import recipe_names

        if name not in recipe_names():
            raise ValueError(f"{name!r} is not a recipe (recipes: {', '.join(recipe_names())})")
        return name

    def llm_for(self, step: Sampling) -> LLMConfig:
        return step.llm or self.llm

    def price_for(self, model: str) -> PriceConfig | None:
        """The price of `model`, or of the longest priced name it starts with (a dated
        snapshot such as 'gpt-4o-mini-2024-07-18' takes the price of 'gpt-4o-mini')."""
        return _price(self.prices, model)


def _price(prices: dict[str, PriceConfig], model: str) -> PriceConfig | None:
    if model in prices:
        return prices[model]
    names = [n for n in prices if model.startswith(n)]
    return prices[max(names, key=len)] if names else None


def _llm_sections(values: Any) -> Iterator[BackendOptions]:
    """Every `llm:` section among validated settings, however deep (steps may name their own)."""
    for v in values:
        if isinstance(v, BackendOptions):
            yield v
        elif isinstance(v, BaseModel):
            yield from _llm_sections(getattr(v, name) for name in type(v).model_fields)


def _inner(annotation: Any) -> Any:
    """The settings class an annotation holds, `dict` for a free-form section, else None."""
    for a in (annotation, *get_args(annotation)):
        if get_origin(a) is Annotated:  # an llm section: Annotated[BackendOptions, ...]
            a = get_args(a)[0]
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
        if a is dict or get_origin(a) is dict:
            return dict
    return None


def _unknown(model: Any, dotted: str) -> str:
    name = dotted.rsplit(".", 1)[-1]
    if isinstance(model, type) and issubclass(model, BackendOptions):
        return f"{dotted}: {registry.unknown_setting(model, name)}"
    known = list(getattr(model, "model_fields", ()))
    close = difflib.get_close_matches(name, known, n=1)
    return f"{dotted}: unknown setting" + (f" (did you mean {close[0]!r}?)" if close else "")


def _check_path(keys: list[str], item: str) -> None:
    """An unknown name, or a setting used as a section, in `--set` is a ConfigError."""
    model: Any = RunConfig
    for i, key in enumerate(keys):
        if not key:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        if model is dict:
            continue  # free-form (post, prices): checked when the whole config is validated
        fields = registry.all_fields() if model is BackendOptions else model.model_fields
        if key not in fields:
            if model is BackendOptions:
                return  # no backend has it: validation names the backend the section ends up with
            raise ConfigError(f"--set {item!r}: {_unknown(model, '.'.join(keys[: i + 1]))}")
        if i < len(keys) - 1 and (model := _inner(fields[key].annotation)) is None:
            raise ConfigError(f"--set {item!r}: {'.'.join(keys[: i + 1])!r} is a setting, not a section")


def _override(data: dict[str, Any], item: str) -> tuple[str, ...]:
    """Apply one `key.path=value` to `data`; returns the key path."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key.path=value")
    dotted, raw = (x.strip() for x in item.split("=", 1))
    keys = dotted.split(".")
    _check_path(keys, item)
    set_setting(data, keys, parse_value(raw, f"--set {item!r}") if raw else None, f"--set {item!r}")
    return tuple(keys)


def _problem(e: ValidationError, data: Any, root: Any = None) -> tuple[tuple[str | int, ...], str]:
    """The first validation error of `data` by settings class `root` (None: RunConfig), located
    from the top of the config, and a message naming the setting and its value."""
    first = e.errors()[0]
    prefix = ("post",) if root is not None else ()  # the one section validated on its own
    loc = (*prefix, *first["loc"])
    dotted = ".".join(str(x) for x in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        model: Any = root or RunConfig
        for part in first["loc"][:-1]:  # the settings class that holds the unknown name
            fields = getattr(model, "model_fields", {})
            model = _inner(fields[part].annotation) if part in fields else None
            data = data.get(part) if isinstance(data, dict) else None
            if model is BackendOptions and isinstance(data, dict):  # the backend's own class
                model = registry.options_for(data.get("backend", registry.DEFAULT))
        return loc, _unknown(model, dotted)
    msg = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) and value != "" else ""
    return loc, f"{dotted}: {msg}{shown}"


def _post_config() -> Any:
    try:
        from glan.post.config import PostConfig
    except ImportError:  # clean/export not installed: the run says so when it gets there
        return None
    return PostConfig


def load_config(path: Path | None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read and validate a run config. A relative taxonomy path is taken from the config's
    folder; run_dir from the current directory. Every problem is one ConfigError line naming
    the file and line, or the `--set` override, and the setting."""
    data, tree = read_config_file(path) if path is not None else ({}, None)
    given = [(_override(data, item), f"--set {item!r}") for item in overrides]
    root = None
    try:
        cfg = RunConfig.model_validate(data)
        if cfg.post is not None and (root := _post_config()) is not None:
            root.model_validate(cfg.post)  # a typo under post: fails now, with its line
    except ValidationError as e:
        loc, problem = _problem(e, data if root is None else cfg.post, root)
        raise located(loc, problem, path, tree, given) from None
    if path is not None:  # a file a config names is found beside it, as a user expects
        cfg.taxonomy = _beside(path, cfg.taxonomy, ("builtin", "generate"))
        cfg.self_instruct.seed_tasks = _beside(path, cfg.self_instruct.seed_tasks, BUILTIN)
        cfg.evolve.instructions = _beside(path, cfg.evolve.instructions, BUILTIN)
        if cfg.verify.input:
            cfg.verify.input = _beside(path, cfg.verify.input, ())
    return cfg


def _beside(config: Path, value: str, names: tuple[str, ...]) -> str:
    """A relative file path of the config `config` taken from its folder (names as they are)."""
    if value in names:
        return value
    file = Path(value).expanduser()
    return str(file if file.is_absolute() else config.parent / file)


def read_config_file(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    """The settings of a YAML (or JSON) config file, and its node tree for line numbers."""
    text = read_text(path, "config")
    tree = compose(text, str(path))
    loaded = construct(tree, str(path), text)
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}:1: a config must be a mapping of settings (key: value lines)")
    return loaded or {}, tree


def set_setting(data: dict[str, Any], keys: Sequence[str], value: Any, by: str) -> None:
    """Set the setting at the key path `keys`, making sections on the way; a value where a
    section goes (from the config file) is a ConfigError naming `by`, the override."""
    node = data
    for i, k in enumerate(keys[:-1]):
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{by}: {'.'.join(keys[: i + 1])!r} is not a section")
    node[keys[-1]] = value


def located(
    loc: tuple[str | int, ...],
    problem: str,
    path: Path | None,
    tree: yaml.Node | None,
    given: list[tuple[tuple[str, ...], str]],
) -> ConfigError:
    """The one line for a validation problem at `loc`: it names the last override in `given`
    (key path, how it was given) that set the setting or one around or inside it, else the
    file and line."""
    by = [how for keys, how in given if loc[: len(keys)] == keys or keys[: len(loc)] == loc]
    if by:
        return ConfigError(f"{by[-1]}: {problem}")
    line = line_of(tree, loc) or 1
    return ConfigError(f"{path}:{line}: {problem}" if path else problem)


def post_problem(e: ValidationError, post: Any) -> tuple[tuple[str | int, ...], str]:
    """The first problem of validating the post settings `post` (glan.post.config.PostConfig),
    located under `post:` and worded as the run config's problems are."""
    from glan.post.config import PostConfig

    return _problem(e, post, PostConfig)
