"""In CI a skip (a missing model, package or data) is a failure; on a laptop it stays a skip."""

import pytest

SKIPPING = """
import pytest

@pytest.fixture
def model():
    pytest.skip("model pack not installed")

def test_needs_model(model):
    pass

def test_needs_package():
    pytest.importorskip("glan_no_such_package")
"""


@pytest.mark.parametrize("ci", ["true", ""])
def test_skips_fail_in_ci(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(SKIPPING)
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    if ci:  # a fixture's skip is reported as an error of its setup, a test's as a failure
        result.assert_outcomes(failed=1, errors=1)
        result.stdout.fnmatch_lines(["*skipped in CI*model pack not installed*"])
    else:
        result.assert_outcomes(skipped=2)
