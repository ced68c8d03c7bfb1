"""Backends by name. A backend module declares its settings as a `BackendOptions` subclass
(its own `backend: Literal[name]`, the settings only it takes) whose `build()` makes the
backend, and registers it with `@register`. The config's `llm:` sections are validated by the
class their `backend:` names (no `backend:` means local), so a setting of another backend, or a
typo, is an error naming the backend.

Adding a backend is one module plus one line in BUILTIN (or a `register` call from a plugin)."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from glan.llm.base import Backend
from glan.llm.packs import DEFAULT_PACK

# backend name -> the module that registers it; imported when a config first names the backend
BUILTIN = {"local": "glan.llm.local", "openai": "glan.llm.openai_compat"}
DEFAULT = "local"

_registered: dict[str, type[BackendOptions]] = {}
# Settings added after runs were made that change how calls are made, never what they answer:
# dumped only when not at their default, so the step fingerprints of those runs stay the same.
RUNTIME_ONLY = ("min_concurrency", "adaptive")


class BackendOptions(BaseModel):
    """Settings every backend takes. API keys are read from the environment, never stored."""

    model_config = ConfigDict(extra="forbid")

    backend: str
    model: str = DEFAULT_PACK
    concurrency: int = Field(default=1, ge=1, le=4096, description="requests in flight, at most")
    min_concurrency: int = Field(default=1, ge=1, le=4096, description="adaptive: never fewer in flight")
    adaptive: bool = Field(
        default=False, description="raise and cut requests in flight from latency and 429/5xx/timeouts"
    )
    timeout_s: float = Field(default=600.0, gt=0, description="per request")
    max_retries: int = Field(default=5, ge=0)
    max_failure_rate: float = Field(
        default=0.5, gt=0, le=1, description="stop the run when more of the recent calls fail (1: never)"
    )

    @model_validator(mode="after")
    def _bounds(self) -> BackendOptions:
        if self.min_concurrency > self.concurrency:
            least, most = self.min_concurrency, self.concurrency
            raise ValueError(f"min_concurrency {least} > concurrency {most} (the most in flight)")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        fields = type(self).model_fields
        for name in RUNTIME_ONLY:
            if name in data and getattr(self, name) == fields[name].default:
                del data[name]
        return data

    def build(self) -> Backend:
        """The backend these settings describe (called on a cache miss only)."""
        raise NotImplementedError


def register(options: type[BackendOptions]) -> type[BackendOptions]:
    """Make `options` (a class decorator) the settings of the backend its `backend` default names."""
    name = options.model_fields["backend"].default
    if not isinstance(name, str):
        raise TypeError(f"{options.__name__}.backend needs its name as default (backend: Literal['x'] = 'x')")
    _registered[name] = options
    return options


def names() -> list[str]:
    """Every backend a config may name: the built-in ones first."""
    return [*BUILTIN, *(n for n in _registered if n not in BUILTIN)]


def options_for(name: str) -> type[BackendOptions]:
    """The settings class of backend `name` (KeyError: no such backend)."""
    if name not in _registered and name in BUILTIN:
        importlib.import_module(BUILTIN[name])  # registers it
    return _registered[name]


def build_backend(options: BackendOptions) -> Backend:
    return options.build()


def default_options() -> BackendOptions:
    return options_for(DEFAULT)(backend=DEFAULT)


def validate_options(value: Any, handler: ValidatorFunctionWrapHandler) -> BackendOptions:
    """An `llm:` section, validated by the settings class of the backend it names (a wrap
    validator: looked up when validating, so a backend registered later is known too)."""
    if isinstance(value, BackendOptions):
        return handler(value)
    if not isinstance(value, dict):
        raise _error((), value, "should be a section of settings (backend: ..., model: ...)")
    name = value.get("backend", DEFAULT)
    try:
        options = options_for(name)
    except (KeyError, TypeError):  # TypeError: an unhashable value such as a list
        known = " or ".join(map(repr, names()))
        raise _error(("backend",), name, f"unknown backend, expected {known}") from None
    return options.model_validate(value)  # its errors keep their place (llm.n_ctx, ...)


def _error(loc: tuple[str, ...], value: Any, message: str) -> ValidationError:
    """One validation error at `loc` (inside the section being validated)."""
    error = PydanticCustomError("llm_section", message)
    return ValidationError.from_exception_data("llm", [InitErrorDetails(type=error, loc=loc, input=value)])


def all_fields() -> dict[str, Any]:
    """Every setting some backend takes, by name (for `--set llm.x=...` before the backend is known)."""
    return {k: v for n in names() for k, v in options_for(n).model_fields.items()}


def unknown_setting(options: type[BackendOptions], name: str) -> str:
    """Why `name` is not a setting of `options`' backend, and what is."""
    backend = options.model_fields["backend"].default
    own = [f for f in options.model_fields if f != "backend"]
    others = [n for n in names() if n != backend and name in options_for(n).model_fields]
    close = difflib.get_close_matches(name, own, n=1)
    takes = f"{backend!r} takes: {', '.join(own)}"
    hint = f"a setting of backend {others[0]!r}; {takes}" if others else takes
    if close and not others:
        hint = f"did you mean {close[0]!r}?"
    return f"unknown setting for backend {backend!r} ({hint})"
