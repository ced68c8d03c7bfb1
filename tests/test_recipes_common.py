"""What every recipe shares: `post:` cleans the recipe's pairs, `glan run` names them, files a
config names are found beside it, instruction files in every accepted shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glan.cli import app
from glan.config import load_config
from glan.errors import ConfigError
from glan.recipes import get_recipe, recipe_names
from glan.tasks_file import load_tasks
from tests.fakes import FakeBackend
from tests.helpers import run
from tests.http_fakes import FakeOpenAIServer

SMALL = {
    "self_instruct": [
        "self_instruct.target=6",
        "self_instruct.prompts_per_round=2",
        "self_instruct.new_per_prompt=3",
    ],
    "evol_instruct": [],
}


def test_every_recipe_ends_with_clean_on_its_pairs() -> None:
    for name in recipe_names():
        recipe = get_recipe(name)
        clean = recipe.step("clean")
        cfg = load_config(None, [f"recipe={name}"])
        assert clean.kind == "post" and clean.input_of(cfg) == recipe.pairs == recipe.final_pairs(cfg)
        assert recipe.step(recipe.pairs).kind == ("source" if name == "verify" else "map")
        cfg.verify.methods = ["code", "double_critic"]  # verification: clean reads the verified pairs
        assert recipe.final_pairs(cfg) == "verified" and recipe.step("verified").input_of(cfg) == "executed"


@pytest.mark.parametrize("name", ["self_instruct", "evol_instruct"])
def test_post_cleans_the_pairs_of_other_methods(tmp_path: Path, name: str) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"instruction": f"Name {w} things you can do with a {w}."}) + "\n"
                             for w in ("rope", "kettle", "ladder")))  # fmt: skip
    cfg = load_config(
        None, [f"run_dir={tmp_path / 'run'}", f"recipe={name}", f"evolve.instructions={seeds}", *SMALL[name]]
    )
    cfg.post = {"decontam": {"enabled": False}}
    report = run(cfg, FakeBackend())
    pairs = get_recipe(name).pairs
    kept = report["clean"]["clean"]["kept"]
    assert 0 < kept <= report[pairs]["records"]
    exported = (tmp_path / "run" / "clean" / "clean.jsonl").read_text().splitlines()
    assert len(exported) == kept
    assert all(json.loads(line)["method"] == name for line in exported)


def test_run_says_where_the_pairs_of_the_recipe_are(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        result = CliRunner().invoke(
            app,
            ["run", "--recipe", "self_instruct", "--run-dir", str(tmp_path / "run"), "-q",
             "--set", "llm.backend=openai", "--set", f"llm.base_url={server.base_url}",
             "--set", "llm.model=m", "--set", "llm.api_key_env=null",
             *(x for s in SMALL["self_instruct"] for x in ("--set", s))],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"pairs in {tmp_path / 'run' / 'instances'}" in " ".join(result.output.split())


def test_instruction_files_a_config_names_are_read_beside_it(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mine.jsonl").write_text('{"instruction": "Say hello politely."}\n')
    config = tmp_path / "conf" / "run.yaml"
    config.write_text("self_instruct: {seed_tasks: mine.jsonl}\nevolve: {instructions: builtin}\n")
    cfg = load_config(config)
    assert cfg.self_instruct.seed_tasks == str(tmp_path / "conf" / "mine.jsonl")
    assert cfg.evolve.instructions == "builtin"
    assert [t.instruction for t in load_tasks(cfg.self_instruct.seed_tasks, "x")] == ["Say hello politely."]


def test_instruction_file_shapes(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    rows = [
        {"instruction": "Add the numbers.", "input": "2, 3"},  # an input, no output yet
        {"instruction": "Translate to French.", "input": "cat", "output": "chat"},
        {"id": "t3", "instruction": "Is it odd?", "instances": [{"input": "3", "output": "yes"}],
         "is_classification": True},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    tasks = load_tasks(str(path), "evolve.instructions")
    assert tasks[0].instances == [{"input": "2, 3", "output": ""}]
    assert tasks[1].instances == [{"input": "cat", "output": "chat"}]
    assert tasks[2].id == "t3" and tasks[2].is_classification is True
    assert len(load_tasks("builtin", "x")) == 175


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("[1, 2]", "not a JSON object"),
        ("{oops", "not a JSON object"),
        ('{"instruction": ""}', "`instruction` missing"),
        ('{"instruction": "x", "instances": [{"input": 1}]}', "`instances` must be"),
        ('{"instruction": "x", "is_classification": "yes"}', "`is_classification` must be"),
    ],
)
def test_bad_instruction_lines_name_the_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"instruction": "fine"}\n' + line + "\n")
    with pytest.raises(ConfigError) as e:
        load_tasks(str(path), "evolve.instructions")
    assert str(e.value).startswith(f"{path}:2: ") and problem in str(e.value)


def test_missing_or_empty_instruction_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="evolve.instructions: .*no such file"):
        load_tasks(str(tmp_path / "none.jsonl"), "evolve.instructions")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ConfigError, match="holds no tasks"):
        load_tasks(str(tmp_path / "empty.jsonl"), "evolve.instructions")


def test_methods_combine_through_step_folders(tmp_path: Path) -> None:
    """Self-Instruct's new tasks, then GLAN's questions, evolved by evol_instruct: a step folder
    of another run is an instruction file."""
    si = load_config(None, [f"run_dir={tmp_path / 'si'}", "recipe=self_instruct", *SMALL["self_instruct"]])
    run(si, FakeBackend(), steps=["seed_tasks", "instructions"])
    made = [t.instruction for t in load_tasks(str(tmp_path / "si" / "instructions"), "x")]
    assert len(made) >= 6
    evol = load_config(
        None,
        [
            f"run_dir={tmp_path / 'evol'}",
            "recipe=evol_instruct",
            f"evolve.instructions={tmp_path / 'si' / 'instructions'}",
        ],
    )
    report = run(evol, FakeBackend())
    assert report["evolved"]["inputs"] == len(made)
    with pytest.raises(ConfigError, match="not a finished step folder"):
        load_tasks(str(tmp_path), "evolve.instructions")


def test_glan_questions_and_pairs_read_as_instructions(tmp_path: Path, small_config) -> None:  # noqa: ANN001
    run(small_config, FakeBackend())
    questions = load_tasks(str(small_config.run_dir / "questions"), "x")
    pairs = load_tasks(str(small_config.run_dir / "answers"), "x")
    assert len(questions) == len(pairs) > 0
    assert pairs[0].instances[0]["output"]  # a pair's response is its task's output
