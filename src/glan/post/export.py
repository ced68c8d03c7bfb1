"""Trainer formats (messages / ShareGPT / Alpaca) as JSONL, Parquet and a `datasets` dataset."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from glan.atomic import JsonlWriter
from glan.errors import ConfigError
from glan.post.config import ExportConfig

Record = dict[str, Any]
META = ("id", "field", "sub_field", "discipline", "subject", "level", "difficulty")
_S = pa.string()


def _meta(rec: Record) -> dict[str, str | None]:
    return {k: (None if rec.get(k) is None else str(rec[k])) for k in META}


def _user(rec: Record) -> str:
    extra = rec.get("input")
    return f"{rec['instruction']}\n\n{extra}" if extra else rec["instruction"]


def _turns(rec: Record, system: str | None) -> list[dict[str, str]]:
    """The whole conversation: a record's own `messages`, else its instruction and response.
    The export's system prompt opens a conversation that has no system turn of its own."""
    turns = rec.get("messages") or [
        {"role": "user", "content": _user(rec)},
        {"role": "assistant", "content": rec["response"]},
    ]
    if system and turns[0]["role"] != "system":
        turns = [{"role": "system", "content": system}, *turns]
    return turns


def to_messages(rec: Record, system: str | None = None) -> dict[str, Any]:
    """OpenAI / ChatML: {"messages": [{"role", "content"}, ...]}, every turn of a conversation."""
    return {"messages": [{"role": t["role"], "content": t["content"]} for t in _turns(rec, system)]}


_SHAREGPT_ROLE = {"system": "system", "user": "human", "assistant": "gpt"}


def to_sharegpt(rec: Record, system: str | None = None) -> dict[str, Any]:
    """ShareGPT: {"conversations": [{"from": "human" | "gpt" | "system", "value"}, ...]}."""
    conv = [{"from": _SHAREGPT_ROLE[t["role"]], "value": t["content"]} for t in _turns(rec, system)]
    return {"conversations": conv}


def to_alpaca(rec: Record, system: str | None = None) -> dict[str, Any]:
    """Alpaca: {"instruction", "input", "output"} (plus "system" when one is set).

    A conversation follows LLaMA-Factory's Alpaca convention: its last user turn is the
    instruction, its last assistant turn the output, the exchanges before them "history"
    ([[user, assistant], ...]) and its own system turn "system"."""
    out = {"instruction": rec["instruction"], "input": rec.get("input") or "", "output": rec["response"]}
    turns = rec.get("messages")
    if turns:
        own = turns[0]["content"] if turns[0]["role"] == "system" else None
        system = own or system
        history, user = [], None
        for t in turns[:-1]:  # the last turn is the output
            if t["role"] == "user":
                user = t["content"]
            elif t["role"] == "assistant" and user is not None:
                history.append([user, t["content"]])
                user = None
        out["input"] = ""
        if history:
            out["history"] = history
    if system:
        out["system"] = system
    return out


CONVERTERS: dict[str, Callable[[Record, str | None], dict[str, Any]]] = {
    "messages": to_messages,
    "sharegpt": to_sharegpt,
    "alpaca": to_alpaca,
}


def schema(fmt: str, cfg: ExportConfig) -> pa.Schema:
    """The Parquet schema of a format (fixed, so every batch and file agree)."""
    if fmt == "messages":
        cols = [("messages", pa.list_(pa.struct([("role", _S), ("content", _S)])))]
    elif fmt == "sharegpt":
        cols = [("conversations", pa.list_(pa.struct([("from", _S), ("value", _S)])))]
    else:
        # "system" and "history" (earlier exchanges of a conversation) are null where absent
        cols = [("instruction", _S), ("input", _S), ("output", _S), ("system", _S)]
        cols.append(("history", pa.list_(pa.list_(_S))))
    if cfg.include_metadata:
        cols += [(k, _S) for k in META]
    return pa.schema(cols)


