"""The code check: Python and output blocks found in answers, their output compared, and the
`executed` step's records for each outcome. Programs run in the real sandbox (no LLM)."""

from __future__ import annotations

import pytest

from glan.config import RunConfig, load_config
from glan.errors import ConfigError
from glan.quality_config import CodeCheckConfig
from glan.records import Dropped, InstructionPair, Turn
from glan.verify import execute
from glan.verify.code_blocks import check_code, compare, fenced_blocks, program_blocks, same_line
from glan.verify.execute import check_sandbox, executed
from glan.verify.sandbox import sandbox_problem

CFG = CodeCheckConfig(timeout_s=5, cpu_s=2, memory_mb=256, processes=8)

AREA = """Here is a function:

```python
import math

def area(r):
    return math.pi * r ** 2
```

Call it:

```python
print(area(1))
print(2.0)
```

Output:
```
SHOWN
```
That is all."""


@pytest.fixture
def sandbox() -> None:
    problem = sandbox_problem()
    if problem:  # a failure in CI (tests/conftest.py)
        pytest.skip(problem)


def roles(text: str) -> tuple[list[str], list[str]]:
    """The bodies of the blocks that run and of the shown output blocks."""
    blocks = fenced_blocks(text)
    run, shown = program_blocks(text, blocks)
    return [blocks[k].body for k in run], [blocks[k].body for k, _ in shown]


# -- finding blocks ---------------------------------------------------------------------------


def test_fences() -> None:
    text = "a\n~~~python\nx = 1\n~~~\n````py title\n```\ninner\n````\n  ```\n  indented\n  ```\n```\nopen"
    blocks = fenced_blocks(text)
    assert [(b.info, b.body) for b in blocks] == [
        ("python", "x = 1\n"),
        ("py", "```\ninner\n"),  # a longer fence holds a shorter one
        ("", "indented\n"),
        ("", "open"),  # an unclosed block runs to the end
    ]
    assert fenced_blocks("use ```python code``` inline") == []


@pytest.mark.parametrize(
    "lead_in, info",
    [
        ("Output:", ""),
        ("This prints:", ""),
        ("When you run this code, the output will be:", "text"),
        ("", "output"),
        ("", ""),
        ("Result:\n", "plaintext"),
        ("", "stdout"),
    ],
)
def test_output_block_variants(lead_in: str, info: str) -> None:
    text = f"```python\nprint(1 + 1)\n```\n{lead_in}\n```{info}\n2\n```\n"
    assert roles(text) == (["print(1 + 1)\n"], ["2\n"])


def test_not_output_blocks() -> None:
    far = "```python\nprint(2)\n```\nSome prose.\nMore prose.\nAnd more.\n```\n2\n```\n"
    assert roles(far) == (["print(2)\n"], [])  # too much prose between: not its output
    bash = "```python\nprint(2)\n```\n```bash\npython main.py\n```\n"
    assert roles(bash) == (["print(2)\n"], [])
    alone = "The answer:\n```\n42\n```\n"
    assert roles(alone) == ([], [])


def test_untagged_code_runs() -> None:
    text = "```python\ndef f(x):\n    return x * 2\n```\nNow call it:\n```\nprint(f(2))\n```\n```\n4\n```\n"
    assert roles(text) == (["def f(x):\n    return x * 2\n", "print(f(2))\n"], ["4\n"])
    # a lead-in that speaks of output makes an untagged block output even when it parses
    assert roles("```python\nprint('x = 1')\n```\nIt prints:\n```\nx = 1\n```\n")[1] == ["x = 1\n"]


def test_interactive_sessions_are_skipped() -> None:
    text = "```python\n>>> 1 + 1\n2\n```\n```\n2\n```\n"
    assert roles(text) == ([], [])


# -- comparing --------------------------------------------------------------------------------


