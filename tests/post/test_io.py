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


def test_bom_csv_gz_and_pass_through_values_that_json_lacks(tmp_path: Path):
    import decimal
    import gzip

    from glan.atomic import JsonlWriter

    j = tmp_path / "bom.jsonl"
    j.write_bytes(b'\xef\xbb\xbf{"instruction": "a", "response": "b"}\n')
    assert next(read_pairs(j))["instruction"] == "a"
    c = tmp_path / "p.csv.gz"
    c.write_bytes(gzip.compress("\ufeffinstruction,response,extra\nq,a,x,surplus\n".encode()))
    row = next(read_pairs(c))
    assert (row["instruction"], row["response"], row["(extra cells)"]) == ("q", "a", ["surplus"])
    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"instruction": ["q"], "response": ["a"], "price": [decimal.Decimal("1.50")]}), p)
    with JsonlWriter(tmp_path / "out.jsonl") as w:
        for rec in read_pairs(p):
            w.write(rec)
    assert '"price":"1.50"' in (tmp_path / "out.jsonl").read_text()
