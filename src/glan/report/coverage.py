"""Coverage over the taxonomy: pairs per field / sub-field / discipline / subject, with the
nodes that got nothing (from the run's taxonomy.yaml and its subjects), and per syllabus the
sessions and key concepts its questions touched."""

from __future__ import annotations

from typing import Any

from glan.records import Subject, Syllabus
from glan.report.pairs import PairStats
from glan.shards import StepFolder
from glan.store import RunDir
from glan.taxonomy import load_taxonomy


def _node(name: str, level: str, children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"name": name, "level": level, "pairs": 0}
    if children is not None:
        node["children"] = children
        node["pairs"] = sum(c["pairs"] for c in children)
    return node


def _syllabus_sizes(run: RunDir) -> dict[tuple[str, str], tuple[int, int]]:
    """(discipline, subject) -> (sessions, key concepts) of its syllabus."""
    folder = StepFolder(run.stage("syllabi"))
    if folder.index() is None:
        return {}
    return {
        (y.discipline, y.subject): (len(y.sessions), len({c for s in y.sessions for c in s.key_concepts}))
        for y in folder.records(Syllabus)
    }


def _subjects(run: RunDir) -> dict[str, list[str]]:
    """discipline -> its subjects (in the order the run made them)."""
    folder = StepFolder(run.stage("subjects"))
    out: dict[str, list[str]] = {}
    if folder.index() is not None:
        for s in folder.records(Subject):
            out.setdefault(s.discipline, []).append(s.subject)
    return out


def coverage(run: RunDir, stats: PairStats) -> dict[str, Any] | None:
    """The coverage tree and the difficulty mix; None for a run without a taxonomy."""
    path = run.root / "taxonomy.yaml"
    if not path.is_file():
        return None
    tax = load_taxonomy(path)
    sizes, subjects = _syllabus_sizes(run), _subjects(run)
    per_subject = {(d, s): n for (_, _, d, s), n in stats.per_subject.items()}
    for d, s in per_subject:  # subjects with pairs that the subjects step no longer lists
        if s not in subjects.setdefault(d, []):
            subjects[d].append(s)
    fields = []
    for field, subs in tax.fields.items():
        sub_nodes = []
        for sub, disciplines in subs.items():
            d_nodes = []
            for d in disciplines:
                s_nodes = []
                for s in subjects.get(d, []):
                    total_sessions, total_concepts = sizes.get((d, s), (0, 0))
                    s_nodes.append({
                        **_node(s, "subject"), "pairs": per_subject.get((d, s), 0),
                        "sessions": [len(stats.sessions.get((d, s), ())), total_sessions],
                        "concepts": [len(stats.concepts.get((d, s), ())), total_concepts],
                    })  # fmt: skip
                d_nodes.append(_node(d, "discipline", s_nodes))
            sub_nodes.append(_node(sub, "sub_field", d_nodes))
        fields.append(_node(field, "field", sub_nodes))
    return {"tree": _node("all", "root", fields), "difficulty": dict(stats.difficulty)}
