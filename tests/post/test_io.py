from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glan.errors import ConfigError
from glan.post.config import FieldMap
from glan.post.io import read_pairs


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="pairs file not found: .*nope.jsonl"):
        list(read_pairs(tmp_path / "nope.jsonl"))


def test_malformed_line_names_file_and_line(tmp_path: Path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"instruction": "a", "response": "b"}\n\n{"instruction": oops}\n')
    with pytest.raises(ConfigError, match=r"p.jsonl:3: malformed JSON line"):
        list(read_pairs(p))


def test_bad_field_name_says_which_flag_to_use(tmp_path: Path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"prompt": "a", "completion": "b"}\n')
    with pytest.raises(ConfigError, match=r"p.jsonl:1: no field 'instruction' .*--instruction-field"):
        list(read_pairs(p))
    rows = list(read_pairs(p, FieldMap(instruction="prompt", response="completion")))
    assert rows[0]["instruction"] == "a" and rows[0]["response"] == "b" and rows[0]["id"]


def test_non_text_value(tmp_path: Path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"instruction": 3, "response": "b"}\n')
    with pytest.raises(ConfigError, match="'instruction' is int, expected text"):
        list(read_pairs(p))


def test_alpaca_input_and_parquet(tmp_path: Path):
    p = tmp_path / "p.parquet"
    pq.write_table(
        pa.table({"instruction": ["Translate", "Add"], "input": ["bonjour", ""], "output": ["hello", "2"]}), p
    )
    rows = list(read_pairs(p, FieldMap(response="output")))
    assert rows[0]["input"] == "bonjour" and "input" not in rows[1]
    assert rows[0]["id"] != rows[1]["id"]
