"""A `messages` export read and checked for fine-tuning, and turned into TRL prompt-completion rows.

Every row is checked before anything loads a model, so a format problem costs seconds, not a
GPU job: one ConfigError naming the file, the line and what is wrong with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from glan.errors import ConfigError

ROLES = ("system", "user", "assistant")
Message = dict[str, str]


def messages_file(data: Path) -> Path:
    """`data` itself, or the train file of a `glan export` folder given instead."""
    if data.is_dir():
        for candidate in (data / "messages" / "train.jsonl", data / "train.jsonl"):
            if candidate.is_file():
                return candidate
        raise ConfigError(
            f"{data}: a folder without messages/train.jsonl (the `messages` output of glan export)"
        )
    if not data.is_file():
        raise ConfigError(f"{data}: no such file")
    if not data.name.endswith(".jsonl"):
        raise ConfigError(
            f"{data}: expected a JSONL file of {{'messages': [...]}} rows (glan export's messages/)"
        )
    return data


def _check_row(row: Any) -> list[Message]:
    """The row's conversation; a ValueError saying what is wrong with it."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    msgs = row.get("messages")
    if msgs is None:
        raise ValueError("no `messages` field")
    if not isinstance(msgs, list) or not msgs:
        raise ValueError("`messages` must be a non-empty list")
    for i, m in enumerate(msgs):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise ValueError(f"{where} is not an object with role and content")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise ValueError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
        if role == "system" and i:
            raise ValueError(f"{where}: a system message must come first")
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"{where} ({role}): empty content")
    turns = [m["role"] for m in msgs if m["role"] != "system"]
    if "assistant" not in turns:
        raise ValueError("no assistant turn: nothing to train on")
    if turns[0] != "user":
        raise ValueError(f"the conversation starts with {turns[0]!r}, not 'user'")
    if turns[-1] != "assistant":
        raise ValueError("the last turn is 'user': a row must end with the assistant's answer")
    return [{"role": m["role"], "content": m["content"]} for m in msgs]


def read_conversations(path: Path, keep: int | None = None) -> tuple[list[list[Message]], int]:
    """The first `keep` conversations (all when None) of a `messages` JSONL file, and how many it
    holds; every row is checked (streamed: a large export is not held in memory), and the first
    bad one is a ConfigError `FILE:LINE: problem`."""
    out, total = [], 0
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise ConfigError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            try:
                conversation = _check_row(row)
            except ValueError as e:
                raise ConfigError(f"{path}:{lineno}: {e}") from None
            total += 1
            if keep is None or len(out) < keep:
                out.append(conversation)
    if not total:
        raise ConfigError(f"{path}: no rows")
    return out, total


def prompt_completion(conversations: list[list[Message]]) -> list[dict[str, list[Message]]]:
    """One TRL prompt-completion row per assistant turn: everything before it is the prompt, the
    turn the completion. With `completion_only_loss` that trains every assistant turn and no
    other token (TRL's `assistant_only_loss` would need `{% generation %}` markers in the chat
    template, which most templates, SmolLM2's among them, lack)."""
    rows = []
    for msgs in conversations:
        for i, m in enumerate(msgs):
            if m["role"] == "assistant":
                rows.append({"prompt": msgs[:i], "completion": [m]})
    return rows
