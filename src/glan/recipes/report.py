"""The post step after clean: RUN/report/report.html and report.json (only with a `report:`
section); skipped when made from the same pairs, clean and settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glan.recipes.base import Step
from glan.recipes.quality import Input
from glan.shards import PostMarker, StepFolder, fingerprint

if TYPE_CHECKING:
    from glan.session import Session


def report_step(source: Input) -> Step:
    async def report(session: Session) -> None:
        from glan.report.collect import collect, write_report

        cfg, run = session.cfg, session.run
        assert cfg.report is not None
        index = StepFolder(run.stage(step.input_of(cfg) or "")).require()
        if index["records"] == 0:
            return
        clean = PostMarker(run, "clean")._read() if cfg.post is not None else None
        fp = fingerprint(index["digest"], clean, cfg.report.model_dump(mode="json"))
        made_from = PostMarker(run, "report")
        if made_from.matches(fp):
            session.report["report"] = {"skipped": True}
            return
        made_from.clear()
        data = collect([run.root], sample=cfg.report.sample, seed=cfg.seed,
                       embeddings="minilm" if cfg.report.embeddings else None, config=cfg)  # fmt: skip
        folder = run.stage("report")
        folder.mkdir(parents=True, exist_ok=True)
        html, _ = write_report(data, folder / "report.html")
        for note in data["notes"]:
            session.events.note(note)
        session.report["report"] = {"html": str(html)}
        made_from.write(fp, index["digest"])

    step = Step("report", "post", None, input=source, apply=report, when=lambda cfg: cfg.report is not None)
    return step
