"""One job's conversation with the LLM, as a generator that executors drive.

`job_flow` yields each request the job needs and is sent the response (or thrown the
BackendError the call ended with); it returns the job's records or its failure. Re-asks
(with the validation error) and follow-up requests come from the stage; attempts of a
recorded failure (a rerun asks it anew) are decided here. The local executor drives a flow
with live calls, the batch executor with the cache alone, writing the first request it has
no answer for to a batch file: the same jobs, the same records, whoever answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

from glan.errors import BackendError, ParseError
from glan.llm.base import ChatRequest, ChatResponse
from glan.records import Failure, Record
from glan.stages.base import FollowUp, Job, Stage
from glan.store import read_jsonl

Outcome = tuple[list[Record], Failure | None]
Flow = Generator[ChatRequest, ChatResponse, Outcome]


@dataclass
class StageResult:
    inputs: int = 0
    jobs: int = 0
    records: int = 0
    failures: int = 0
    given_up: int = 0  # failures whose reply never validated in max_rerun_attempts reruns
    reasks: int = 0
    deferred: int = 0  # jobs waiting for an answer from a batch file
    dropped: int = 0  # records the stage made and dropped with a reason (glan.records.Dropped)


@dataclass(frozen=True)
class Reruns:
    """The recorded failures whose reply never validated, which this run asks anew: job key
    (its first request's) -> the attempt to ask; attempts stop at `max_attempts`."""

    next: dict[str, int] = field(default_factory=dict)
    max_attempts: int = 3

    @classmethod
    def load(cls, failures: Path, max_attempts: int) -> Reruns:
        """From a step's failures file of the previous run (none: nothing to ask anew)."""
        if not failures.is_file():
            return cls({}, max_attempts)
        return cls(
            {
                f.request_key: f.attempt + 1
                for f in read_jsonl(failures, Failure)
                if f.raw is not None and f.request_key and f.attempt < max_attempts
            },
            max_attempts,
        )


def _attempt(stage: Stage, job: Job, request: ChatRequest, max_reasks: int, result: StageResult) -> Flow:
    """One attempt of a job: its request, then re-asks with the validation error."""

    def failed(error: Exception, raw: str | None = None) -> Failure:
        key = job.request.key()  # the job's, whatever the attempt: a rerun finds it by this key
        return Failure(
            stage=stage.name,
            input_id=job.item.id,
            request_key=key,
            error=str(error),
            raw=raw,
            attempt=request.attempt,
        )

    reasks = 0
    while True:
        try:
            response = yield request
        except BackendError as e:
            return [], failed(e)
        try:
            parsed = stage.parse(job, response)
        except ParseError as e:
            if reasks == max_reasks:
                return [], failed(e, response.text)
            reasks += 1
            result.reasks += 1
            request = stage.reask(request, response, e)
            continue
        if isinstance(parsed, FollowUp):  # the stage asks more before it has its records
            request, job = parsed.request, Job(job.item, job.request, {**job.context, **parsed.context})
            continue
        return parsed, None


def job_flow(
    stage: Stage,
    job: Job,
    *,
    max_reasks: int,
    reruns: Reruns,
    answered: Callable[[ChatRequest], bool],
    result: StageResult,
) -> Flow:
    """Attempt 0, then each later attempt an earlier rerun asked (`answered`: in the cache),
    then the one this rerun may ask: a reply that never validated is cached, so asking the
    same again would be futile."""
    allowed = reruns.next.get(job.request.key(), 0) if reruns.next else 0
    attempt = 0
    while True:
        records, failure = yield from _attempt(
            stage, job, job.request.for_attempt(attempt), max_reasks, result
        )
        if failure is None or failure.raw is None:  # done, or no reply (asked again next run)
            return records, failure
        attempt += 1
        if attempt != allowed and not answered(job.request.for_attempt(attempt)):
            if attempt > reruns.max_attempts:
                result.given_up += 1
            return records, failure


async def drive(flow: Flow, answer: Callable[[ChatRequest], Awaitable[ChatResponse]]) -> Outcome:
    """Drive one job's flow to its outcome: each request it yields is answered by `answer`, or
    the BackendError the call ended with is thrown into it."""
    request = next(flow)
    while True:
        try:
            response = await answer(request)
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
