import random

import pytest

from glan.post.normalize import TokenBatch, lcs_len, normalize, rouge_l_f, tokens


def _lcs_dp(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def test_tokens_lower_case_and_drop_punctuation():
    assert tokens("Hello, World! x_y 3.14") == ["hello", "world", "x_y", "3", "14"]
    assert normalize("  What  is\tX? ") == "what is x"
    assert tokens("ﬁne Straße") == ["fine", "straße"]  # NFKC on non-ASCII text


def test_bit_parallel_lcs_matches_dynamic_programming():
    rng = random.Random(3)
    for _ in range(300):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 90))]
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 90))]
        assert lcs_len(a, b) == _lcs_dp(a, b)


def test_rouge_l_agrees_with_rouge_score():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(5)
    words = ["the", "cell", "energy", "model", "of", "a", "force", "law", "market", "value", "and", "rate"]
    for _ in range(100):
        a = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
        b = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
        ref = scorer.score(a, b)["rougeL"].fmeasure
        assert rouge_l_f(tokens(a), tokens(b)) == pytest.approx(ref)


def test_token_batch_hashes_equal_tokens_equally():
    texts = ["Alpha, beta gamma", "", "gamma  BETA alpha!", "Ünïcode ﬁne"]
    tb = TokenBatch(texts)
    assert tb.lens.tolist() == [len(tokens(t)) for t in texts]
    a, c = tb.th[tb.starts[0] : tb.starts[0] + 3], tb.th[tb.starts[2] : tb.starts[2] + 3]
    assert sorted(a.tolist()) == sorted(c.tolist())
    assert tb.words(int(tb.starts[3]), 2) == "ünïcode fine"
