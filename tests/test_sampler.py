import random

import pytest

from glan.records import ClassSession, Syllabus
from glan.stages.sampler import sample_basic, sample_challenging, sample_concepts


def make_syllabus(rng: random.Random) -> Syllabus:
    sessions = [
        ClassSession(
            number=i,
            title=f"s{i}",
            description="",
            key_concepts=[f"c{i}.{j}" for j in range(rng.randint(1, 8))],
        )
        for i in range(1, rng.randint(2, 30) + 1)
    ]
    return Syllabus(
        id="x",
        field="f",
        sub_field="s",
        discipline="d",
        subject="subj",
        level="l",
        introduction="",
        objectives=[],
        sessions=sessions,
        model="m",
    )


@pytest.mark.parametrize("seed", range(300))
def test_basic_and_challenging_rules(seed: int) -> None:
    rng = random.Random(seed)
    syl = make_syllabus(rng)
    by_number = {s.number: set(s.key_concepts) for s in syl.sessions}
    b = sample_basic(syl, rng)
    assert b.difficulty == "basic" and len(b.sessions) == 1
    assert 1 <= len(b.concepts) <= 5
    assert all(n == b.sessions[0] and c in by_number[n] for n, c in b.concepts)
    assert len(set(b.concepts)) == len(b.concepts)
    c = sample_challenging(syl, rng)
    assert c.difficulty == "challenging" and len(c.sessions) == 2 and c.sessions[0] < c.sessions[1]
    assert 2 <= len(c.concepts) <= 5
    assert {n for n, _ in c.concepts} == set(c.sessions)  # never all from one session
    assert all(cc in by_number[n] for n, cc in c.concepts)
    assert len(set(c.concepts)) == len(c.concepts)


def test_every_size_and_session_is_reachable() -> None:
    rng = random.Random(1)
    syl = make_syllabus(random.Random(5))
    sizes_b = {len(sample_basic(syl, rng).concepts) for _ in range(2000)}
    sizes_c = {len(sample_challenging(syl, rng).concepts) for _ in range(2000)}
    assert sizes_b == set(range(1, 6)) and sizes_c == set(range(2, 6))
    used = {sample_basic(syl, rng).sessions[0] for _ in range(3000)}
    assert used == {s.number for s in syl.sessions if s.key_concepts}


def test_mix_follows_share_and_single_session_falls_back() -> None:
    rng = random.Random(0)
    syl = make_syllabus(random.Random(3))
    draws = [sample_concepts(syl, 0.3, rng).difficulty for _ in range(5000)]
    assert 0.27 < draws.count("challenging") / len(draws) < 0.33
    assert {sample_concepts(syl, 0.0, rng).difficulty for _ in range(200)} == {"basic"}
    one = syl.model_copy(update={"sessions": syl.sessions[:1]})
    assert {sample_concepts(one, 1.0, rng).difficulty for _ in range(50)} == {"basic"}
