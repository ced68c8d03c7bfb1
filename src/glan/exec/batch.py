"""The batch executor: jobs are answered from the cache alone; the first request of a job that
has no answer yet goes to a batch file (OpenAI Batch API / `vllm run-batch` format) and the
job waits. Rounds of export and import answer a step completely; then it runs as usual."""

from __future__ import annotations

from glan.exec.jobs import Flow, Outcome
from glan.exec.stream import Driver
from glan.llm.batch_files import BatchWriter
from glan.llm.client import LLMClient


class BatchExecutor:
    """Writes each job's next unanswered request to `writer`; sends nothing."""

    name = "batch"

    def __init__(self, writer: BatchWriter) -> None:
        self.writer = writer

    def driver(self, client: LLMClient) -> Driver:
        cache = client.cache

        async def drive(flow: Flow) -> Outcome | None:
            request = next(flow)
            while True:
                response = cache.get(request.key())
                if response is None:  # its answer comes with the batch results
                    self.writer.add(request)
                    flow.close()
                    return None
                try:
                    request = flow.send(response)
                except StopIteration as done:
                    return done.value

        return drive