def test_number_tolerance() -> None:
    assert same_line("2", "2.0")
    assert same_line("x = 0.30000000000000004", "x = 0.3")
    assert same_line("1000000", "1000000.5")  # within 1e-6 relative
    # relative 1e-6: |3.14159 - pi| / pi is 8.4e-7, inside; 3.1415 (2.9e-5) and 3.14 are not
    assert same_line("3.14159", "3.141592653589793")
    assert not same_line("3.1415", "3.141592653589793")
    assert not same_line("3.14", "3.141592653589793")
    assert not same_line("a 1", "b 1")


def test_whitespace_and_blank_lines() -> None:
    assert compare("a  b \n\n c\n", "a b\nc") is None
    assert compare("<Foo object at 0x7f3a2b1c9d00>", "<Foo object at 0x7f0000000001>") is None
    assert compare("1\n2", "1\n3") == "line 2: shown '2', printed '3'"
    assert compare("1", "1\n2") == "shown 1 lines, printed 2"


# -- checking answers -------------------------------------------------------------------------


def test_passed(sandbox: None) -> None:
    check = check_code(AREA.replace("SHOWN", "3.141592653589793\n2"), CFG)
    assert check.status == "passed", check.detail
    assert check.stdout == "3.141592653589793\n2.0\n"


def test_mismatch_and_repaired_text(sandbox: None) -> None:
    check = check_code(AREA.replace("SHOWN", "3.14\n2"), CFG)
    assert check.status == "mismatch"
    assert check.detail == "output block 1 of 1: line 1: shown '3.14', printed '3.141592653589793'"
    assert check.shown == "3.14\n2\n"
    assert check.repaired == AREA.replace("SHOWN", "3.141592653589793\n2.0")


def test_each_output_block_against_its_own_blocks(sandbox: None) -> None:
    text = (
        "```python\nprint('a')\n```\nOutput:\n```\na\n```\n"
        "```python\nprint('b')\n```\nOutput:\n```output\nB\n```\n"
        "```python\nprint('c')\n```\n"  # no output shown for this one
    )
    check = check_code(text, CFG)
    assert check.status == "mismatch" and check.detail.startswith("output block 2 of 2: line 1")
    assert check.stdout == "a\nb\nc\n"
    assert check.repaired == text.replace("B\n", "b\n")


def test_console_block_keeps_its_command(sandbox: None) -> None:
    text = "```python\nprint('hi')\n```\n```console\n$ python main.py\nhello\n```\n"
    check = check_code(text, CFG)
    assert check.status == "mismatch"
    assert check.repaired == text.replace("hello", "hi")


def test_no_python_block() -> None:
    check = check_code("Just prose.\n```bash\nls\n```\n", CFG)
    assert (check.status, check.shown, check.repaired) == ("none", None, None)


def test_input_without_stdin_fails(sandbox: None) -> None:
    check = check_code("```python\nname = input('Name: ')\nprint(name)\n```\n", CFG)
    assert check.status == "failed" and "EOFError" in check.detail
    assert "EOFError" in check.stderr


def test_failures(sandbox: None) -> None:
    error = check_code("```python\nprint(1 / 0)\n```\n", CFG)
    assert error.status == "failed"
    assert error.detail == "exit code 1: ZeroDivisionError: division by zero"
    syntax = check_code("```python\nprint(1\n```\n", CFG)
    assert syntax.status == "failed" and "SyntaxError" in syntax.detail
    slow = check_code(
        "```python\nimport time\ntime.sleep(30)\n```\n", CFG.model_copy(update={"timeout_s": 1})
    )
    assert (slow.status, slow.detail) == ("failed", "timed out after 1 s")


def test_missing_module_is_not_checked(sandbox: None) -> None:
    check = check_code("```python\nimport glan_no_such_module\n```\n", CFG)
    assert check.status == "none" and "glan_no_such_module" in check.detail


def test_early_exit_prints_nothing_more(sandbox: None) -> None:
    text = (
        "```python\nimport sys\nprint(1)\nsys.exit(0)\n```\n```python\nprint(2)\n```\nOutput:\n```\n2\n```\n"
    )
    check = check_code(text, CFG)
    assert check.status == "mismatch" and check.stdout == "1\n"


