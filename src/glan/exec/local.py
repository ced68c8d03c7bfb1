"""The local executor: every job's requests go to the LLM client (cache, retries, limits)."""

from __future__ import annotations

from glan.exec.jobs import Flow, Outcome, drive
from glan.exec.stream import Driver
from glan.llm.client import LLMClient


class LocalExecutor:
    """Live calls through an asyncio client, `concurrency` in flight."""

    name = "local"

    def driver(self, client: LLMClient) -> Driver:
        async def live(flow: Flow) -> Outcome:
            return await drive(flow, client.complete)

        return live
