"""benchmarks/bench_verify.py runs end to end, with any OpenAI-compatible judge (a fake server
here; the embedded model is the benchmark's default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_verify import main
from tests.http_fakes import FakeOpenAIServer


def test_bench_verify_takes_an_openai_compatible_judge(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with FakeOpenAIServer() as server:
        main(["--n", "9", "--samples", "3", "--keep", str(tmp_path), "--base-url", server.base_url,
              "--api-model", "judge", "--methods", "code,double_critic,all"])  # fmt: skip
        asked = len(server.bodies)
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if line.startswith("| ")}
    assert {"code", "double_critic", "all"} <= rows.keys()
    # the code check needs no call and rejects the made-up outputs (the wrong code items)
    assert "| 0.0 | 0 |" in rows["code"] and "0/9 (0%)" not in rows["code"].split(" | ")[2]
    assert asked > 0 and "judge judge" in out
    # a second invocation over the kept run dir asks nothing again
    with FakeOpenAIServer() as server:
        main(["--n", "9", "--samples", "3", "--keep", str(tmp_path), "--base-url", server.base_url,
              "--api-model", "judge", "--methods", "double_critic"])  # fmt: skip
        assert server.bodies == []
