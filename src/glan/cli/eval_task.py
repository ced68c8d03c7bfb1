"""`glan eval-task`: the held-out split of an export as an lm-evaluation-harness task folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glan.cli.guard import guarded


@guarded
def eval_task(
    run_dir: Annotated[
        Path, typer.Argument(help="A run dir (its clean/ export) or a `glan export` output directory.")
    ],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Task folder to write (default: EXPORT/lm_eval).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="lm-eval task name (default: glan_test_<run name>).")
    ] = None,
    max_gen_toks: Annotated[
        int, typer.Option("--max-gen-toks", min=1, help="Most new tokens per answer.")
    ] = 1024,
) -> None:
    """Write the held-out split (post.split) as a generative lm-evaluation-harness task: the
    questions, the reference answers, a scorer (ROUGE-L, final-answer match) and a README with
    the `lm_eval` command. `glan export` writes one as EXPORT/lm_eval whenever it holds out a
    split; this makes one from an earlier export, or with another name, place or length."""
    from glan.post.eval_task import build_task

    rep = build_task(run_dir, out, name, max_gen_toks)
    typer.echo(
        f"lm-eval task {rep['task']}: {rep['items']:,} items ({rep['final_answer_items']:,} with a "
        f"short final answer) in {rep['folder']}"
    )
    typer.echo(f"run: lm_eval --model hf --model_args pretrained=MODEL --tasks {rep['task']} ", nl=False)
    typer.echo(f"--include_path {rep['folder']} --apply_chat_template")
