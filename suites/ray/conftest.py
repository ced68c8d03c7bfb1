"""The Ray suite: its own venv (suites/ray/run.sh); in CI a skip is a failure, as in tests/."""

from tests.conftest import pytest_runtest_makereport  # noqa: F401

pytest_plugins = ["pytester"]
