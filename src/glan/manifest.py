"""manifest.json: what ran in a run directory, with what config, and what it cost."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from glan import __version__
from glan.llm.cache import usage_of
from glan.store import write_json_atomic

if TYPE_CHECKING:
    from glan.session import Session


def write_manifest(session: Session) -> None:
    """Merge this invocation's report into manifest.json (no secrets: keys live in env).
    `steps` holds the last invocation of each step (its calls count attempts, failed ones
    too); `usage` is every response in the cache, per stage and model: what the run dir has
    cost, whatever was killed on the way (batch imports at batch prices)."""
    run = session.run
    old = run.read_manifest()
    known = (old["usage_mark"], old["usage"]) if "usage_mark" in old and "usage" in old else None
    mark, usage = usage_of(run.cache, session.opened_cache, known)
    write_json_atomic(
        run.manifest,
        {
            "glan_version": __version__,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": session.cfg.model_dump(mode="json"),
            "steps": {**old.get("steps", {}), **session.report},
            "usage": usage,
            "usage_mark": mark,
        },
    )
