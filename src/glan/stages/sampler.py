"""The paper's homework-question sampling over a syllabus's class sessions and key concepts.

basic: one session, 1-5 of its concepts. challenging: two sessions, 2-5 concepts drawn from
both, never all from one session. Each question draws its own sample from its own seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from glan.records import Difficulty, Syllabus

MAX_CONCEPTS = 5


@dataclass(frozen=True)
class ConceptSample:
    difficulty: Difficulty
    sessions: tuple[int, ...]  # session numbers, ascending
    concepts: tuple[tuple[int, str], ...]  # (session number, concept)


def sample_basic(syllabus: Syllabus, rng: random.Random) -> ConceptSample:
    session = rng.choice([s for s in syllabus.sessions if s.key_concepts])
    k = rng.randint(1, min(MAX_CONCEPTS, len(session.key_concepts)))
    picked = rng.sample(session.key_concepts, k)
    return ConceptSample("basic", (session.number,), tuple((session.number, c) for c in picked))


def sample_challenging(syllabus: Syllabus, rng: random.Random) -> ConceptSample:
    """Two distinct sessions, k in [2, 5] concepts uniformly from their union, rejecting
    draws that fall in one session only."""
    usable = [s for s in syllabus.sessions if s.key_concepts]
    a, b = sorted(rng.sample(usable, 2), key=lambda s: s.number)
    pool = [(a.number, c) for c in a.key_concepts] + [(b.number, c) for c in b.key_concepts]
    k = rng.randint(2, min(MAX_CONCEPTS, len(pool)))
    while True:
        picked = rng.sample(pool, k)
        if len({n for n, _ in picked}) == 2:
            return ConceptSample("challenging", (a.number, b.number), tuple(picked))


def sample_concepts(syllabus: Syllabus, challenging_share: float, rng: random.Random) -> ConceptSample:
    """One question's draw; challenging with probability `challenging_share` when the
    syllabus has two sessions with concepts."""
    usable = sum(1 for s in syllabus.sessions if s.key_concepts)
    if usable == 0:
        raise ValueError(f"syllabus {syllabus.id} has no key concepts")
    if usable >= 2 and rng.random() < challenging_share:
        return sample_challenging(syllabus, rng)
    return sample_basic(syllabus, rng)
