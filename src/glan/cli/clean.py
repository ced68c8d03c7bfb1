"""`glan clean` and `glan export`: thin typer commands over glan.post.pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from glan.cli.guard import err, guarded
from glan.cli.progress import RichEvents
from glan.errors import ConfigError, Incomplete
from glan.post.config import load_post_config
from glan.post.pipeline import CLEAN_FILE, REMOVED_FILE, clean, clean_and_export, export

_Fld = typer.Option


def _bench_files(specs: list[str] | None) -> list[dict[str, Any]] | None:
    if not specs:
        return None
    out = []
    for spec in specs:
        path, sep, fields = spec.rpartition(":")
        if not sep or not path or not fields:
            raise ConfigError(f"--benchmark-file {spec!r}: expected PATH:FIELD[,FIELD...]")
        out.append({"path": path, "fields": [f for f in fields.split(",") if f]})
    return out


def _field_overrides(
    instruction: str | None, response: str | None, input_: str | None, id_: str | None
) -> dict[str, tuple[str, Any]]:
    return {
        "fields.instruction": ("--instruction-field", instruction),
        "fields.response": ("--response-field", response),
        "fields.input": ("--input-field", input_),
        "fields.id": ("--id-field", id_),
    }


def _events() -> RichEvents:
    """Warnings and notes on stderr, in colour."""
    return RichEvents(err, show_progress=False)


def _print_clean(rep: dict[str, Any]) -> None:
    typer.echo(f"read {rep['read']:,}  kept {rep['kept']:,}  removed {rep['removed_total']:,}")
    for step, reasons in rep["removed"].items():
        for reason, n in reasons.items():
            typer.echo(f"  {step:<12} {reason:<22} {n:,}")


Config = Annotated[
    Path | None,
    _Fld("--config", "-c", help="YAML/JSON with the post settings (or a run config with a `post:` key)."),
]
Out = Annotated[Path, _Fld("--out", "-o", help="Output directory.")]
InstrF = Annotated[
    str | None, _Fld("--instruction-field", help="Field holding the instruction (default: instruction).")
]
RespF = Annotated[
    str | None, _Fld("--response-field", help="Field holding the response (default: response).")
]
InputF = Annotated[str | None, _Fld("--input-field", help="Alpaca-style extra input field (default: input).")]
IdF = Annotated[
    str | None,
    _Fld("--id-field", help="Field holding a pair id (default: id); rows without one get a derived id."),
]


def clean_cmd(
    pairs: Annotated[
        Path, typer.Argument(help="Pairs: a JSONL(.gz), CSV or Parquet file, or a run's answers/ folder.")
    ],
    out: Out,
    config: Config = None,
    instruction_field: InstrF = None,
    response_field: RespF = None,
    input_field: InputF = None,
    id_field: IdF = None,
    near_dup: Annotated[
        bool | None, _Fld("--near-dup/--no-near-dup", help="MinHash + ROUGE-L near-duplicate removal.")
    ] = None,
    threshold: Annotated[
        float | None,
        _Fld("--rouge-l", help="ROUGE-L F at or above which a pair is a near duplicate (default: 0.7)."),
    ] = None,
    decontam: Annotated[
        bool | None, _Fld("--decontam/--no-decontam", help="Benchmark decontamination.")
    ] = None,
    ngram: Annotated[
        int | None, _Fld("--ngram", help="n-gram size for decontamination (default: 13).")
    ] = None,
    benchmark: Annotated[
        list[str] | None,
        _Fld("--benchmark", help="Built-in benchmark (humaneval, mmlu); repeat; replaces the default list."),
    ] = None,
    benchmark_file: Annotated[
        list[str] | None,
        _Fld("--benchmark-file", help="Your test set as PATH:FIELD[,FIELD] (JSONL, Parquet or CSV); repeat."),
    ] = None,
    dedup_on: Annotated[
        str | None,
        _Fld(
            "--dedup-on",
            help="What exact and near dedup compare: instruction (default) or instruction+response "
            "(for pairs whose instructions share a template).",
        ),
    ] = None,
    and_export: Annotated[
        bool, _Fld("--export", help="Also export (formats, card) into the same directory.")
    ] = False,
) -> None:
    """Filter, deduplicate and decontaminate pairs: writes clean.jsonl, removed.jsonl (with
    the reason and what each removed pair matched) and report.json."""
    cfg = load_post_config(
        config,
        {
            **_field_overrides(instruction_field, response_field, input_field, id_field),
            "dedup.near": ("--near-dup", near_dup),
            "dedup.rouge_l_threshold": ("--rouge-l", threshold),
            "dedup.exact_on": ("--dedup-on", dedup_on),
            "dedup.near_on": ("--dedup-on", dedup_on),
            "decontam.enabled": ("--decontam", decontam),
            "decontam.ngram": ("--ngram", ngram),
            "decontam.builtin": ("--benchmark", benchmark),
            "decontam.files": ("--benchmark-file", _bench_files(benchmark_file)),
        },
    )
    if and_export:
        rep = clean_and_export(pairs, out, cfg, _events())
        cleaned = rep["clean"]
        _print_clean(cleaned)
        typer.echo(f"exported {rep['export']['exported']:,} pairs to {out}")
    else:
        cleaned = clean(pairs, out, cfg, _events())
        _print_clean(cleaned)
        typer.echo(f"clean pairs: {out / CLEAN_FILE}")
    if cleaned["read"] and not cleaned["kept"]:  # written, but no usable data: not a success
        removed = out / REMOVED_FILE
        raise Incomplete(f"clean: all {cleaned['read']:,} pairs were removed (reasons in {removed})")


def export_cmd(
    pairs: Annotated[Path, typer.Argument(help="Pairs to export (e.g. clean.jsonl from `glan clean`).")],
    out: Out,
    config: Config = None,
    instruction_field: InstrF = None,
    response_field: RespF = None,
    input_field: InputF = None,
    id_field: IdF = None,
    fmt: Annotated[
        list[str] | None, _Fld("--format", "-f", help="messages, sharegpt, alpaca; repeat (default: all).")
    ] = None,
    file_type: Annotated[
        list[str] | None, _Fld("--file-type", help="jsonl, parquet; repeat (default: both).")
    ] = None,
    split: Annotated[
        str | None, _Fld("--split", help="none | subject (hold out whole subjects) | discipline.")
    ] = None,
    test_share: Annotated[float | None, _Fld("--test-share", help="Share held out (default: 0.05).")] = None,
    test_per_discipline: Annotated[
        int | None, _Fld("--test-per-discipline", help="Fixed test count per discipline (GLAN-Test: 50).")
    ] = None,
    system_prompt: Annotated[
        str | None, _Fld("--system-prompt", help="System message added to every conversation.")
    ] = None,
    hf: Annotated[
        str | None, _Fld("--hf", help="Save a `datasets` dataset: auto | yes | no (default: auto).")
    ] = None,
    name: Annotated[str | None, _Fld("--name", help="Dataset name for the card.")] = None,
) -> None:
    """Write trainer formats (JSONL/Parquet: messages, ShareGPT, Alpaca), an optional
    train/test split, a `datasets` dataset on disk and a dataset card (README.md)."""
    cfg = load_post_config(
        config,
        {
            **_field_overrides(instruction_field, response_field, input_field, id_field),
            "export.formats": ("--format", fmt),
            "export.file_types": ("--file-type", file_type),
            "export.system_prompt": ("--system-prompt", system_prompt),
            "export.hf_dataset": ("--hf", hf),
            "export.dataset_name": ("--name", name),
            "split.mode": ("--split", split or ("discipline" if test_per_discipline else None)),
            "split.test_share": ("--test-share", test_share),
            "split.test_per_discipline": ("--test-per-discipline", test_per_discipline),
        },
    )
    rep = export(pairs, out, cfg, events=_events())
    typer.echo(f"exported {rep['exported']:,} pairs to {out} ({', '.join(cfg.export.formats)})")
    for split_name, n in sorted(rep["stats"]["splits"].items()):
        typer.echo(f"  {split_name:<6} {n:,}")


def register(app: typer.Typer) -> None:
    """Add `clean` and `export` to the glan CLI."""
    app.command("clean")(guarded(clean_cmd))
    app.command("export")(guarded(export_cmd))
