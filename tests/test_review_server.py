"""`glan review`'s server over HTTP: its guards (token, CSRF, origin, host, bodies, paths), two
reviewers at once, and Generate: data for the added node alone, the removed node's data
excluded from the run but kept on disk."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glan.cli import app as cli
from glan.config import load_config
from glan.errors import ConfigError
from glan.records import lineage_id
from glan.review.app import ReviewApp
from glan.review.server import ReviewServer
from glan.shards import StepFolder
from tests.http_fakes import FakeOpenAIServer
from tests.review_fixtures import Client, review_server, write_run


@pytest.fixture
def served(tmp_path: Path):
    with review_server(tmp_path) as (server, fake, config):
        yield server, fake, config, Client("127.0.0.1", server.port).login(server.url)


def test_every_request_needs_the_token(served) -> None:
    server, _, _, _ = served
    anon = Client("127.0.0.1", server.port)
    assert anon.request("GET", "/")[0] == 403
    assert anon.request("GET", "/api/state")[0] == 403
    assert anon.request("GET", "/?token=not-the-token")[0] == 403
    assert anon.request("POST", "/api/op", {"reviewer": "x", "op": "rule", "rule": "majority"})[0] == 403
    stranger = Client("127.0.0.1", server.port, cookie=f"{server.cookie}=guess")
    assert stranger.request("GET", "/api/state")[0] == 403


def test_state_changing_requests_need_csrf_json_and_this_origin(served) -> None:
    server, _, _, client = served
    body = {"reviewer": "ana", "op": "rule", "rule": "any_remove"}
    assert client.request("POST", "/api/op", body, X_CSRF_Token="")[0] == 403
    assert client.request("POST", "/api/op", body, X_CSRF_Token="wrong")[0] == 403
    assert client.request("POST", "/api/op", body, Content_Type="text/plain")[0] == 403
    status, err = client.request("POST", "/api/op", body, Origin="http://evil.example")
    assert status == 403 and "cross-origin" in err["error"]
    assert client.request("GET", "/api/state", Host="evil.example:80")[0] == 403  # DNS rebinding
    assert client.state()["rule"] == "majority" and not (server.app.store.log).exists()
    status, state = client.request("POST", "/api/op", body, Origin=f"http://127.0.0.1:{server.port}")
    assert status == 200 and state["rule"] == "any_remove"


def test_bad_requests_get_one_line_and_change_nothing(served) -> None:
    server, _, _, client = served
    physics = client.ids()["Physics"]["id"]
    cases = [
        (client.request("POST", "/api/op", b"{not json"), 400),
        (client.request("POST", "/api/op", b"[1, 2]"), 400),
        (client.request("POST", "/api/op", b"x" * (64 * 1024 + 1)), 400),
        (client.op("ana", op="vote", node="../../etc/passwd", vote="keep"), 400),
        (client.op("ana", op="vote", node=physics, vote="<script>"), 400),
        (client.op("", op="vote", node=physics, vote="keep"), 400),
        (client.op("ana", op="rename", node=physics, name="Chemistry", rev=0), 409),
        (client.request("POST", "/api/nope", {"reviewer": "ana"}), 404),
    ]
    for (status, body), expected in cases:
        assert status == expected, body
        assert (
            isinstance(body["error"], str) and "\n" not in body["error"] and "Traceback" not in body["error"]
        )
    for path in ("/../../etc/passwd", "/api/state/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                 "/review/log.jsonl", "/run.yaml", "//etc/passwd"):  # fmt: skip
        status, body = client.request("GET", path)
        assert status == 404 and "root:" not in json.dumps(body), path
    assert not server.app.store.log.exists()


def test_the_page_and_api_answers_carry_the_security_headers(served) -> None:
    _, _, _, client = served
    status, html = client.request("GET", "/")
    headers = client.last_headers
    assert status == 200 and "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer"
    assert "http://" not in html and "https://" not in html


def test_two_reviewers_at_once_and_the_rule_decides(served) -> None:
    server, _, _, ana = served
    ben = Client("127.0.0.1", server.port).login(server.url)
    chemistry = ana.ids()["Chemistry"]["id"]
    errors: list[object] = []

    def votes(client: Client, who: str) -> None:
        for i in range(15):
            status, body = client.op(who, op="vote", node=chemistry, vote=("keep", "remove")[i % 2])
            if status != 200:
                errors.append(body)
        status, body = client.op(who, op="vote", node=chemistry, vote="remove")
        if status != 200:
            errors.append(body)

    threads = [threading.Thread(target=votes, args=(c, w)) for c, w in ((ana, "ana"), (ben, "ben"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    node = ana.ids()["Chemistry"]
    assert node["votes"] == {"ana": "remove", "ben": "remove"} and node["decision"] == "remove"
    assert len(server.app.store.log.read_bytes().splitlines()) == 32
    assert "Chemistry" not in server.app.store.taxonomy.read_text()
    status, _ = ben.op("ben", op="vote", node=chemistry, vote="keep")
    assert ana.ids()["Chemistry"]["decision"] == "keep"  # a tie keeps under majority
    ana.op("ana", op="rule", rule="any_remove")
    assert ana.ids()["Chemistry"]["decision"] == "remove"
    # a rename made on a stale view of the node is refused, not applied over the other's
    rev = ana.ids()["Physics"]["rev"]
    assert ben.op("ben", op="rename", node=ana.ids()["Physics"]["id"], name="Physics I", rev=rev)[0] == 200
    status, body = ana.op("ana", op="rename", node=ana.ids()["Physics I"]["id"], name="Physics II", rev=rev)
    assert status == 409 and "changed by someone else" in body["error"] and "state" in body


def test_generate_makes_data_for_the_added_node_alone(served, tmp_path: Path) -> None:
    """Chemistry removed by majority, Astrobiology added: Generate sends exactly the calls a
    run of Astrobiology alone sends, keeps Physics, and moves Chemistry's data aside."""
    server, fake, config, client = served
    nodes = client.ids()
    client.op("ana", op="vote", node=nodes["Chemistry"]["id"], vote="remove")
    client.op("ben", op="vote", node=nodes["Chemistry"]["id"], vote="remove")
    status, state = client.op("ben", op="add", parent=nodes["Physical sciences"]["id"], name="Astrobiology")
    assert status == 200 and state["pending"]["disciplines"] == ["Astrobiology"]
    assert state["pending"]["excluding"] == ["Chemistry"] and state["pending"]["calls"] > 0
    before = len(fake.bodies)
    status, state = client.request("POST", "/api/generate", {"reviewer": "ana"})
    assert status == 200 and state["job"]["state"] in ("running", "done")
    assert (
        client.request("POST", "/api/generate", {"reviewer": "ana"})[0] == 409
    )  # one at a time, or nothing left
    job = client.wait_job()
    assert job["state"] == "done" and job["exit_code"] == 0, job
    assert [s["stage"] for s in job["stages"]][-1] == "answers" and job["stages"][-1]["done"] > 0
    sent = fake.bodies[before:]
    drafts = [b["messages"][-1]["content"] for b in sent if "education expert" in json.dumps(b)]
    assert drafts and all("Astrobiology" in d for d in drafts)
    with FakeOpenAIServer() as alone:  # the same node run on its own, from nothing
        write_run(tmp_path / "alone", alone.base_url, run=["Astrobiology"],
                  taxonomy="Science:\n  Physical sciences:\n    - Astrobiology\n")  # fmt: skip
        assert len(sent) == alone.count
    answers = StepFolder(Path(load_config(config, []).run_dir) / "answers")
    shards = {s.name for s in answers.shards()}
    assert shards == {lineage_id("discipline", d) for d in ("Physics", "Astrobiology")}
    chemistry = lineage_id("discipline", "Chemistry")
    assert (answers.excluded / f"{chemistry}.jsonl").stat().st_size > 0  # kept on disk, out of the run
    after = client.ids()
    assert after["Chemistry"]["data"]["excluded"] > 0 and after["Chemistry"]["data"]["pairs"] == 0
    assert after["Astrobiology"]["data"]["pairs"] > 0 and not after["Astrobiology"]["new"]
    assert client.state()["pending"] == {"disciplines": [], "calls": 0, "usd": None, "excluding": []}


