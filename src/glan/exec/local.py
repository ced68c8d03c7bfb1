"""The local executor: every job's requests go to the LLM client (cache, retries, limits)."""

from __future__ import annotations

from glan.errors import BackendError
from glan.exec.jobs import Flow, Outcome
from glan.exec.stream import Driver
from glan.llm.client import LLMClient


class LocalExecutor:
    """Live calls through an asyncio client, `concurrency` in flight."""

    name = "local"

    def driver(self, client: LLMClient) -> Driver:
        async def drive(flow: Flow) -> Outcome:
            request = next(flow)
            while True:
                try:
                    response = await client.complete(request)
                except BackendError as e:
                    try:
                        request = flow.throw(e)
                    except StopIteration as done:
                        return done.value
                    continue
                try:
                    request = flow.send(response)
                except StopIteration as done:
                    return done.value

        return drive
