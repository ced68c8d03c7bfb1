"""The report's sentence embedder: all-MiniLM-L6-v2 in numpy, checked against sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest

from glan.errors import ConfigError
from glan.report import embed
from glan.report.embed import load_embedder

VACCINE = "How do vaccines train the immune system?"
PARAPHRASE = "In what way does a vaccine teach immunity?"
UNRELATED = "Sort a list of numbers in Python"
LONG = "word " * 400  # 402 tokens: truncated to the model's 256

# The first 6 of 384 dimensions as sentence-transformers 6.2.0 (torch 2.14.1) computes them from the
# same package files (SentenceTransformer(model_dir).encode(texts)); "This is an example sentence"
# also starts as the vector published for this model (0.0677, 0.0635, 0.0487, 0.0793, 0.0374, ...).
REFERENCE = {
    VACCINE: [-0.022728, 0.031219, -0.062595, -0.030950, -0.008980, 0.054565],
    PARAPHRASE: [-0.003413, 0.039051, -0.041639, -0.026148, -0.006939, 0.046211],
    UNRELATED: [0.010118, 0.057089, 0.018781, -0.056176, -0.000626, -0.013403],
    "This is an example sentence": [0.067657, 0.063496, 0.048713, 0.079305, 0.037448, 0.002653],
    LONG: [-0.008124, -0.095586, -0.038673, 0.049662, -0.043794, 0.023720],
}


@pytest.fixture(scope="module")
def minilm() -> embed.Embedder:
    try:
        return load_embedder("minilm")
    except ConfigError as e:  # a failure in CI (tests/conftest.py), a skip elsewhere
        pytest.skip(str(e))


def test_matches_sentence_transformers(minilm: embed.Embedder) -> None:
    vectors = minilm.embed(list(REFERENCE))
    assert vectors.dtype == np.float32 and vectors.shape == (len(REFERENCE), minilm.dim) == (5, 384)
    np.testing.assert_allclose(vectors[:, :6], np.array(list(REFERENCE.values())), atol=2e-6)
    # the three sentences' cosine similarities, from the same reference
    assert vectors[0] @ vectors[1] == pytest.approx(0.858923, abs=1e-5)
    assert vectors[0] @ vectors[2] == pytest.approx(0.029293, abs=1e-5)


def test_rows_have_norm_one_and_repeat_exactly(minilm: embed.Embedder) -> None:
    texts = [VACCINE, "", "  ", "Ünïcödé — ☃ 雪", LONG]
    a = minilm.embed(texts)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(a, minilm.embed(texts))


def test_batch_size_changes_nothing(minilm: embed.Embedder) -> None:
    # lengths from 2 to 92 tokens: batches pad differently, the padding must not leak in
    texts = [f"{VACCINE} " * k for k in (0, 1, 3, 9)] + [UNRELATED, PARAPHRASE]
    one = minilm.embed(texts, batch_size=1)
    np.testing.assert_allclose(minilm.embed(texts, batch_size=64), one, atol=1e-5)
    np.testing.assert_allclose(minilm.embed(texts, batch_size=3), one, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(minilm: embed.Embedder) -> None:
    v = minilm.embed([VACCINE, PARAPHRASE, UNRELATED])
    assert v[0] @ v[1] > 0.7 > 0.2 > max(v[0] @ v[2], v[1] @ v[2])


def test_empty_input(minilm: embed.Embedder) -> None:
    assert minilm.embed([]).shape == (0, 384)


def test_a_file_failing_its_checksum_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    embed.minilm_dir()  # the package is there (else the error below would be another one)
    monkeypatch.setitem(embed.MINILM_SHA256, "tokenizer.json", "0" * 64)
    with pytest.raises(
        ConfigError, match=r"tokenizer\.json: missing or fails its sha256 check; .*glan\[report"
    ):
        load_embedder()


def test_a_missing_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed, "MINILM_DIST", "glan-no-such-model-package")
    with pytest.raises(ConfigError, match=r"model: glan-no-such-model-package is missing; pip install"):
        load_embedder()


def test_an_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="choose minilm, gguf or gguf:MODEL"):
        load_embedder("word2vec")


@pytest.mark.slow
def test_gguf_embeddings_on_the_real_model() -> None:
    """The 0.5b model pack through llama.cpp's embedding mode (seconds; needs glan[model-0-5b])."""
    try:
        gguf = load_embedder("gguf")
    except ConfigError as e:
        pytest.skip(str(e))
    texts = [VACCINE, PARAPHRASE, UNRELATED, ""]
    v = gguf.embed(texts, batch_size=2)
    assert v.shape == (4, gguf.dim) == (4, 896)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > max(v[0] @ v[2], v[1] @ v[2])
    # one batch or two: llama.cpp's kernels may round differently, the vectors stay the same
    assert (gguf.embed(texts) * v).sum(1).min() > 0.999
    assert gguf.embed([]).shape == (0, 896)