def test_a_suggestion_proposes_names_and_changes_nothing(served) -> None:
    server, fake, _, client = served
    life = client.ids()["Life sciences"]["id"]
    status, body = client.request("POST", "/api/suggest", {"reviewer": "ana", "node": life})
    assert status == 200 and body["kind"] == "discipline" and body["names"]
    assert "Life sciences" in json.dumps(fake.bodies[-1])
    status, again = client.request("POST", "/api/suggest", {"reviewer": "ana", "node": life})
    assert again == body  # from the cache: the same names, no second call
    assert not server.app.store.log.exists()
    status, body = client.request(
        "POST", "/api/suggest", {"reviewer": "ana", "node": client.ids()["Physics"]["id"]}
    )
    assert status == 400


def test_a_second_review_of_the_same_run_dir_is_refused(served) -> None:
    server, _, config, _ = served
    with pytest.raises(ConfigError, match="open in another glan review"):
        ReviewApp(load_config(config, []), [])
    result = CliRunner().invoke(cli, ["review", "-c", str(config)])
    assert result.exit_code == 2 and "open in another glan review" in result.output
    assert f":{server.port}" in result.output  # says where it is served


def test_serving_beyond_this_machine_needs_the_flag(tmp_path: Path) -> None:
    cfg = load_config(None, [f"run_dir={tmp_path / 'run'}"])
    app = ReviewApp(cfg, [])
    try:
        with pytest.raises(ConfigError, match="--allow-remote"):
            ReviewServer(app, "0.0.0.0")
        with pytest.raises(ConfigError, match="at least 16"):
            ReviewServer(app, "0.0.0.0", allow_remote=True, token="short")
        remote = ReviewServer(app, "0.0.0.0", allow_remote=True, token="a-token-of-20-chars!")
        assert remote.url.endswith("?token=a-token-of-20-chars!")
        remote.server_close()
    finally:
        app.close()
    result = CliRunner().invoke(cli, ["review", "--set", f"run_dir={tmp_path / 'run'}", "--host", "0.0.0.0"])
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "--allow-remote" in lines[0]


