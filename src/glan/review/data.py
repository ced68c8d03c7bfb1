"""What a run dir holds for each discipline (subjects, syllabi, questions, pairs, kept pairs,
pairs excluded after a review removed it) and what generating one more discipline would cost.

Counts come from the step indexes (`_step.json`: a shard per discipline, named by its id) and,
for the kept pairs, one read of `clean/clean.jsonl`; each is read again only when its file
changed, so polling the review page costs a few stat calls.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from glan.config import RunConfig
from glan.estimate import estimate
from glan.recipes import recipe_of
from glan.records import Discipline, Subject, lineage_id
from glan.shards import INDEX, StepFolder
from glan.store import RunDir
from glan.taxonomy import Taxonomy, dump_taxonomy

COUNTED = ("subjects", "syllabi", "questions")  # GLAN's steps, a shard per discipline
PROBE = Taxonomy(fields={"Probe field": {"Probe sub-field": ["A discipline glan review prices"]}})


def discipline_id(name: str) -> str:
    return lineage_id("discipline", name)


class RunData:
    """Per-discipline figures of one run dir, cached by the mtime of the files they come from."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.run = RunDir(cfg.run_dir)
        self.pairs_step = recipe_of(cfg).final_pairs(cfg)
        self._memo: dict[str, tuple[int, Any]] = {}

    def _cached(self, key: str, path: Path, read: Any) -> Any:
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return read(None)
        hit = self._memo.get(key)
        if hit is None or hit[0] != stamp:
            hit = self._memo[key] = (stamp, read(path))
        return hit[1]

    def _shard_counts(self, step: str) -> dict[str, int]:
        def read(path: Path | None) -> dict[str, int]:
            index = StepFolder(self.run.stage(step)).index() if path else None
            return {s["name"]: s["records"] for s in (index or {}).get("shards", [])}

        return self._cached(f"counts:{step}", self.run.stage(step) / INDEX, read)

    def generated(self) -> dict[str, tuple[str, str]]:
        """Discipline id -> (field, sub-field) it was generated under, for the disciplines the
        run's disciplines step holds now."""

        def read(path: Path | None) -> dict[str, tuple[str, str]]:
            if path is None:
                return {}
            return {d.id: (d.field, d.sub_field) for d in StepFolder(path.parent).records(Discipline)}

        return self._cached("generated", self.run.stage("disciplines") / INDEX, read)

    def paired(self) -> set[str]:
        """The ids of the disciplines whose pairs the run's last step made (a generation
        stopped midway leaves a discipline in the disciplines step without them)."""
        return set(self._shard_counts(self.pairs_step))

    def subjects(self) -> dict[str, list[tuple[str, str]]]:
        """Discipline id -> its subjects (name, level), in the order the run made them."""

        def read(path: Path | None) -> dict[str, list[tuple[str, str]]]:
            out: dict[str, list[tuple[str, str]]] = {}
            for s in StepFolder(path.parent).records(Subject) if path else ():
                out.setdefault(discipline_id(s.discipline), []).append((s.subject, s.level))
            return out

        return self._cached("subjects", self.run.stage("subjects") / INDEX, read)

    def _kept(self) -> Counter[str]:
        def read(path: Path | None) -> Counter[str]:
            kept: Counter[str] = Counter()
            if path is not None:
                with path.open("rb") as f:
                    for line in f:
                        if (d := orjson.loads(line).get("discipline")) is not None:
                            kept[discipline_id(str(d))] += 1
            return kept

        return self._cached("kept", self.run.root / "clean" / "clean.jsonl", read)

    def _excluded(self) -> dict[str, int]:
        folder = StepFolder(self.run.stage(self.pairs_step))

        def read(path: Path | None) -> dict[str, int]:
            out = {}
            for marker in path.glob("*.done.json") if path else ():
                try:
                    out[marker.name.split(".", 1)[0]] = int(orjson.loads(marker.read_bytes())["records"])
                except (OSError, ValueError, KeyError, TypeError):
                    continue
            return out

        return self._cached("excluded", folder.excluded, read)

    def per_discipline(self) -> dict[str, dict[str, int]]:
        """Discipline id -> {subjects, syllabi, questions, pairs, kept, excluded}."""
        steps = {name: self._shard_counts(name) for name in COUNTED}
        pairs, kept = self._shard_counts(self.pairs_step), self._kept()
        excluded = {k: v for k, v in self._excluded().items() if k not in pairs}
        ids = set(pairs).union(kept, excluded, *steps.values())
        return {
            i: {
                **{name: counts.get(i, 0) for name, counts in steps.items()},
                "pairs": pairs.get(i, 0),
                "kept": kept.get(i, 0),
                "excluded": excluded.get(i, 0),
            }
            for i in ids
        }

    def cost_of_one(self) -> dict[str, Any]:
        """What `glan estimate` predicts one more discipline costs: calls and USD (None when a
        model has no price), from the tokens this run measured so far where it has any."""
        with tempfile.TemporaryDirectory(prefix="glan-review-") as tmp:
            probe = Path(tmp) / "taxonomy.yaml"
            probe.write_text(dump_taxonomy(PROBE), encoding="utf-8")
            cfg = self.cfg.model_copy(update={"taxonomy": str(probe), "disciplines": None})
            rows = estimate(cfg)
        costs = [r.cost() for r in rows]
        usd = None if any(c is None for c in costs) else round(sum(c or 0.0 for c in costs), 6)
        return {"calls": sum(r.to_send for r in rows), "usd": usd}
