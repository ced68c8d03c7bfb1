from pathlib import Path

import orjson
import pytest

from glan.config import RunConfig
from glan.records import InstructionPair, Question, Subject, Syllabus
from tests.fakes import FakeBackend, Killed
from tests.helpers import run, step_bytes, step_done, step_failures, step_records


def outputs(run_dir: Path) -> dict[str, bytes]:
    names = [
        "disciplines",
        "subject_drafts",
        "subject_samples",
        "subjects",
        "syllabi",
        "questions",
        "answers",
    ]
    return {n: step_bytes(run_dir, n) for n in names}


def test_full_pipeline_lineage(small_config: RunConfig) -> None:
    fake = FakeBackend()
    report = run(small_config, fake)
    rd = small_config.run_dir
    subjects = step_records(rd, "subjects", Subject)
    syllabi = step_records(rd, "syllabi", Syllabus)
    questions = step_records(rd, "questions", Question)
    pairs = step_records(rd, "answers", InstructionPair)
    assert {s.discipline for s in subjects} == {"Physics", "Chemistry"}
    assert len(syllabi) == len(subjects)
    assert len(questions) == 4 * len(syllabi)
    assert len(pairs) == len(questions) > 0
    assert len({p.id for p in pairs}) == len(pairs)
    q_by_id = {q.id: q for q in questions}
    for p in pairs:
        q = q_by_id[p.question_id]
        assert p.instruction == q.question and p.response.startswith("Answer")
        assert p.field == "Natural sciences" and p.sub_field and p.subject and p.level
        assert p.difficulty in ("basic", "challenging") and p.sessions and p.concepts
        assert p.question_sampling["temperature"] == 1.0 and p.answer_sampling["temperature"] == 0.7
        assert p.question_model == p.answer_model == small_config.llm.model
    # every call made once: requests == calls, nothing cached on a first run
    assert report["answers"]["calls"] == len(pairs) and report["answers"]["cache_hits"] == 0
    # the prompt carries the whole syllabus and the "learned up to" sentence
    q_call = next(c for c in fake.calls if c.schema_name == "question")
    assert "Class sessions:" in q_call.messages[0]["content"]
    assert "has learned up to class session" in q_call.messages[1]["content"]
    manifest = orjson.loads((rd / "manifest.json").read_bytes())
    assert manifest["steps"]["syllabi"]["records"] == len(syllabi)


def test_rerun_makes_no_call_and_same_output(small_config: RunConfig) -> None:
    run(small_config, FakeBackend())
    first = outputs(small_config.run_dir)
    fake = FakeBackend()
    run(small_config, fake)
    assert fake.calls == []
    assert outputs(small_config.run_dir) == first


@pytest.mark.parametrize("break_after", [1, 7, 20, 41])
def test_interrupted_run_resumes_to_the_same_result(
    small_config: RunConfig, tmp_path: Path, break_after: int
) -> None:
    ref_cfg = small_config.model_copy(update={"run_dir": tmp_path / "ref"})
    ref = FakeBackend()
    run(ref_cfg, ref)
    first = FakeBackend(break_after=break_after)
    with pytest.raises(Killed):
        run(small_config, first)
    assert not step_done(small_config.run_dir, "answers")
    second = FakeBackend()
    run(small_config, second)
    assert outputs(small_config.run_dir) == outputs(ref_cfg.run_dir)
    # no finished call repeated: the calls of both runs add up to the uninterrupted run's
    done_keys = {c.key() for c in first.calls}
    assert not done_keys & {c.key() for c in second.calls}
    assert len(first.calls) + len(second.calls) == len(ref.calls)


def test_new_discipline_generates_only_its_own_data(small_config: RunConfig) -> None:
    one = small_config.model_copy(update={"disciplines": ["Physics"]})
    run(one, FakeBackend())
    fake = FakeBackend()
    run(small_config, fake)
    assert fake.calls
    for call in fake.calls:
        text = " ".join(m["content"] for m in call.messages)
        assert "Physics" not in text or "Chemistry" in text
    pairs = step_records(small_config.run_dir, "answers", InstructionPair)
    assert {p.discipline for p in pairs} == {"Physics", "Chemistry"}


def test_json_mode_and_two_call_mode(small_config: RunConfig) -> None:
    fake = FakeBackend()
    run(small_config, fake, ("disciplines", "subjects"))
    drafts = [c for c in fake.calls if c.response_schema is None]
    converts = [c for c in fake.calls if c.schema_name == "subjects"]
    assert len(drafts) == len(converts) == 2 * 2  # 2 disciplines x 2 samples
    assert all(c.temperature == 1.0 and c.top_p == 0.95 for c in drafts)
    assert len({c.seed for c in drafts}) == 4  # every sample its own seed
    cfg = small_config.model_copy(
        update={"subjects": small_config.subjects.model_copy(update={"mode": "json"})}
    )
    fake = FakeBackend()
    run(cfg, fake, ("disciplines", "subjects"))
    assert len(fake.calls) == 4 and all(c.schema_name == "subjects" for c in fake.calls)
    subjects = step_records(cfg.run_dir, "subjects", Subject)
    names = [(s.discipline, s.subject.casefold()) for s in subjects]
    assert len(names) == len(set(names))  # merged per discipline


def test_bad_responses_become_failures_and_the_run_goes_on(small_config: RunConfig) -> None:
    fake = FakeBackend(garbage=True)
    report = run(small_config, fake, ("disciplines", "subjects"))
    assert report["subject_samples"]["failures"] == 4
    # each failure: first ask + max_reasks re-asks, each carrying the validation error
    assert report["subject_samples"]["requests"] == 4 * (1 + small_config.max_reasks)
    converts = [c for c in fake.calls if c.schema_name == "subjects"]
    assert any("could not be used" in c.messages[-1]["content"] for c in converts)
    failures = step_failures(small_config.run_dir, "subject_samples")
    assert len(failures) == 4 and all(f.raw == "this reply is not JSON at all, sorry" for f in failures)


