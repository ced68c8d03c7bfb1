"""The review's state: the base taxonomy and every reviewer action since, replayed from the log.

Each action (vote, note, rename, add, move, the decision rule) is checked against the state,
then appended to the log and applied; the same `apply` replays the log on start, so the state
is always the base plus the log. Nodes keep their id through renames and moves, so votes and
notes stay with the node. Reviewers are names, not accounts.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from glan.taxonomy import Taxonomy

KINDS = ("field", "sub_field", "discipline")
CHILD = {None: "field", "field": "sub_field", "sub_field": "discipline"}
RULES = {
    "majority": "removed when more reviewers voted remove than keep (a tie keeps it)",
    "unanimous": "removed only when every reviewer voted remove",
    "any_remove": "removed when any reviewer voted remove",
}
VOTES = ("keep", "remove")
MAX_NAME, MAX_NOTE, MAX_REVIEWER = 200, 2000, 64


class ReviewError(ValueError):
    """A request the state refuses: `status` 400 (malformed) or 409 (conflicts with the state)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def base_id(kind: str, *path: str) -> str:
    """A base node's id, from its kind and path (the same on every start)."""
    return "n" + hashlib.sha256("\x1f".join((kind, *path)).encode()).hexdigest()[:12]


def new_id() -> str:
    return "n" + secrets.token_hex(6)


@dataclass
class Node:
    id: str
    kind: str
    name: str
    parent: str | None
    origin: str = "base"  # base | added | llm
    base_name: str | None = None
    base_parent: str | None = None
    rev: int = 0  # bumps on rename and move: a stale rename or move is a conflict
    votes: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Added, renamed or moved since the base taxonomy."""
        return self.origin != "base" or self.name != self.base_name or self.parent != self.base_parent


def _text(value: Any, what: str, limit: int, blank: bool = False) -> str:
    """A one-line text: stripped, without control characters, within `limit`."""
    if not isinstance(value, str):
        raise ReviewError(f"{what} must be text")
    value = value.strip()
    if not value and not blank:
        raise ReviewError(f"{what} is empty")
    if len(value) > limit:
        raise ReviewError(f"{what} is longer than {limit} characters")
    if any(unicodedata.category(c) == "Cc" for c in value if c not in "\n\t" or what != "note"):
        raise ReviewError(f"{what} holds a control character or a line break")
    return value


def reviewer_name(value: Any) -> str:
    """A reviewer's name from a request, checked."""
    return _text(value, "reviewer", MAX_REVIEWER)


