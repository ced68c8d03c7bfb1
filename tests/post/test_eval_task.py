"""The held-out split as an lm-evaluation-harness task folder: its files, the YAML, the scorer in
utils.py, hostile text, and `glan eval-task` (lm-eval itself runs in suites/train)."""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import orjson
import pytest
import typer
import yaml
from conftest import make_pairs, read_jsonl, snapshot, write_jsonl
from typer.testing import CliRunner

from glan.cli.eval_task import eval_task
from glan.post.config import PostConfig
from glan.post.eval_folder import render_yaml
from glan.post.eval_task import build_task
from glan.post.normalize import rouge_l_f, tokens
from glan.post.pipeline import clean_and_export, export
from glan.post.split import splitter

FILES = ["README.md", "glan_test.jsonl", "glan_test.yaml", "utils.py"]
HOSTILE = [
    "What is {{ 7*7 }}? {% for x in range(3) %}{{x}}{% endfor %} {# note #}",
    "key: value\n- item\n\"quoted\" 'single' # not a comment\n---\n!function utils.evil\n&anchor *alias",
    "Tabs\tand\r\nwindows lines, unicode é 中文 \u2028 and a NUL-free ]} [{ |>",
]


class _Loader(yaml.SafeLoader):
    """Reads lm-eval's `!function` tag as ("function", value), without importing anything."""


_Loader.add_constructor("!function", lambda loader, node: ("function", loader.construct_scalar(node)))


def task_yaml(folder: Path) -> dict[str, Any]:
    return yaml.load((folder / "glan_test.yaml").read_text(), Loader=_Loader)  # noqa: S506


def load_utils(folder: Path) -> ModuleType:
    """The folder's utils.py, loaded by path as lm-eval loads it."""
    spec = importlib.util.spec_from_file_location(f"glan_eval_utils_{abs(hash(folder))}", folder / "utils.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CFG = {
    "decontam": {"enabled": False},
    "export": {"hf_dataset": "no"},
    "split": {"mode": "discipline", "test_share": 0.5},
}


