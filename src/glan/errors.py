"""The one exception tree of glan; foreign errors are mapped into it at the boundary."""

from pydantic import ValidationError


class GlanError(Exception):
    """Base of every error glan raises on purpose; the CLI prints it as one line and exits
    with `exit_code` (see glan.cli.guard)."""

    exit_code: int = 2


class Incomplete(GlanError):
    """A run ended, but some jobs failed (recorded in failures/) or a step produced nothing."""

    exit_code = 1


class ConfigError(GlanError):
    """Bad user input: a config, taxonomy or data file, or a command-line value."""


class BackendError(GlanError):
    """An LLM call failed. `transient` errors are worth retrying."""

    transient: bool = False


class TransientBackendError(BackendError):
    """429, 5xx, timeouts and dropped connections: retried with backoff."""

    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalBackendError(BackendError):
    """An LLM call failed in a way no retry or later job will fix while nothing has worked yet:
    connection refused, unknown host, 404, a page that is not the API. Stops the run at once."""


class TooManyFailures(GlanError):
    """Most recent LLM calls failed (wrong key or model, server down): the run stops early.

    Exit code 2, as for a usage error rather than 1 (Incomplete): the run could not proceed,
    and running the same command unchanged would fail the same way; its cause (base_url,
    model, key, a server that is down) must be fixed first."""


class BudgetExceeded(GlanError):
    """The run's `budget:` (USD or tokens) would be passed by the next call: the run stops
    after the calls in flight have answered. Exit code 2: the same command stops the same way
    until the budget is raised."""


class StepDeferred(GlanError):
    """A step could not finish: some of its calls were written to batch files instead."""

    def __init__(self, stage: str, count: int) -> None:
        super().__init__(f"{stage}: {count} calls wait for batch results")
        self.stage = stage
        self.count = count


class ParseError(GlanError):
    """A response did not parse or validate; the message is fed back in a re-ask."""


def first_error(e: ValidationError) -> str:
    """A pydantic ValidationError as one line: 'dotted.location: message' of its first error."""
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(root)"
    return f"{loc}: {err['msg']}"