class Review:
    """The nodes (in insertion order), the rule, and the reviewers, built from a base taxonomy."""

    def __init__(self, base: Taxonomy) -> None:
        self.nodes: dict[str, Node] = {}
        self.rule = "majority"
        self.reviewers: list[str] = []
        self.version = 0  # actions applied
        for f, subs in base.fields.items():
            fid = self._base(base_id("field", f), "field", f, None)
            for s, ds in subs.items():
                sid = self._base(base_id("sub_field", f, s), "sub_field", s, fid)
                for d in ds:
                    self._base(base_id("discipline", d), "discipline", d, sid)

    def _base(self, nid: str, kind: str, name: str, parent: str | None) -> str:
        self.nodes[nid] = Node(nid, kind, name, parent, base_name=name, base_parent=parent)
        return nid

    # -- reading -------------------------------------------------------------------------

    def children(self) -> dict[str | None, list[Node]]:
        out: dict[str | None, list[Node]] = {}
        for n in self.nodes.values():
            out.setdefault(n.parent, []).append(n)
        return out

    def walk(self) -> list[Node]:
        """Every node, depth-first, parents before their children, in insertion order."""
        kids, out = self.children(), []

        def visit(parent: str | None) -> None:
            for n in kids.get(parent, []):
                out.append(n)
                visit(n.id)

        visit(None)
        return out

    def own(self, node: Node) -> str:
        """The rule applied to the node's own votes: keep, remove or undecided (no votes)."""
        votes = list(node.votes.values())
        if not votes:
            return "undecided"
        removes = votes.count("remove")
        if self.rule == "any_remove":
            removed = removes > 0
        elif self.rule == "unanimous":
            removed = all(node.votes.get(r) == "remove" for r in self.voters())
        else:
            removed = removes > len(votes) - removes
        return "remove" if removed else "keep"

    def voters(self) -> list[str]:
        """The reviewers who voted on anything."""
        voted = {r for n in self.nodes.values() for r in n.votes}
        return [r for r in self.reviewers if r in voted]

    def decisions(self) -> dict[str, str]:
        """Node id -> keep | remove: removed when its own votes or an ancestor's remove it."""
        out: dict[str, str] = {}
        for n in self.walk():
            up = out.get(n.parent, "keep") if n.parent else "keep"
            out[n.id] = "remove" if up == "remove" or self.own(n) == "remove" else "keep"
        return out

    def path(self, node: Node) -> list[str]:
        names = []
        at: Node | None = node
        while at is not None:
            names.append(at.name)
            at = self.nodes.get(at.parent) if at.parent else None
        return names[::-1]

    def reviewed(self) -> Taxonomy | None:
        """The kept taxonomy (None when nothing is kept): empty sub-fields and fields drop out."""
        decided = self.decisions()
        fields: dict[str, dict[str, list[str]]] = {}
        for n in self.walk():
            if n.kind == "discipline" and decided[n.id] == "keep":
                f, s, d = self.path(n)
                fields.setdefault(f, {}).setdefault(s, []).append(d)
        return Taxonomy(fields=fields) if fields else None

    # -- changing --------------------------------------------------------------------------

    def prepare(self, reviewer: Any, op: dict[str, Any]) -> dict[str, Any]:
        """Check an action against the state; the log event to apply (ids, names normalised)."""
        who = reviewer_name(reviewer)
        kind = op.get("op")
        event: dict[str, Any] = {"op": kind, "reviewer": who}
        if kind == "vote":
            node = self.node(op.get("node"))
            vote = op.get("vote")
            if vote is not None and vote not in VOTES:
                raise ReviewError(f"vote must be keep, remove or null, got {vote!r}")
            event.update(node=node.id, vote=vote)
        elif kind == "note":
            node = self.node(op.get("node"))
            event.update(node=node.id, text=_text(op.get("text", ""), "note", MAX_NOTE, blank=True))
        elif kind == "rename":
            node = self.node(op.get("node"))
            self._fresh(node, op.get("rev"))
            name = _text(op.get("name"), "name", MAX_NAME)
            self._unique(node.kind, name, node.parent, skip=node.id)
            event.update(node=node.id, name=name)
        elif kind == "add":
            parent = op.get("parent")
            up = None if parent is None else self.node(parent)
            child = CHILD.get(up.kind if up else None)
            if child is None:
                raise ReviewError("a discipline holds no child nodes (subjects come from the run)")
            name = _text(op.get("name"), "name", MAX_NAME)
            self._unique(child, name, up.id if up else None)
            origin = op.get("origin", "added")
            if origin not in ("added", "llm"):
                raise ReviewError(f"origin must be added or llm, got {origin!r}")
            event.update(node=new_id(), kind=child, parent=up.id if up else None, name=name, origin=origin)
        elif kind == "move":
            node = self.node(op.get("node"))
            self._fresh(node, op.get("rev"))
            to = self.node(op.get("parent"))
            if node.kind == "field" or CHILD.get(to.kind) != node.kind:
                raise ReviewError(f"a {node.kind} cannot move under a {to.kind}")
            self._unique(node.kind, node.name, to.id, skip=node.id)
            event.update(node=node.id, parent=to.id)
        elif kind == "rule":
            if op.get("rule") not in RULES:
                raise ReviewError(f"rule must be one of {', '.join(RULES)}, got {op.get('rule')!r}")
            event["rule"] = op["rule"]
        else:
            raise ReviewError(f"unknown op {kind!r}")
        return event

    def apply(self, event: dict[str, Any]) -> None:
        """Apply a checked event (live, or replayed from the log)."""
        who, kind = event["reviewer"], event["op"]
        if who not in self.reviewers:
            self.reviewers.append(who)
        node = self.nodes.get(event.get("node", ""))
        if kind == "vote" and node:
            node.votes.pop(who, None)  # a changed vote moves to the end: the log's order
            if event["vote"]:
                node.votes[who] = event["vote"]
        elif kind == "note" and node:
            node.notes.pop(who, None)
            if event["text"]:
                node.notes[who] = event["text"]
        elif kind == "rename" and node:
            node.name, node.rev = event["name"], node.rev + 1
        elif kind == "add":
            nid = event["node"]
            self.nodes[nid] = Node(nid, event["kind"], event["name"], event["parent"], origin=event["origin"])
        elif kind == "move" and node:
            node.parent, node.rev = event["parent"], node.rev + 1
            self.nodes[node.id] = self.nodes.pop(node.id)  # last among its new siblings
        elif kind == "rule":
            self.rule = event["rule"]
        self.version += 1

    def node(self, nid: Any) -> Node:
        """The node of an id from a request (a ReviewError when there is none)."""
        if not isinstance(nid, str) or nid not in self.nodes:
            raise ReviewError(f"no node {nid!r}" if isinstance(nid, str) else "node must be a node id")
        return self.nodes[nid]

    def _fresh(self, node: Node, rev: Any) -> None:
        if rev != node.rev:
            raise ReviewError(f"{node.name!r} was changed by someone else meanwhile; look again", 409)

    def _unique(self, kind: str, name: str, parent: str | None, skip: str | None = None) -> None:
        """Disciplines are unique in the whole taxonomy (their data is keyed by name); fields
        among fields, sub-fields within their field. Removed nodes count: their data stays."""
        key = name.casefold()
        for n in self.nodes.values():
            same_place = kind == "discipline" or n.parent == parent
            if n.id != skip and n.kind == kind and same_place and n.name.casefold() == key:
                where = "" if kind == "discipline" else " here"
                raise ReviewError(f"a {kind.replace('_', '-')} named {n.name!r} exists{where}", 409)