def pairs_with_answers(n: int = 60) -> list[dict[str, Any]]:
    """GLAN-like pairs, a third with a stated final answer; the hostile questions are put on
    pairs the split holds out."""
    pairs = make_pairs(n)
    held_out = splitter(PostConfig.model_validate(CFG).split)
    hostile = iter(HOSTILE)
    for i, p in enumerate(pairs):
        p["method"] = "glan"
        if i % 3 == 0:
            p["response"] += f"\n\nFinal answer: {i + 0.5}"
        if held_out(p) == "test" and (text := next(hostile, None)) is not None:
            p["instruction"] = f"{text} (item {i})"
    return pairs


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run dir whose clean/ holds an export with a held-out split (every hostile item in it)."""
    root = tmp_path_factory.mktemp("eval") / "My Run-2"
    root.mkdir()
    pairs = pairs_with_answers()
    src = write_jsonl(root / "answers.jsonl", pairs)
    clean_and_export(src, root / "clean", PostConfig.model_validate(CFG))
    return root


def test_export_writes_the_task_folder(run_dir: Path):
    folder = run_dir / "clean" / "lm_eval"
    assert sorted(p.name for p in folder.iterdir()) == FILES
    cfg = task_yaml(folder)
    assert cfg["task"] == "glan_test_my_run_2"  # the run's name, sanitised
    assert cfg["dataset_path"] == "json"
    assert cfg["dataset_kwargs"] == {"data_files": {"test": "glan_test.jsonl"}}
    assert cfg["custom_dataset"] == ("function", "utils.load_test_split")
    assert cfg["output_type"] == "generate_until" and cfg["test_split"] == "test"
    assert cfg["doc_to_text"] == ("function", "utils.doc_to_text") and cfg["doc_to_target"] == "reference"
    assert cfg["process_results"] == ("function", "utils.process_results")
    assert [m["metric"] for m in cfg["metric_list"]] == ["rouge_l", "final_answer"]
    assert all(m["aggregation"] == "mean" and m["higher_is_better"] for m in cfg["metric_list"])
    gen = cfg["generation_kwargs"]
    assert gen["max_gen_toks"] == 1024 and "<|im_end|>" in gen["until"] and gen["do_sample"] is False
    # the items are the held-out split, as the trainer formats hold it
    items = read_jsonl(folder / "glan_test.jsonl")
    test = read_jsonl(run_dir / "clean" / "messages" / "test.jsonl")
    assert [i["id"] for i in items] == [t["id"] for t in test] and len(items) > 10
    assert [(i["question"], i["reference"]) for i in items] == [
        (t["messages"][0]["content"], t["messages"][1]["content"]) for t in test
    ]
    first = items[0]
    assert {"discipline", "subject", "difficulty", "method", "level", "field", "final_answer"} <= first.keys()
    assert {i["method"] for i in items} == {"glan"}
    with_final = [i for i in items if i["final_answer"]]
    assert with_final and all(
        i["reference"].endswith(f"Final answer: {i['final_answer']}") for i in with_final
    )
    rep = orjson.loads((run_dir / "clean" / "report.json").read_bytes())
    summary = rep["export"]["lm_eval_task"]
    assert summary["items"] == len(items) and summary["final_answer_items"] == len(with_final)
    assert "lm_eval" in rep["outputs"]
    readme = (folder / "README.md").read_text()
    assert "--tasks glan_test_my_run_2 --include_path" in readme and "--apply_chat_template" in readme
    assert "`rouge_l`" in readme and "`final_answer`" in readme


def test_the_scorer(run_dir: Path):
    u = load_utils(run_dir / "clean" / "lm_eval")
    ref = "The rate doubles because the enzyme concentration doubled, so 12 mol/s."
    assert u.rouge_l(ref, ref) == 1.0
    assert u.rouge_l("Completely unrelated words here", ref) == 0.0
    assert u.rouge_l("", ref) == 0.0
    part = u.rouge_l("the enzyme concentration doubled", ref)
    assert 0 < part < 1 and part == pytest.approx(
        rouge_l_f(tokens("the enzyme concentration doubled"), tokens(ref))
    )
    assert u.final_answer_match("Work... so the answer is 42.", "42") == 1.0
    assert u.final_answer_match("It comes to $1,200.00\n\nFinal answer: 1200", "1,200") == 1.0
    assert u.final_answer_match("Option (B) is correct.", "(B)") == 1.0
    assert u.final_answer_match("Final answer: 41", "42") == 0.0
    assert u.final_answer_match("An essay with no stated answer at all.", "42") == 0.0
    doc = {"reference": ref, "final_answer": "12 mol/s"}
    assert u.process_results(doc, ["Twice as fast. Final answer: 12 mol/s"]) == {
        "rouge_l": pytest.approx(u.rouge_l("Twice as fast. Final answer: 12 mol/s", ref)),
        "final_answer": 1.0,
    }
    # an essay's reference has no final answer: the item is left out of that metric, not scored 0
    assert set(u.process_results({"reference": ref, "final_answer": None}, ["x"])) == {"rouge_l"}


def test_utils_runs_without_glan(run_dir: Path):
    """utils.py imports nothing of glan: it loads (and scores) in a Python with no site-packages."""
    path = run_dir / "clean" / "lm_eval" / "utils.py"
    tree = ast.parse(path.read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] == "glan"}
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('u', {str(path)!r})\n"
        "u = importlib.util.module_from_spec(spec); spec.loader.exec_module(u)\n"
        "assert 'glan' not in sys.modules\n"
        "print(u.rouge_l('a b c', 'a b c'), u.final_answer_match('Final answer: 7', '7'))\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1.0", "1.0"]


def test_hostile_text_stays_data(run_dir: Path):
    """LLM-written questions with Jinja, YAML syntax and odd characters go to the JSONL only:
    the YAML is the same as for plain data, and the prompt is the question verbatim."""
    folder = run_dir / "clean" / "lm_eval"
    text = (folder / "glan_test.yaml").read_text()
    assert text == render_yaml("glan_test_my_run_2", 1024, has_system=False, has_final=True)
    assert "{{" not in text and "7*7" not in text
    items = {i["id"]: i for i in read_jsonl(folder / "glan_test.jsonl")}
    u = load_utils(folder)
    found = {h: i for h in HOSTILE for i in items.values() if i["question"].startswith(f"{h} (item ")}
    assert len(found) == len(HOSTILE)
    for item in found.values():
        assert u.doc_to_text(item) == item["question"]  # no template is applied to it
    # lm-eval renders `description: "{{system}}"` with Jinja: a value is not rendered again
    assert jinja2.Template("{{system}}").render(system=HOSTILE[0]) == HOSTILE[0]


def test_conversations_and_system_prompt(tmp_path: Path):
    pairs = make_pairs(30)
    for p in pairs:
        p["messages"] = [
            {"role": "system", "content": "Be {{brief}}."},
            {"role": "user", "content": "Earlier question?"},
            {"role": "assistant", "content": "Earlier answer."},
            {"role": "user", "content": p["instruction"]},
            {"role": "assistant", "content": p["response"]},
        ]
    src = write_jsonl(tmp_path / "conv.jsonl", pairs)
    clean_and_export(src, tmp_path / "out", PostConfig.model_validate(CFG))
    folder = tmp_path / "out" / "lm_eval"
    cfg = task_yaml(folder)
    assert cfg["task"] == "glan_test_out" and cfg["description"] == "{{system}}"
    assert [m["metric"] for m in cfg["metric_list"]] == ["rouge_l"]  # no reference has a final answer
    item = read_jsonl(folder / "glan_test.jsonl")[0]
    assert item["system"] == "Be {{brief}}." and item["final_answer"] is None
    assert item["context"] == [
        {"role": "user", "content": "Earlier question?"},
        {"role": "assistant", "content": "Earlier answer."},
    ]
    prompt = load_utils(folder).doc_to_text(item)
    assert prompt == f"User: Earlier question?\n\nAssistant: Earlier answer.\n\nUser: {item['question']}"
    assert "no reference here states one" in (folder / "README.md").read_text()


def test_no_split_no_task_and_a_stale_one_goes(tmp_path: Path):
    src = write_jsonl(tmp_path / "a.jsonl", make_pairs(40))
    out = tmp_path / "out"
    export(src, out, PostConfig.model_validate(CFG))
    assert (out / "lm_eval" / "glan_test.yaml").is_file()
    export(src, out, PostConfig.model_validate({**CFG, "split": {"mode": "none"}}))
    assert not (out / "lm_eval").exists()


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("eval-task")(eval_task)
    app.command("unused")(lambda: None)  # two commands: typer keeps the subcommand's name
    return app


def invoke(app: typer.Typer, *args: str | Path) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["eval-task", *(str(a) for a in args)])
    return r.exit_code, r.output


def test_without_a_held_out_split_one_line(app, tmp_path: Path):
    src = write_jsonl(tmp_path / "a.jsonl", make_pairs(30))
    run = tmp_path / "run"
    clean_and_export(src, run / "clean", PostConfig.model_validate({**CFG, "split": {"mode": "none"}}))
    code, said = invoke(app, run)
    assert code == 2 and said.count("\n") == 1, said
    assert said.startswith("error:") and "no held-out split" in said and "post.split" in said
    code, said = invoke(app, tmp_path / "nothing")
    assert code == 2 and said.count("\n") == 1 and "not a directory" in said
    code, said = invoke(app, tmp_path)
    assert code == 2 and said.count("\n") == 1 and "no glan export" in said


def test_command_rebuilds_the_task(app, run_dir: Path, tmp_path: Path):
    out = tmp_path / "copy" / "task"
    code, said = invoke(app, run_dir, "-o", out, "--name", "mine.v1", "--max-gen-toks", "64")
    assert code == 0, said
    assert "lm-eval task mine.v1:" in said and f"--include_path {out}" in said
    cfg = task_yaml(out)
    assert cfg["task"] == "mine.v1" and cfg["generation_kwargs"]["max_gen_toks"] == 64
    exported = run_dir / "clean" / "lm_eval"
    assert (out / "glan_test.jsonl").read_bytes() == (exported / "glan_test.jsonl").read_bytes()
    assert (out / "utils.py").read_bytes() == (exported / "utils.py").read_bytes()
    # again: the folder is replaced as a whole, nothing left beside it
    assert invoke(app, run_dir, "-o", out, "--name", "mine.v2")[0] == 0
    assert task_yaml(out)["task"] == "mine.v2" and sorted(p.name for p in out.parent.iterdir()) == ["task"]
    # names lm-eval could not take, and a folder that is not a task's, are refused
    code, said = invoke(app, run_dir, "-o", out, "--name", "a,b")
    assert code == 2 and "task name 'a,b'" in said and said.count("\n") == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    code, said = invoke(app, run_dir, "-o", tmp_path / "mine")
    assert code == 2 and "not a glan task folder" in said
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_a_bad_held_out_file_changes_nothing(run_dir: Path, tmp_path: Path):
    export_dir = tmp_path / "e"
    src = write_jsonl(tmp_path / "a.jsonl", make_pairs(40))
    export(src, export_dir, PostConfig.model_validate(CFG))
    before = snapshot(tmp_path)
    test = export_dir / "messages" / "test.jsonl"
    test.write_bytes(test.read_bytes() + b"{broken\n")
    from glan.errors import ConfigError

    with pytest.raises(ConfigError, match="malformed JSON line"):
        build_task(export_dir)
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k != str(test.relative_to(tmp_path))} == {
        k: v for k, v in before.items() if k != str(test.relative_to(tmp_path))
    }


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt"])
def test_from_other_formats(fmt: str, run_dir: Path, tmp_path: Path):
    """An export of one format gives the same items as the messages one (method from clean.jsonl)."""
    cfg = PostConfig.model_validate(
        {
            **CFG,
            "export": {"hf_dataset": "no", "formats": [fmt], "file_types": ["parquet"]},
        }
    )
    out = tmp_path / "clean"
    out.mkdir()
    shutil.copy(run_dir / "clean" / "clean.jsonl", out / "clean.jsonl")  # where the methods are
    export(out / "clean.jsonl", out, cfg)
    (out / "lm_eval").rename(tmp_path / "by_export")
    rep = build_task(out)
    assert rep["source"].endswith(f"{fmt}/test.parquet")
    assert read_jsonl(out / "lm_eval" / "glan_test.jsonl") == read_jsonl(
        tmp_path / "by_export" / "glan_test.jsonl"
    )
