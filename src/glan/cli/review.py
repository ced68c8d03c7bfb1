"""`glan review`: the taxonomy review in the browser (glan.review)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glan.cli.guard import guard, say
from glan.cli.options import ConfigOpt, RunDirOpt, SetOpt, run_config

LOCAL = "127.0.0.1"
TOKEN_HELP = "The URL's access token (default: a random one)."


def review(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    host: Annotated[str, typer.Option(help="Address to serve on (127.0.0.1: this machine only).")] = LOCAL,
    port: Annotated[int, typer.Option(help="Port (0: a free one).", min=0, max=65535)] = 0,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a --host other than this machine.")
    ] = False,
    token: Annotated[str | None, typer.Option(help=TOKEN_HELP, envvar="GLAN_REVIEW_TOKEN")] = None,
) -> None:
    """Review the taxonomy in the browser: keep / remove votes per reviewer, notes, rename, add
    and move nodes, LLM suggestions, a decision rule; writes RUN/review/taxonomy.yaml and a log
    of every action, and generates data for the new nodes alone."""
    from glan.review.app import ReviewApp
    from glan.review.server import ReviewServer

    def go() -> None:
        cfg = run_config(config, set_, run_dir)
        args = [*(["-c", str(config)] if config else []), *(x for s in set_ or [] for x in ("--set", s))]
        if run_dir is not None:
            args += ["--run-dir", str(run_dir)]
        app = ReviewApp(cfg, args)
        try:
            server = ReviewServer(app, host, port, allow_remote=allow_remote, token=token)
        except BaseException:
            app.close()
            raise
        say(f"reviewing {Path(cfg.run_dir)}: open {server.url}", "green")
        say(f"the reviewed taxonomy is {app.store.taxonomy}, every action in {app.store.log}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            stopped = ", the generation stopped" if app.job.running else ""
            say(f"stopped: every action is in the log{stopped}")
        finally:
            server.server_close()
            app.close()

    guard(go)