class FormatWriter:
    """Writes one format of one split to the configured file types, streaming, into a fresh
    (staging) folder `out_dir`.

    With `hf`, the same Arrow batches also go to `out_dir/hf/<format>/<split>/` in the layout
    `datasets.load_from_disk` reads (Arrow stream file + state.json + dataset_info.json), so
    no step ever holds the dataset in memory.
    """

    def __init__(
        self, out_dir: Path, fmt: str, split: str, cfg: ExportConfig, rows: int = 4096, hf: bool = False
    ):
        self.fmt, self.split, self.cfg, self.rows = fmt, split, cfg, rows
        self.convert = CONVERTERS[fmt]
        base = out_dir / fmt
        base.mkdir(parents=True, exist_ok=True)
        self.paths: dict[str, Path] = {}
        self.schema = schema(fmt, cfg)
        self._jsonl: JsonlWriter | None = None
        self._pq: pq.ParquetWriter | None = None
        self._ipc: pa.ipc.RecordBatchStreamWriter | None = None
        self._buf: list[dict[str, Any]] = []
        self.count = 0
        if "jsonl" in cfg.file_types:
            self.paths["jsonl"] = base / f"{split}.jsonl"
            self._jsonl = JsonlWriter(self.paths["jsonl"])
        if "parquet" in cfg.file_types:
            self.paths["parquet"] = base / f"{split}.parquet"
            self._pq = pq.ParquetWriter(self.paths["parquet"], self.schema, compression="zstd")
        if hf:
            self.hf_dir = out_dir / "hf" / fmt / split
            self.hf_dir.mkdir(parents=True)
            self.features = _features(self.schema)
            meta = {"huggingface": json.dumps({"info": {"features": self.features}})}
            self.schema = self.schema.with_metadata(meta)
            self._ipc = pa.ipc.new_stream(str(self.hf_dir / _ARROW), self.schema)

    def write(self, rec: Record) -> None:
        row = self.convert(rec, self.cfg.system_prompt)
        if self.cfg.include_metadata:
            row.update(_meta(rec))
        if self._jsonl is not None:
            self._jsonl.write(row)
        if self._pq is not None or self._ipc is not None:
            self._buf.append(row)
            if len(self._buf) >= self.rows:
                self._flush()
        self.count += 1

    def _flush(self) -> None:
        if not self._buf:
            return
        table = pa.Table.from_pylist(self._buf, schema=self.schema)
        if self._pq is not None:
            self._pq.write_table(table)
        if self._ipc is not None:
            self._ipc.write_table(table)
        self._buf = []

    def close(self, ok: bool = True) -> None:
        """Finish the files; with `ok` False (the export failed) only release them."""
        if ok:
            self._flush()
        if self._jsonl is not None:
            self._jsonl.commit() if ok else self._jsonl.abort()
        if self._pq is not None:
            self._pq.close()
        if self._ipc is not None:
            self._ipc.close()
            if ok:
                _write_hf_meta(self.hf_dir, self.features, self.split)


_ARROW = "data-00000-of-00001.arrow"


def hf_available() -> bool:
    try:
        import datasets  # noqa: F401
    except ImportError:
        return False
    return True


def _features(schema: pa.Schema) -> dict[str, Any]:
    try:
        import datasets
    except ImportError as exc:
        raise ConfigError("export.hf_dataset needs the datasets package: pip install 'glan[hf]'") from exc
    return datasets.Features.from_arrow_schema(schema).to_dict()


def _write_hf_meta(split_dir: Path, features: dict[str, Any], split: str) -> None:
    state = {
        "_data_files": [{"filename": _ARROW}],
        "_fingerprint": hashlib.sha256(str(split_dir.resolve()).encode()).hexdigest()[:16],
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": split,
    }
    (split_dir / "state.json").write_text(json.dumps(state, indent=2))
    info = {"citation": "", "description": "", "features": features, "homepage": "", "license": ""}
    (split_dir / "dataset_info.json").write_text(json.dumps(info, indent=2))


def finish_hf(out_dir: Path, fmt: str, splits: list[str]) -> Path:
    """Writes dataset_dict.json so `load_from_disk(out_dir/hf/<format>)` gives a DatasetDict."""
    target = out_dir / "hf" / fmt
    (target / "dataset_dict.json").write_text(json.dumps({"splits": splits}))
    return target
