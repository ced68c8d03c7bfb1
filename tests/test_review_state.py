"""The review's state without a server: the decision rules, the log (replayed, torn, locked),
conflicts, and two reviewers acting at once."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from glan.errors import ConfigError
from glan.review.state import Review, ReviewError
from glan.review.store import ReviewStore
from glan.taxonomy import Taxonomy, load_taxonomy

BASE = Taxonomy(
    fields={
        "Science": {"Physical sciences": ["Physics", "Chemistry"], "Life sciences": ["Biology"]},
        "Humanities": {"History": ["Ancient history"]},
    }
)


def ids(review: Review) -> dict[str, str]:
    return {n.name: n.id for n in review.nodes.values()}


def act(review: Review, who: str, **op: object) -> dict[str, object]:
    event = review.prepare(who, op)
    review.apply(event)
    return event


def vote(review: Review, who: str, name: str, choice: str | None) -> None:
    act(review, who, op="vote", node=ids(review)[name], vote=choice)


@pytest.mark.parametrize(
    ("rule", "votes", "expected"),
    [
        ("majority", {}, "undecided"),
        ("majority", {"a": "remove"}, "remove"),
        ("majority", {"a": "remove", "b": "keep"}, "keep"),  # a tie keeps
        ("majority", {"a": "remove", "b": "remove", "c": "keep"}, "remove"),
        ("any_remove", {"a": "keep", "b": "keep", "c": "remove"}, "remove"),
        ("any_remove", {"a": "keep"}, "keep"),
        ("unanimous", {"a": "remove", "b": "remove", "c": "keep"}, "keep"),
        ("unanimous", {"a": "remove", "b": "remove", "c": "remove"}, "remove"),
    ],
)
def test_each_rule_decides_from_the_votes(rule: str, votes: dict[str, str], expected: str) -> None:
    review = Review(BASE)
    for who in ("a", "b", "c"):  # everyone votes somewhere, so "every reviewer" means three
        vote(review, who, "Biology", "keep")
    act(review, "a", op="rule", rule=rule)
    for who, choice in votes.items():
        vote(review, who, "Physics", choice)
    physics = review.nodes[ids(review)["Physics"]]
    assert review.own(physics) == expected


def test_unanimous_waits_for_the_reviewers_who_have_not_voted_on_the_node() -> None:
    review = Review(BASE)
    act(review, "a", op="rule", rule="unanimous")
    vote(review, "a", "Physics", "remove")
    vote(review, "b", "Biology", "keep")  # b takes part but has not judged Physics
    assert review.own(review.nodes[ids(review)["Physics"]]) == "keep"
    vote(review, "b", "Physics", "remove")
    assert review.own(review.nodes[ids(review)["Physics"]]) == "remove"


def test_a_removed_sub_field_removes_its_disciplines_and_empty_parents_drop_out() -> None:
    review = Review(BASE)
    vote(review, "a", "History", "remove")
    vote(review, "a", "Chemistry", "remove")
    decided = review.decisions()
    assert decided[ids(review)["Ancient history"]] == "remove"
    assert review.reviewed() == Taxonomy(
        fields={"Science": {"Physical sciences": ["Physics"], "Life sciences": ["Biology"]}}
    )
    vote(review, "a", "Chemistry", None)  # a cleared vote: undecided again, kept
    assert "Chemistry" in review.reviewed().fields["Science"]["Physical sciences"]


def test_rename_add_and_move_keep_votes_with_the_node() -> None:
    review = Review(BASE)
    n = ids(review)
    vote(review, "a", "Physics", "keep")
    act(review, "a", op="rename", node=n["Physics"], name="Physics (classical)", rev=0)
    act(review, "b", op="move", node=n["Physics"], parent=n["Life sciences"], rev=1)
    added = act(review, "b", op="add", parent=n["History"], name="Medieval history", origin="llm")
    node = review.nodes[n["Physics"]]
    assert (node.name, node.votes, node.changed) == ("Physics (classical)", {"a": "keep"}, True)
    assert review.nodes[str(added["node"])].origin == "llm"
    assert review.reviewed().fields["Science"]["Life sciences"] == ["Biology", "Physics (classical)"]


@pytest.mark.parametrize(
    ("op", "status", "message"),
    [
        ({"op": "vote", "node": "n000000000000", "vote": "keep"}, 400, "no node"),
        ({"op": "vote", "node": "PHYSICS", "vote": "maybe"}, 400, "vote must be"),
        ({"op": "rename", "node": "PHYSICS", "name": "Chemistry", "rev": 0}, 409, "exists"),
        ({"op": "rename", "node": "PHYSICS", "name": "Optics", "rev": 7}, 409, "changed by someone else"),
        ({"op": "rename", "node": "PHYSICS", "name": "two\nlines", "rev": 0}, 400, "line break"),
        ({"op": "rename", "node": "PHYSICS", "name": "x" * 201, "rev": 0}, 400, "longer than"),
        ({"op": "add", "parent": "PHYSICS", "name": "Optics"}, 400, "holds no child"),
        ({"op": "add", "parent": None, "name": "science"}, 409, "exists"),
        ({"op": "move", "node": "PHYSICS", "parent": "PHYSICS", "rev": 0}, 400, "cannot move"),
        ({"op": "rule", "rule": "dictator"}, 400, "rule must be"),
        ({"op": "delete_everything"}, 400, "unknown op"),
    ],
)
def test_bad_and_conflicting_actions_are_refused(op: dict[str, object], status: int, message: str) -> None:
    review = Review(BASE)
    op = {k: ids(review)["Physics"] if v == "PHYSICS" else v for k, v in op.items()}
    with pytest.raises(ReviewError) as e:
        review.prepare("ana", op)
    assert e.value.status == status and message in str(e.value)
    assert review.version == 0
    with pytest.raises(ReviewError, match="reviewer"):
        review.prepare("  ", {"op": "rule", "rule": "majority"})


def test_the_log_replays_to_the_same_state_and_a_torn_line_is_cut(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path)
    review = store.open(lambda: BASE)
    n = ids(review)
    for who, name, choice in [
        ("ana", "Chemistry", "remove"),
        ("ben", "Chemistry", "remove"),
        ("ben", "Physics", "keep"),
    ]:
        store.commit(review, review.prepare(who, {"op": "vote", "node": n[name], "vote": choice}))
    store.commit(review, review.prepare("ana", {"op": "note", "node": n["Physics"], "text": "core\nsubject"}))
    store.close()
    reviewed = (tmp_path / "review" / "taxonomy.yaml").read_text()
    assert "Chemistry" not in reviewed and "Physics" in reviewed
    assert load_taxonomy(tmp_path / "review" / "taxonomy.yaml") == review.reviewed()
    with (tmp_path / "review" / "log.jsonl").open("ab") as f:
        f.write(b'{"at": "x", "op": "vote", "rev')  # a crash while appending
    (tmp_path / "review" / "taxonomy.yaml").unlink()  # and before the taxonomy was rewritten
    again = ReviewStore(tmp_path)
    replayed = again.open(lambda: pytest.fail("the base is frozen in base.yaml"))
    assert [vars(x) for x in replayed.nodes.values()] == [vars(x) for x in review.nodes.values()]
    assert (tmp_path / "review" / "taxonomy.yaml").read_text() == reviewed
    log = (tmp_path / "review" / "log.jsonl").read_bytes()
    assert log.endswith(b"\n") and len(log.splitlines()) == 4
    first = orjson.loads(log.splitlines()[0])
    assert set(first) == {"at", "op", "reviewer", "node", "vote"} and first["reviewer"] == "ana"
    with pytest.raises(ConfigError, match="open in another glan review"):
        ReviewStore(tmp_path).open(lambda: BASE)
    again.close()


def test_a_log_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path)
    store.open(lambda: BASE)
    store.close()
    (tmp_path / "review" / "log.jsonl").write_bytes(b"not json\n")
    with pytest.raises(ConfigError, match=r"log.jsonl:1: not a JSON line"):
        ReviewStore(tmp_path).open(lambda: BASE)


def test_two_reviewers_acting_at_once_lose_nothing(tmp_path: Path) -> None:
    """Two threads (the server answers each request on its own) vote, note and add at once;
    the log holds every action and replays to the live state."""
    store = ReviewStore(tmp_path)
    review = store.open(lambda: BASE)
    lock = threading.Lock()  # the app's lock: each action is checked and committed as one
    names = list(ids(review))
    errors: list[Exception] = []

    def reviewer(who: str) -> None:
        try:
            for i in range(40):
                node = ids(review)[names[i % len(names)]]
                op = [
                    {"op": "vote", "node": node, "vote": ("keep", "remove")[i % 2]},
                    {"op": "note", "node": node, "text": f"{who} {i}"},
                    {"op": "add", "parent": ids(review)["History"], "name": f"{who} topic {i}"},
                ][i % 3]
                with lock:
                    store.commit(review, review.prepare(who, op))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=reviewer, args=(w,)) for w in ("ana", "ben")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store.close()
    assert len((tmp_path / "review" / "log.jsonl").read_bytes().splitlines()) == 80 == review.version
    replayed = ReviewStore(tmp_path).open(lambda: BASE)
    assert [vars(x) for x in replayed.nodes.values()] == [vars(x) for x in review.nodes.values()]
    assert sum(1 for x in replayed.nodes.values() if x.origin == "added") == 2 * 13