def test_stop_ends_the_generation_and_a_second_one_finishes_it(served) -> None:
    server, fake, _, client = served
    physical = client.ids()["Physical sciences"]["id"]
    client.op("ana", op="add", parent=physical, name="Astrobiology")
    fake.delay = 0.5  # slow enough to stop it midway
    assert client.request("POST", "/api/generate", {"reviewer": "ana"})[0] == 200
    while not fake.bodies or "Astrobiology" not in json.dumps(fake.bodies[-1]):
        threading.Event().wait(0.1)
    status, state = client.request("POST", "/api/stop", {"reviewer": "ana"})
    assert status == 200
    job = client.wait_job()
    assert job["state"] == "stopped" and job["exit_code"] == 130, job
    assert client.state()["pending"]["disciplines"] == ["Astrobiology"]
    fake.delay = 0.0
    assert client.request("POST", "/api/generate", {"reviewer": "ben"})[0] == 200
    job = client.wait_job()
    assert job["state"] == "done" and job["by"] == "ben", job
    assert client.ids()["Astrobiology"]["data"]["pairs"] > 0


def test_a_generated_taxonomy_is_made_once_then_reviewed(tmp_path: Path) -> None:
    with FakeOpenAIServer() as fake:
        llm = f"llm={{backend: openai, base_url: '{fake.base_url}', model: fake, api_key_env: null}}"
        sets = [f"run_dir={tmp_path / 'run'}", "taxonomy=generate", llm,
                *(f"taxonomy_gen.max_{x}=2" for x in ("fields", "sub_fields", "disciplines"))]  # fmt: skip
        app = ReviewApp(load_config(None, sets), [])
        made = fake.count
        state = app.state()
        app.close()
        assert made > 0 and sum(n["kind"] == "discipline" for n in state["nodes"]) > 0
        assert (tmp_path / "run" / "review" / "base.yaml").is_file()
        again = ReviewApp(load_config(None, sets), [])  # the base is frozen: no call
        again.close()
        assert fake.count == made
