"""The `executed` step: the Python programs the pairs show, run in the sandbox (no LLM call).

A reduce step over the pairs of one input shard; its records come out in input order:
- a pair without a Python block (or whose program needs a module the sandbox lacks) as it was;
- one whose program runs and whose shown output is what it prints, with `meta.verify`
  {method: code, passed: true, detail};
- one whose program fails (exit code, timeout, a limit): a Dropped record `code_failed`
  (`verify.on_fail: drop`), or kept with `passed: false` (`flag`);
- one whose shown output is not what it prints, by `verify.code.on_mismatch`: a Dropped record
  `output_mismatch` (`drop`), the answer with the real output in its place (`repair`,
  `repaired: true` and the shown block kept in `meta.verify.shown`), or kept with
  `passed: false` (`flag`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from glan.config import RunConfig
from glan.errors import ConfigError
from glan.records import Dropped, InstructionPair, Record, lineage_id
from glan.verify.code_blocks import CodeCheck, check_code
from glan.verify.sandbox import sandbox_problem

STAGE = "executed"
KEEP_CHARS = 2000  # of the shown and printed output a drop keeps in its detail


def check_sandbox(cfg: RunConfig) -> None:
    """Raise a ConfigError when the config runs code (`code` in verify.methods) and the sandbox
    does not work here: before a run writes anything, not at the first pair."""
    if "code" in cfg.verify.methods:
        problem = sandbox_problem(cfg.verify.code.python)
        if problem is not None:
            raise ConfigError(problem)


def executed(cfg: RunConfig, pairs: list[InstructionPair]) -> Iterator[Record]:
    """The pairs, checked (see the module's docstring), in input order."""
    code = cfg.verify.code
    workers = min(code.workers or os.cpu_count() or 1, max(len(pairs), 1))
    # the programs run in their own processes: threads only wait for them
    with ThreadPoolExecutor(workers, thread_name_prefix="glan-sandbox") as pool:
        checks = pool.map(lambda pair: check_code(pair.response, code), pairs)
        for pair, check in zip(pairs, checks, strict=True):
            yield outcome(cfg, pair, check)


def outcome(cfg: RunConfig, pair: InstructionPair, check: CodeCheck) -> Record:
    """The record a pair becomes after its check."""
    if check.status == "none":
        return pair
    if check.status == "passed":
        return _with_verdict(pair, {"method": "code", "passed": True, "detail": check.detail})
    if check.status == "failed":
        if cfg.verify.on_fail == "drop":
            return _dropped(pair, "code_failed", {"detail": check.detail, "stderr": check.stderr})
        verdict = {"method": "code", "passed": False, "reason": "code_failed", "detail": check.detail}
        return _with_verdict(pair, verdict)
    mode = cfg.verify.code.on_mismatch
    if mode == "drop":
        detail = {
            "detail": check.detail,
            "shown": (check.shown or "")[:KEEP_CHARS],
            "stdout": check.stdout[:KEEP_CHARS],
        }
        return _dropped(pair, "output_mismatch", detail)
    if mode == "repair" and check.repaired is not None:
        verdict = {"method": "code", "passed": True, "repaired": True, "detail": check.detail}
        return _with_verdict(pair, {**verdict, "shown": check.shown}, response=check.repaired)
    verdict = {"method": "code", "passed": False, "reason": "output_mismatch", "detail": check.detail}
    return _with_verdict(pair, verdict)


def _with_verdict(
    pair: InstructionPair, verdict: dict[str, Any], response: str | None = None
) -> InstructionPair:
    update: dict[str, Any] = {"meta": {**(pair.meta or {}), "verify": verdict}}
    if response is not None:
        update["response"] = response
        last_turn = pair.messages[-1] if pair.messages else None
        if last_turn is not None and last_turn.role == "assistant" and last_turn.content == pair.response:
            last = last_turn.model_copy(update={"content": response})  # a conversation: its last turn
            update["messages"] = [*pair.messages[:-1], last]
    return pair.model_copy(update=update)


def _dropped(pair: InstructionPair, reason: str, detail: dict[str, Any]) -> Dropped:
    return Dropped(
        id=lineage_id("dropped", STAGE, pair.id),
        stage=STAGE,
        input_id=pair.id,
        reason=reason,
        text=pair.response,
        # the method and discipline: the dataset card counts a drop against them
        detail={"method": "code", **detail, "discipline": pair.discipline, "generated_by": pair.method},
    )
