"""`glan estimate`: calls, tokens and cost before spending, exact where inputs exist."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from typer.testing import CliRunner

from glan.cli import app
from glan.config import PriceConfig, RunConfig
from glan.estimate import estimate
from glan.llm.base import ChatRequest
from glan.recipes.base import Estimate, Recipe, Step
from glan.records import Record
from glan.shards import Shard, StepFolder
from glan.stages.base import Job, Stage
from glan.store import RunDir
from tests.fakes import FakeBackend
from tests.helpers import run, step_bytes


def by_stage(cfg: RunConfig) -> dict:
    return {r.stage: r for r in estimate(cfg)}


def test_before_anything_runs(small_config: RunConfig) -> None:
    cfg = small_config
    cfg.prices = {cfg.llm.model: PriceConfig(input=1.0, output=2.0)}
    rows = by_stage(cfg)
    assert list(rows) == ["subject_drafts", "subject_samples", "syllabi", "questions", "answers"]
    drafts = rows["subject_drafts"]
    assert drafts.calls == 2 * 2 and drafts.counted == "exact" and drafts.cached == 0
    assert rows["syllabi"].counted == "assumed" and rows["syllabi"].calls == 2 * 2 * 12
    assert rows["questions"].calls == rows["answers"].calls == 4 * rows["syllabi"].calls
    # the question prompt carries a whole syllabus: far longer than an answer's prompt
    assert rows["questions"].prompt_per_call > 3 * rows["answers"].prompt_per_call
    for r in rows.values():
        assert r.reply_per_call <= r.max_tokens and r.basis == "prompt+typical"
        expected = r.to_send * (r.prompt_per_call * 1.0 + r.reply_per_call * 2.0) / 1e6
        assert r.cost() == expected and r.cost(at_most=True) >= expected
    assert not cfg.run_dir.exists()  # estimating spends and writes nothing


def test_exact_counts_and_measured_tokens_after_a_pilot(small_config: RunConfig) -> None:
    cfg = small_config
    fake = FakeBackend()
    run(cfg, fake, ("disciplines", "subjects", "syllabi", "questions"))
    rows = by_stage(cfg)
    questions = step_bytes(cfg.run_dir, "questions").count(b"\n")
    answers = rows["answers"]
    assert answers.counted == "exact" and answers.calls == questions and answers.cached == 0
    for stage in ("subject_drafts", "subject_samples", "syllabi", "questions"):
        assert rows[stage].to_send == 0 and rows[stage].basis == "measured", stage
    calls_before = len(fake.calls)
    run(cfg, fake, ("answers",))
    assert len(fake.calls) - calls_before == answers.to_send  # the prediction was right
    after = by_stage(cfg)["answers"]
    assert after.to_send == 0 and after.basis == "measured" and after.prompt_per_call == 10


def test_cli_json(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["estimate", "--json", "--run-dir", str(tmp_path / "r"), "-s", "disciplines=[Physics]"]
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0]["stage"] == "subject_drafts" and rows[0]["calls"] == 10 and rows[0]["cost_usd"] is None
    bad = CliRunner().invoke(app, ["estimate", "--run-dir", str(tmp_path), "-s", "disciplines=[Nonsense]"])
    assert bad.exit_code == 2 and "Nonsense" in bad.output


def test_the_endpoints_example_estimates(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "examples" / "endpoints.yaml"
    r = CliRunner().invoke(app, ["estimate", "-c", str(example), "--json", "--run-dir", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    rows = {row["stage"]: row for row in json.loads(r.stdout)}
    assert rows["answers"]["model"] == "gpt-4o-mini" and rows["answers"]["cost_usd"] > 0
    assert rows["questions"]["calls"] == 100 * rows["syllabi"]["calls"]


def test_a_discipline_added_after_a_run_is_estimated(small_config: RunConfig) -> None:
    """The config's taxonomy, not the disciplines.jsonl of the last run, says what is left."""
    cfg = small_config
    run(cfg, FakeBackend())
    assert all(r.to_send == 0 for r in estimate(cfg))  # all done, all cached
    syllabi = step_bytes(cfg.run_dir, "syllabi").count(b"\n")
    more = cfg.model_copy(update={"disciplines": ["Physics", "Chemistry", "Biology"]})
    rows = by_stage(more)
    assert rows["subject_drafts"].to_send == 2 and rows["subject_drafts"].counted == "exact"
    assert rows["subject_samples"].to_send == 2  # one conversion per new draft
    for stage in ("syllabi", "questions", "answers"):  # the old disciplines' calls are cached
        assert rows[stage].to_send > 0 and rows[stage].counted == "assumed", stage
    assert rows["questions"].cached == syllabi * 4
    fake = FakeBackend()
    run(more, fake)
    drafts = [c for c in fake.calls if "Act as an education expert" in c.messages[-1]["content"]]
    converted = [c for c in fake.calls if c.schema_name == "subjects"]
    assert len(drafts) == len(converted) == 2  # as predicted
    assert len(fake.calls) > 2 + 2  # and the new discipline's syllabi, questions and answers
    assert all(r.to_send == 0 for r in estimate(more))
    # and a discipline taken out of the config is no longer counted
    fewer = by_stage(cfg.model_copy(update={"disciplines": ["Physics"]}))
    assert fewer["questions"].calls < rows["questions"].cached


