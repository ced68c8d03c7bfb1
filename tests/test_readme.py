"""README.md opens with the two commands; CI runs the test one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_opens_with_the_demo_and_the_test_command() -> None:
    demo, tests = commands()[:2]
    assert "glan run -c examples/demo.yaml" in demo and "model-1-5b" in demo
    assert "pytest" in tests
    assert (ROOT / "examples" / "demo.yaml").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    assert commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()