# -- the executed step ------------------------------------------------------------------------


def config(*overrides: str) -> RunConfig:
    return load_config(None, ["verify.methods=[code]", *overrides])


def pair(n: int, response: str, meta: dict | None = None) -> InstructionPair:
    return InstructionPair(id=f"p{n}", instruction=f"task {n}", response=response, meta=meta)


PASSES = AREA.replace("SHOWN", "3.141592653589793\n2")
MISMATCH = AREA.replace("SHOWN", "3.14\n2")
FAILS = "```python\nraise ValueError('bad')\n```\n"


def test_step_keeps_order_and_merges_meta(sandbox: None) -> None:
    pairs = [pair(0, "No code."), pair(1, PASSES, {"round": 3}), pair(2, "```python\nprint(7)\n```\n")]
    out = list(executed(config("verify.code.workers=2"), pairs))
    assert [r.id for r in out] == ["p0", "p1", "p2"]
    assert out[0] == pairs[0]  # nothing to run: unchanged
    assert out[1].meta == {
        "round": 3,
        "verify": {"method": "code", "passed": True, "detail": out[1].meta["verify"]["detail"]},
    }
    assert out[2].meta["verify"]["passed"] is True


def test_step_failed_drop_and_flag(sandbox: None) -> None:
    [dropped] = executed(config(), [pair(0, FAILS)])
    assert isinstance(dropped, Dropped)
    assert (dropped.reason, dropped.stage, dropped.input_id, dropped.text) == (
        "code_failed",
        "executed",
        "p0",
        FAILS,
    )
    assert (
        dropped.detail["detail"] == "exit code 1: ValueError: bad"
        and "ValueError" in dropped.detail["stderr"]
    )
    [flagged] = executed(config("verify.on_fail=flag"), [pair(0, FAILS, {"x": 1})])
    assert isinstance(flagged, InstructionPair) and flagged.response == FAILS
    assert flagged.meta["x"] == 1
    assert flagged.meta["verify"]["passed"] is False and flagged.meta["verify"]["reason"] == "code_failed"


def test_step_mismatch_branches(sandbox: None) -> None:
    [dropped] = executed(config(), [pair(0, MISMATCH)])
    assert isinstance(dropped, Dropped) and dropped.reason == "output_mismatch"
    assert dropped.detail["shown"] == "3.14\n2\n" and dropped.detail["stdout"] == "3.141592653589793\n2.0\n"
    [repaired] = executed(config("verify.code.on_mismatch=repair"), [pair(0, MISMATCH)])
    assert repaired.response == AREA.replace("SHOWN", "3.141592653589793\n2.0")
    verdict = repaired.meta["verify"]
    assert (verdict["passed"], verdict["repaired"], verdict["shown"]) == (True, True, "3.14\n2\n")
    [flagged] = executed(config("verify.code.on_mismatch=flag"), [pair(0, MISMATCH)])
    assert flagged.response == MISMATCH
    assert (flagged.meta["verify"]["passed"], flagged.meta["verify"]["reason"]) == (False, "output_mismatch")


def test_repair_updates_a_conversations_last_turn(sandbox: None) -> None:
    messages = [Turn(role="user", content="task"), Turn(role="assistant", content=MISMATCH)]
    convo = pair(0, MISMATCH).model_copy(update={"messages": messages})
    [repaired] = executed(config("verify.code.on_mismatch=repair"), [convo])
    assert repaired.messages[-1].content == repaired.response != MISMATCH
    assert repaired.messages[0] == messages[0]


def test_check_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        execute, "sandbox_problem", lambda python: "verify.methods has 'code' but bwrap is gone"
    )
    with pytest.raises(ConfigError, match="bwrap is gone"):
        check_sandbox(config())
    check_sandbox(load_config(None, []))  # no code check: nothing to check