class Note(Record):
    text: str


class Echo(Stage):
    """Asks `copies` times per note for the note back: a stage no recipe of glan's has."""

    name = "echo"
    input = Note
    output = Note

    def __init__(self, model: str, copies: int) -> None:
        self.model, self.copies = model, copies

    @property
    def per_item(self) -> int:
        return self.copies

    def jobs(self, item: Note) -> Iterator[Job]:
        for i in range(self.copies):
            messages = [{"role": "user", "content": item.text}]
            yield Job(item, ChatRequest(model=self.model, messages=messages, seed=i, max_tokens=100))


NOTES = [Note(id=str(i), text="x" * 400) for i in range(3)]  # 100 tokens (+4 for the message)
TINY = Recipe(
    name="tiny",
    help="notes -> echoes -> echoes of the echoes",
    steps=(
        Step("notes", "source", "notes", estimate=Estimate(records=lambda cfg: NOTES)),
        Step(
            "echoes",
            "map",
            "echo",
            input="notes",
            section="questions",
            stage=lambda cfg: Echo(cfg.llm.model, 2),
            estimate=Estimate(
                per_job=1.5,
                assumption="notes_per_echo",
                reply=50,
                example=lambda cfg, note: Note(id="e", text="y" * 800),
            ),
        ),
        Step(
            "again",
            "map",
            "echo",
            input="echoes",
            section="answers",
            stage=lambda cfg: Echo(cfg.llm.model, 3),
        ),
    ),  # fmt: skip
    commands_help={"echo": "Echo the notes, then the echoes."},
)


def test_a_recipe_is_estimated_from_its_declaration(small_config: RunConfig) -> None:
    """A recipe glan does not know, over a stage of its own: the estimate reads the steps."""
    cfg = small_config
    rows = {r.stage: r for r in estimate(cfg, recipe=TINY)}
    assert list(rows) == ["echoes", "again"]
    echoes, again = rows["echoes"], rows["again"]
    assert (echoes.calls, echoes.counted, echoes.prompt_per_call) == (3 * 2, "exact", 104)
    assert echoes.reply_per_call == 50 and echoes.model == cfg.llm_for(cfg.questions).model
    # 6 echo calls of 1.5 notes each, asked 3 times; prompts like the declared example's
    assert (again.calls, again.counted, again.prompt_per_call) == (27, "assumed", 204)
    assert again.reply_per_call == again.max_tokens == cfg.answers.max_tokens  # no typical reply declared
    assert [r.calls for r in estimate(cfg, {"notes_per_echo": 1.0}, TINY)] == [6, 18]
    assert not cfg.run_dir.exists()
    # once the echoes exist, the next step's calls are counted from them
    echoes = StepFolder(RunDir(cfg.run_dir).stage("echoes"))
    echoes.root.mkdir(parents=True)
    echoes.records_path("all").write_text(
        "".join(Note(id=f"e{i}", text="z" * 40).model_dump_json() + "\n" for i in range(4))
    )
    echoes.write_index([Shard("all", digest="d", records=4)], config="c", input_digest="i")
    again = estimate(cfg, recipe=TINY)[1]
    assert (again.calls, again.counted, again.prompt_per_call) == (4 * 3, "exact", 14)
