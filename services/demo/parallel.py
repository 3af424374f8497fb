"""Running the demo's jobs in worker processes (forked: they start at once, with the fiches and the map already
loaded), each with its own database connections, reporting progress to the parent."""

from __future__ import annotations

import multiprocessing
import os
import queue
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")
JOIN_TIMEOUT_SECONDS = 30.0
Job = Callable[[Callable[[int], None]], T]  # a job gets a `progress(n)` to call as it goes


class DemoError(RuntimeError):
    """A worker of the demo failed; the message (French) says which and why."""


def in_processes(engine: Engine, jobs: Sequence[Job[T]], progress: Callable[[int], None] | None = None) -> list[T]:
    """Run each job in its own process (in this one when there is a single job); their results in job order.
    Any failure stops the other workers and raises DemoError."""
    report = progress or (lambda _: None)
    if len(jobs) <= 1:
        return [job(report) for job in jobs]
    context = multiprocessing.get_context("fork")
    messages: Any = context.Queue()
    workers = [
        context.Process(target=_work, args=(engine, job, number, messages), daemon=True, name=f"urgence-demo-{number}")
        for number, job in enumerate(jobs)
    ]
    for worker in workers:
        worker.start()
    results: dict[int, T] = {}
    try:
        while len(results) < len(jobs):
            try:
                kind, number, value = messages.get(timeout=1.0)
            except queue.Empty:
                dead = [n for n, worker in enumerate(workers) if n not in results and worker.exitcode not in (None, 0)]
                if dead and messages.empty():  # gone without a word (killed): its last message would be queued
                    number, code = dead[0], workers[dead[0]].exitcode
                    message = f"le processus {number + 1} de la démonstration s'est arrêté (code {code})"
                    raise DemoError(message) from None
                continue
            if kind == "progress":
                report(value)
            elif kind == "done":
                results[number] = value
            else:
                raise DemoError(f"le processus {number + 1} de la démonstration a échoué :\n{value}")
    finally:
        for number, worker in enumerate(workers):
            if number not in results:
                worker.terminate()
        for worker in workers:
            worker.join(timeout=JOIN_TIMEOUT_SECONDS)
            if worker.is_alive():
                worker.terminate()
                worker.join()
    return [results[number] for number in range(len(jobs))]


def _work(engine: Engine, job: Job[Any], number: int, messages: Any) -> None:
    # The parent's pooled connections belong to it: forget them here without closing them.
    engine.dispose(close=False)
    try:
        message = ("done", number, job(lambda n: messages.put(("progress", number, n))))
    except BaseException:
        message = ("failed", number, traceback.format_exc())
    finally:
        engine.dispose()
    messages.put(message)
    messages.close()
    messages.join_thread()
    # Leave at once: the usual exit flushes the standard streams, whose locks another thread of the parent (the
    # progress bar) may have held when this process was forked; this one never writes to them.
    os._exit(0 if message[0] == "done" else 1)
