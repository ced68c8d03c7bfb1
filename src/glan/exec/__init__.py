"""Executors run a recipe's map steps: the same stages, jobs and records, whoever answers.

`local` sends live calls (asyncio, through the cached, retrying client); `batch` answers from
the cache and writes what is missing to batch files. Each supplies a driver for job flows
(glan.exec.jobs); glan.exec.stream runs a stage over its input with it.
"""

from glan.exec.batch import BatchExecutor
from glan.exec.jobs import Reruns, StageResult
from glan.exec.local import LocalExecutor
from glan.exec.stream import run_stage

__all__ = ["BatchExecutor", "LocalExecutor", "Reruns", "StageResult", "run_stage"]
