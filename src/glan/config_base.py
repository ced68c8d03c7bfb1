"""The base of every settings section: closed models, an `llm:` override, sampling."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, WrapValidator

from glan.llm.registry import BackendOptions, validate_options


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# An `llm:` section: the settings of the backend its `backend:` names (glan.llm.registry),
# each backend's validated on their own; dumped with that backend's fields.
LLMConfig = Annotated[SerializeAsAny[BackendOptions], WrapValidator(validate_options)]


class Sampling(Strict):
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_tokens: int = Field(default=1024, ge=1)
    llm: LLMConfig | None = Field(default=None, description="override the run's llm for this step")

    def sampling(self) -> dict[str, float | int]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens}
