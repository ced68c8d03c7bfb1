"""The review of one run dir: its state as the page sees it, the actions reviewers take, the
LLM's suggestions, and the generation for the new nodes. Thread-safe: the HTTP server answers
each request on its own thread, and every change goes through one lock."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from glan.config import RunConfig
from glan.errors import ConfigError
from glan.events import Events
from glan.review.data import RunData, discipline_id
from glan.review.job import Job
from glan.review.state import CHILD, RULES, Node, Review, ReviewError, base_id, reviewer_name
from glan.review.store import ReviewStore
from glan.store import write_text_atomic
from glan.taxonomy import Taxonomy, dump_taxonomy, load_taxonomy

DEPTH = {"field": 0, "sub_field": 1, "discipline": 2, "subject": 3}


class _Quiet(Events):
    def note(self, text: str, style: str | None = None) -> None:
        pass


def base_taxonomy(cfg: RunConfig) -> Taxonomy:
    """The taxonomy to review: the config's whole taxonomy (its `disciplines:` selection is
    what a run makes, not what is reviewed); `generate` asks the LLM once (cached)."""
    if cfg.taxonomy != "generate":
        return load_taxonomy(None if cfg.taxonomy == "builtin" else Path(cfg.taxonomy))
    from glan.recipes.glan import generate_taxonomy
    from glan.session import Session

    async def go() -> Taxonomy:
        async with Session(cfg) as session:
            return await generate_taxonomy(session)

    return asyncio.run(go())


class ReviewApp:
    def __init__(self, cfg: RunConfig, run_args: list[str]) -> None:
        """`run_args`: the `glan run` arguments that name this config (-c, --set, --run-dir)."""
        from glan.recipes import recipe_of

        if recipe_of(cfg).name != "glan":
            raise ConfigError(f"recipe {cfg.recipe!r}: glan review reviews a GLAN taxonomy (recipe: glan)")
        self.cfg, self.run_args = cfg, run_args
        self.store = ReviewStore(Path(cfg.run_dir))
        self.review: Review = self.store.open(lambda: base_taxonomy(cfg))
        self.data = RunData(cfg)
        self.lock = threading.RLock()
        self.changes = 0  # bumps on every change the page should see
        self.job = Job(self._changed)
        self._suggesting = threading.Lock()
        self._one_cost: dict[str, Any] | None = None

    def close(self) -> None:
        self.job.stop()
        self.store.close()

    def _changed(self) -> None:
        with self.lock:
            self.changes += 1
            if not self.job.running:
                self._one_cost = None  # the run measured more tokens: estimate again

    def cost_of_one(self) -> dict[str, Any]:
        if self._one_cost is None:
            try:
                self._one_cost = self.data.cost_of_one()
            except ConfigError:
                self._one_cost = {"calls": 0, "usd": None}
        return self._one_cost

    # -- actions -------------------------------------------------------------------------

    def act(self, body: dict[str, Any]) -> dict[str, Any]:
        """Check, log and apply one action; the new state."""
        with self.lock:
            event = self.review.prepare(body.get("reviewer"), body)
            self.store.commit(self.review, event)
            self.changes += 1
            state = self.state()
            if event["op"] == "add":
                state["added"] = event["node"]
            return state

    def suggest(self, body: dict[str, Any]) -> dict[str, Any]:
        """Names the LLM proposes as children of a node (fields for none); changes nothing."""
        from glan.recipes.glan import TaxonomyNode, TaxonomyStage
        from glan.session import Session

        with self.lock:
            reviewer_name(body.get("reviewer"))
            nid = body.get("node")
            node = None if nid is None else self.review.node(nid)
            kind = CHILD.get(node.kind if node else None)
            if kind is None:
                raise ReviewError("disciplines get subjects from the run, not suggestions")
            path = self.review.path(node) if node else []
            have = {n.name.casefold() for n in self.review.nodes.values() if n.kind == kind}
        if self.job.running or not self._suggesting.acquire(blocking=False):
            raise ReviewError("the LLM is busy (a generation or another suggestion); try again soon", 409)
        try:
            gen = self.cfg.taxonomy_gen
            stage = TaxonomyStage(gen, self.cfg.llm_for(gen).model, self.cfg.seed)
            made: list[Any] = []

            async def go() -> None:
                async with Session(self.cfg, events=_Quiet()) as session:
                    with session.run.lock():
                        item = TaxonomyNode(id="review", path=path)
                        await session.run_stage(stage, [item], 1, self.cfg.llm_for(gen), made.append)

            try:
                asyncio.run(go())
            except ConfigError as e:
                raise ReviewError(str(e), 409) from None
        finally:
            self._suggesting.release()
        names = [n.path[-1] for n in made if n.path[-1].casefold() not in have]
        return {"names": names, "kind": kind}

    def generate(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start `glan run` over the run taxonomy; the state with the job running."""
        with self.lock:
            who = reviewer_name(body.get("reviewer"))
            if self.job.running:
                raise ReviewError("a generation is running; wait for it or stop it", 409)
            selection, pending, excluding = self.plan()
            if selection is None:
                raise ReviewError("every discipline is removed: nothing to run", 409)
            if not pending and not excluding:
                raise ReviewError("nothing new to generate and no removed data to exclude", 409)
            header = "What glan review runs: kept disciplines with data, and the new or changed."
            write_text_atomic(self.store.run_taxonomy, dump_taxonomy(selection, header))
            argv = ["run", *self.run_args, "--set", f"taxonomy={self.store.run_taxonomy.resolve()}",
                    "--set", "disciplines="]  # fmt: skip
            self.job.start(argv, who, [n.name for n in pending])
            return self.state()

    def stop(self, body: dict[str, Any]) -> dict[str, Any]:
        self.job.stop()
        with self.lock:
            return self.state()

    # -- reading -------------------------------------------------------------------------

    def plan(self, decided: dict[str, str] | None = None) -> tuple[Taxonomy | None, list[Node], list[Node]]:
        """What Generate runs: the kept disciplines that have data or were added, renamed or
        moved; which of them need new data (no pairs yet, or made under another field or
        sub-field); and the removed disciplines whose data it excludes."""
        review, generated, paired = self.review, self.data.generated(), self.data.paired()
        decided = review.decisions() if decided is None else decided
        fields: dict[str, dict[str, list[str]]] = {}
        pending, excluding = [], []
        for n in review.walk():
            if n.kind != "discipline":
                continue
            f, s, d = review.path(n)
            made = generated.get(discipline_id(d))
            if decided[n.id] == "remove":
                if made is not None:
                    excluding.append(n)
            elif made is not None or n.changed:
                fields.setdefault(f, {}).setdefault(s, []).append(d)
                if made != (f, s) or discipline_id(d) not in paired:
                    pending.append(n)
        return (Taxonomy(fields=fields) if fields else None), pending, excluding

    def state(self) -> dict[str, Any]:
        """Everything the page shows (the API's State)."""
        with self.lock:
            review = self.review
            decided = review.decisions()
            _, pending, excluding = self.plan(decided)
            pending_ids = {n.id for n in pending}
            counts, subjects = self.data.per_discipline(), self.data.subjects()
            one = self.cost_of_one()
            zero = {"subjects": 0, "syllabi": 0, "questions": 0, "pairs": 0, "kept": 0, "excluded": 0}
            nodes: list[dict[str, Any]] = []
            rows: dict[str, dict[str, Any]] = {}
            for n in review.walk():
                row = {
                    "id": n.id, "kind": n.kind, "name": n.name, "parent": n.parent, "depth": DEPTH[n.kind],
                    "origin": n.origin, "was": n.base_name if n.base_name not in (None, n.name) else None,
                    "moved": n.origin == "base" and n.parent != n.base_parent, "rev": n.rev,
                    "votes": dict(n.votes), "notes": dict(n.notes), "own": review.own(n),
                    "decision": decided[n.id], "new": n.id in pending_ids, "data": dict(zero),
                    "cost": {"calls": 0, "usd": 0.0 if one["usd"] is not None else None}, "level": None,
                }  # fmt: skip
                rows[n.id] = row
                nodes.append(row)
                if n.kind != "discipline":
                    continue
                did = discipline_id(n.name)
                have = counts.get(did, zero)
                missing = not have["subjects"] and decided[n.id] == "keep"
                for up in self._ancestors(n, rows):
                    for k, v in have.items():
                        up["data"][k] += v
                    up["new"] = up["new"] or row["new"]
                    if missing:
                        up["cost"]["calls"] += one["calls"]
                        if one["usd"] is not None:
                            up["cost"]["usd"] = round(up["cost"]["usd"] + one["usd"], 6)
                for name, level in subjects.get(did, []):
                    nodes.append(self._subject(n, name, level))
            return {
                "version": self.changes,
                "rule": review.rule,
                "rules": RULES,
                "reviewers": list(review.reviewers),
                "run_dir": str(self.cfg.run_dir),
                "files": {"taxonomy": str(self.store.taxonomy), "log": str(self.store.log)},
                "nodes": nodes,
                "job": self.job.snapshot(),
                "pending": {
                    "disciplines": [n.name for n in pending],
                    "calls": one["calls"] * len(pending),
                    "usd": None if one["usd"] is None else round(one["usd"] * len(pending), 6),
                    "excluding": [n.name for n in excluding],
                },
                "suggest": True,
            }

    @staticmethod
    def _ancestors(n: Node, rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        out, at = [], rows.get(n.id)
        while at is not None:
            out.append(at)
            at = rows.get(at["parent"]) if at["parent"] else None
        return out

    @staticmethod
    def _subject(d: Node, name: str, level: str) -> dict[str, Any]:
        return {
            "id": base_id("subject", d.id, name), "kind": "subject", "name": name, "parent": d.id,
            "depth": 3, "origin": "base", "was": None, "moved": False, "rev": 0, "votes": {}, "notes": {},
            "own": "undecided", "decision": "keep", "new": False, "data": {},
            "cost": {"calls": 0, "usd": None}, "level": level,
        }  # fmt: skip
