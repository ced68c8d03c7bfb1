"""Generate a taxonomy: fields -> sub-fields -> disciplines, one level per pass."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from glan.config import TaxonomyGenConfig
from glan.llm.base import ChatRequest, ChatResponse
from glan.records import Record, lineage_id
from glan.stages.base import Job, SeededStage, parse_reply, seed_for, strict_schema


class TaxonomyNode(Record):
    path: list[str]  # names from the top: [] root, [field], [field, sub_field], ...


class Names(BaseModel):
    items: list[str] = Field(min_length=1)


SCHEMA = strict_schema(Names)
LEVELS = ("fields", "sub-fields", "disciplines")
PROMPTS = (
    "List the main fields of human knowledge and skills, covering academic fields (natural, "
    "formal, social and applied sciences, humanities) and industries and vocations. Give at "
    "most {n} broad fields.",
    'List the sub-fields of the field "{path}", at most {n}.',
    'List the disciplines within the sub-field "{path}" (each a subject area a university '
    "department or a profession is organised around), at most {n}.",
)


class TaxonomyStage(SeededStage):
    name = "taxonomy_nodes"
    input = TaxonomyNode
    output = TaxonomyNode

    def __init__(self, cfg: TaxonomyGenConfig, model: str, seed: int) -> None:
        super().__init__(cfg, model, seed)
        self.limits = (cfg.max_fields, cfg.max_sub_fields, cfg.max_disciplines)

    def jobs(self, item: TaxonomyNode) -> Iterable[Job]:
        depth = len(item.path)
        prompt = PROMPTS[depth].format(path=" > ".join(item.path), n=self.limits[depth])
        prompt += ' Reply with JSON: {"items": ["name", ...]}, short names only.'
        yield Job(
            item,
            ChatRequest(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                seed=seed_for(self.seed, "taxonomy", *item.path),
                response_schema=SCHEMA,
                schema_name="names",
                **self.cfg.sampling(),
            ),
        )

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        node: TaxonomyNode = job.item
        names = [" ".join(n.split()) for n in parse_reply(response, Names).items]
        names = list(dict.fromkeys(n for n in names if n))[: self.limits[len(node.path)]]
        return [TaxonomyNode(id=lineage_id("taxonomy", *node.path, n), path=[*node.path, n]) for n in names]
