"""The post step every recipe ends with: clean and ship its pairs (only with a `post:` section)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glan.recipes.base import Step
from glan.recipes.quality import Input
from glan.shards import PostMarker, StepFolder, fingerprint

if TYPE_CHECKING:
    from glan.session import Session


def clean_step(source: Input) -> Step:
    """Dedup, decontamination, filters and export of the pairs of step `source` (or of the
    step it names for a config) into RUN/clean/; skipped when it was made from the same pairs
    with the same settings."""

    async def clean(session: Session) -> None:
        from glan.post import clean_and_export
        from glan.verify.acceptance import acceptance

        pairs = step.input_of(session.cfg) or ""
        index = StepFolder(session.run.stage(pairs)).require()
        if index["records"] == 0:  # nothing to clean: the run is incomplete (exit 1 names the
            return  # step that made no pairs), not a bad clean input (exit 2)
        made_from = PostMarker(session.run, "clean")
        fp = fingerprint(index["digest"], session.post_cfg.model_dump(mode="json"))
        if made_from.matches(fp):
            session.report["clean"] = {"skipped": True}
            return
        made_from.clear()
        src, out = session.run.stage(pairs), session.run.stage("clean")
        quality = acceptance(session.run)
        session.report["clean"] = clean_and_export(src, out, session.post_cfg, session.events, quality)
        made_from.write(fp, index["digest"])

    step = Step("clean", "post", None, input=source, apply=clean, when=lambda cfg: cfg.post is not None)
    return step
