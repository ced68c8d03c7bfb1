"""The Ray suite: its own venv (suites/ray/run.sh); in CI a skip is a failure, as in tests/."""

from tests.conftest import pytest_runtest_makereport  # noqa: F401

pytest_plugins = ["pytester"]


def pytest_configure(config) -> None:  # type: ignore[no-untyped-def]
    # Ray Data warns of its own deprecated settings when it reads its context: not ours to fix
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:ray.data.context")
