import typer

import glan.post
from glan.cli.clean import register
from glan.post.config import PostConfig


def test_public_names():
    assert glan.post.__all__ == [
        "PostConfig",
        "clean",
        "clean_and_export",
        "export",
        "post_config",
        "preflight",
    ]


def test_config_defaults_and_strictness():
    cfg = PostConfig()
    assert cfg.dedup.rouge_l_threshold == 0.7 and cfg.decontam.ngram == 13
    assert cfg.decontam.builtin == ["humaneval", "mmlu"]
    dumped = cfg.model_dump(mode="json")
    assert PostConfig.model_validate(dumped) == cfg
    try:
        PostConfig.model_validate({"dedup": {"num_perm": 50}})
    except ValueError as exc:
        assert "must not exceed num_perm" in str(exc)
    else:
        raise AssertionError("num_perm not divisible by bands must fail")


def test_register_adds_two_commands():
    app = typer.Typer()
    register(app)
    assert sorted(c.name for c in app.registered_commands) == ["clean", "export"]