def test_transient_errors_are_retried(small_config: RunConfig) -> None:
    fake = FakeBackend(fail_first=3)
    report = run(small_config, fake, ("disciplines", "subjects"))
    assert report["subject_drafts"]["retries"] == 3
    assert report["subject_drafts"]["failures"] == 0


def test_generated_taxonomy_feeds_the_run(small_config: RunConfig) -> None:
    cfg = small_config.model_copy(update={"taxonomy": "generate", "disciplines": None})
    fake = FakeBackend()
    run(cfg, fake, ("disciplines",))
    levels = [c for c in fake.calls if c.schema_name == "names"]
    assert len(levels) == 1 + 2 + 4  # root -> 2 fields -> 2 sub-fields each
    text = (cfg.run_dir / "taxonomy.yaml").read_text()
    from glan.taxonomy import parse_taxonomy

    assert len(parse_taxonomy(text, "taxonomy.yaml").disciplines()) > 0


class EmptyAnswers(FakeBackend):
    """Every step answers well except the answers step, whose replies are all empty."""

    async def chat(self, request):
        resp = await super().chat(request)
        return resp.model_copy(update={"text": ""}) if resp.text.startswith("Answer ") else resp


def test_no_pairs_skips_clean_and_the_run_is_incomplete(small_config: RunConfig) -> None:
    from glan.recipes.glan import GLAN
    from glan.steps import incomplete
    from glan.store import RunDir

    small_config.post = {"decontam": {"enabled": False}}
    report = run(small_config, EmptyAnswers())
    assert report["answers"]["records"] == 0 and report["answers"]["failures"] > 0
    assert "clean" not in report or "clean" not in report["clean"]  # not cleaned: nothing to clean
    assert not (small_config.run_dir / "clean").exists()
    summary = incomplete(report, RunDir(small_config.run_dir).stage, GLAN)
    assert summary is not None and summary.startswith("incomplete: answers: ")


def test_a_pair_carries_its_method_recipe_and_steps_with_unchanged_ids(small_config: RunConfig) -> None:
    """The generic lineage is added to a pair without touching its id or its request key."""
    from glan.config import AnswersConfig
    from glan.llm.base import ChatResponse
    from glan.stages.answers import AnswerStage

    q = Question(
        id="q1", field="Natural sciences", sub_field="Physical sciences", discipline="Physics",
        syllabus_id="s1", subject="Mechanics", level="undergraduate", index=0, difficulty="basic",
        sessions=[1], concepts=["force"], question="What is a force?", model="m", sampling={},
    )  # fmt: skip
    from glan.recipes import get_recipe

    stage = AnswerStage(AnswersConfig(), "m", 0)
    stage.lineage_steps = get_recipe("glan").lineage(small_config, "answers")  # as the recipe does
    (job,) = stage.jobs(q)
    (pair,) = stage.parse(job, ChatResponse(text="A push or a pull.", finish_reason="stop"))
    assert (pair.method, pair.recipe) == ("glan", "glan")
    assert pair.steps == ["disciplines", "subjects", "syllabi", "questions", "answers"]
    assert pair.id == "91e25aeda0e77e63"  # as before the lineage fields, and the same request:
    assert job.request.key() == "f4e77ce93cbd0df0840e70b3b0a99066964e85bbdf4b6fcd182a826886df4ee9"
    line = orjson.loads(orjson.dumps(pair.model_dump(mode="json")))
    assert "messages" not in line and list(line)[-3:] == ["method", "recipe", "steps"]
    assert InstructionPair.model_validate(line) == pair


def test_a_run_s_pairs_carry_the_lineage_the_recipe_declares(small_config: RunConfig) -> None:
    run(small_config, FakeBackend())
    pairs = step_records(small_config.run_dir, "answers", InstructionPair)
    steps = ["disciplines", "subjects", "syllabi", "questions", "answers"]
    assert pairs and all(p.steps == steps for p in pairs)


def test_a_changed_reduce_setting_makes_the_merge_again(small_config: RunConfig) -> None:
    run(small_config, FakeBackend())
    before = step_records(small_config.run_dir, "subjects", Subject)
    fewer = small_config.model_copy(
        update={"subjects": small_config.subjects.model_copy(update={"max_per_discipline": 1})}
    )
    fake = FakeBackend()
    run(fewer, fake)
    after = step_records(small_config.run_dir, "subjects", Subject)
    assert len(after) == 2 < len(before)  # one subject per discipline now
    assert all(c.schema_name != "subjects" for c in fake.calls)  # the samples came from the cache


def test_a_new_stage_version_makes_its_shards_again(
    small_config: RunConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glan.stages.syllabus import SyllabusStage

    run(small_config, FakeBackend())
    assert run(small_config, FakeBackend())["syllabi"]["skipped_shards"] == 2  # unchanged: skipped
    monkeypatch.setattr(SyllabusStage, "version", 2)
    report = run(small_config, FakeBackend())
    assert report["syllabi"]["skipped_shards"] == 0 and report["syllabi"]["cache_hits"] > 0


def test_a_rerun_rewrites_no_unchanged_discipline_shard(small_config: RunConfig) -> None:
    run(small_config, FakeBackend())
    shards = sorted((small_config.run_dir / "disciplines").glob("*.jsonl"))
    stamps = [p.stat().st_mtime_ns for p in shards]
    run(small_config, FakeBackend())
    assert [p.stat().st_mtime_ns for p in shards] == stamps  # left as they were: no write, no fsync
