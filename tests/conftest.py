from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from glan.config import RunConfig, load_config

pytest_plugins = ["pytester"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """In CI (CI=true) a skipped test is a failure: a model pack, data package or component
    that is missing there (or fails its sha256) must turn CI red, not pass unnoticed."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every component is required: {reason}"


@pytest.fixture
def small_config(tmp_path: Path) -> RunConfig:
    """Two disciplines, small counts: the whole pipeline in well under a second on a fake."""
    return load_config(
        None,
        [
            f"run_dir={tmp_path / 'run'}",
            "disciplines=[Physics, Chemistry]",
            "subjects.samples=2",
            "syllabi.min_sessions=3",
            "syllabi.max_sessions=6",
            "questions.per_syllabus=4",
        ],
    )
