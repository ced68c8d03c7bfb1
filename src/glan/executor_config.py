"""Which executor runs a recipe's map steps, and the Ray executor's settings.

Neither is part of a step's fingerprint: the same config makes the same records whichever
executor answers, so a run may switch executors between invocations and keep its shards.
"""

from __future__ import annotations

from pydantic import Field

from glan.config_base import Strict


class RayConfig(Strict):
    """`executor: ray`: each map step's records flow through Ray Data (glan.exec.ray)."""

    address: str | None = Field(
        default=None,
        description="the cluster to join ('auto', 'ray://host:10001'); none: start a local one",
    )
    actors: int = Field(default=2, ge=1, le=4096, description="worker actors per step")
    actor_cpus: float = Field(
        default=0.5, gt=0, description="CPUs each actor reserves (HTTP calls mostly wait)"
    )
    batch_size: int = Field(default=64, ge=1, description="input records per Ray Data batch")
    window: int = Field(
        default=50_000, ge=1, description="input records handed to Ray at once (bounds the driver's memory)"
    )
