from __future__ import annotations

from pathlib import Path

import pytest

from glan.config import RunConfig, load_config


@pytest.fixture
def small_config(tmp_path: Path) -> RunConfig:
    """Two disciplines, small counts: the whole pipeline in well under a second on a fake."""
    return load_config(
        None,
        [
            f"run_dir={tmp_path / 'run'}",
            "disciplines=[Physics, Chemistry]",
            "subjects.samples=2",
            "syllabus.min_sessions=3",
            "syllabus.max_sessions=6",
            "questions.per_syllabus=4",
        ],
    )
