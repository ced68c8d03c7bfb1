import random

from conftest import make_pairs, paraphrase

from glan.post.base import Removed
from glan.post.config import DedupConfig
from glan.post.dedup import ExactDedup, NearDedup
from glan.post.normalize import rouge_l_f, tokens


class _Sink:
    def __init__(self):
        self.rows = []

    def write(self, rec):
        self.rows.append(rec)


def test_exact_dedup_on_normalised_text_records_the_first():
    pairs = make_pairs(50)
    dup = dict(pairs[7], id="dup", instruction="  " + pairs[7]["instruction"].upper() + "  ")
    sink = _Sink()
    kept = list(ExactDedup().run([*pairs, dup], Removed(sink)))
    assert len(kept) == 50
    assert sink.rows[0]["id"] == "dup" and sink.rows[0]["matched"] == {"id": pairs[7]["id"]}


def test_exact_dedup_on_instruction_and_response():
    pairs = make_pairs(5)
    same_q = dict(pairs[0], id="x", response="A different answer entirely.")
    assert len(list(ExactDedup("instruction").run([*pairs, same_q], Removed()))) == 5
    assert len(list(ExactDedup("instruction+response").run([*pairs, same_q], Removed()))) == 6


def test_near_duplicates_are_caught_and_clean_pairs_survive():
    rng = random.Random(1)
    pairs = make_pairs(3000, seed=1)
    planted = []
    for i in rng.sample(range(3000), 150):
        planted.append(dict(pairs[i], id=f"para-{i}", instruction=paraphrase(pairs[i]["instruction"], rng)))
    stream = pairs + planted
    rng.shuffle(planted)
    sink = _Sink()
    kept = list(NearDedup(DedupConfig(), batch_size=512).run(stream, Removed(sink)))
    removed_ids = {r["id"] for r in sink.rows}
    # every planted paraphrase is caught, and names the pair it duplicates
    missed = {p["id"] for p in planted} - removed_ids
    assert not missed
    for row in sink.rows:
        if row["id"].startswith("para-"):
            assert (
                row["matched"]["id"] == "p" + f"{int(row['id'][5:]):06d}" or row["matched"]["rouge_l"] >= 0.7
            )
    # false positives among the 3000 clean pairs: pairs removed without a real ROUGE-L >= 0.7
    clean_removed = [r for r in sink.rows if not r["id"].startswith("para-")]
    assert len(clean_removed) / 3000 < 0.005
    assert len(kept) == len(stream) - len(sink.rows)


def test_lsh_finds_what_exhaustive_rouge_l_finds():
    """Recall of the LSH candidates against an all-pairs ROUGE-L scan (the reference rule)."""
    rng = random.Random(2)
    base = make_pairs(300, seed=2)
    stream = list(base)
    for i in range(0, 300, 3):
        stream.append(dict(base[i], id=f"n{i}", instruction=paraphrase(base[i]["instruction"], rng)))
    toks = [tokens(r["instruction"]) for r in stream]
    kept_ref = []
    for i, t in enumerate(toks):
        if all(rouge_l_f(t, toks[j]) < 0.7 for j in kept_ref):
            kept_ref.append(i)
    kept = list(NearDedup(DedupConfig(), batch_size=64).run(stream, Removed()))
    assert {r["id"] for r in kept} == {stream[i]["id"] for i in kept_ref}


def test_threshold_is_configurable():
    a = {
        "id": "a",
        "instruction": "explain the main causes of inflation in small open economies",
        "response": "x",
    }
    b = dict(a, id="b", instruction="explain the main causes of deflation in large closed economies")
    assert rouge_l_f(tokens(a["instruction"]), tokens(b["instruction"])) < 0.9
    strict = NearDedup(DedupConfig(rouge_l_threshold=0.9))
    loose = NearDedup(DedupConfig(rouge_l_threshold=0.6))
    assert len(list(strict.run([a, b], Removed()))) == 2
    assert len(list(loose.run([a, b], Removed()))) == 1


def test_minhash_input_hash_is_the_same_in_every_process():
    # Python's hash() of a str is salted per process; near-dup candidates must not depend on it
    from glan.post.dedup import stable_hash

    assert stable_hash("physics") == 3135866549471663068
