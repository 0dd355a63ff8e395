"""Periodic jobs: apps register a task and an interval; every worker runs the scheduler tick.

A tick is claimed with a conditional UPDATE (`WHERE next_run_at = <the value we read>`), so when
several workers tick at once exactly one of them enqueues the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from comptoir.jobs.models import JobRun, PeriodicJob

logger = logging.getLogger("comptoir.jobs")


@dataclass(frozen=True)
class Periodic:
    name: str
    task: Any  # a django.tasks Task
    every: timedelta


REGISTRY: dict[str, Periodic] = {}


def register(name: str, task: Any, every: timedelta) -> None:
    """Run `task` (with no arguments) every `every`, on whichever worker claims the tick."""
    REGISTRY[name] = Periodic(name=name, task=task, every=every)


def periodic(name: str, every: timedelta) -> Any:
    """Decorator form of `register`, applied on top of `@task`."""

    def wrap(task: Any) -> Any:
        register(name, task, every)
        return task

    return wrap


class Service(Protocol):
    """Something long-running a worker keeps up beside its tasks (e.g. IMAP IDLE watchers):
    `sync()` at every scheduler tick, `stop()` when the worker stops."""

    def sync(self) -> None: ...

    def stop(self) -> None: ...


# Each factory gets the worker id and returns the services that worker should run.
SERVICE_FACTORIES: list[Callable[[str], list[Service]]] = []


def register_services(factory: Callable[[str], list[Service]]) -> None:
    if factory not in SERVICE_FACTORIES:
        SERVICE_FACTORIES.append(factory)


def autodiscover() -> None:
    """Import every installed app's `tasks` module, where periodic jobs register themselves.

    A worker must know all jobs before its first tick, not only those some import happened
    to load.
    """
    autodiscover_modules("tasks")


def tick(worker_id: str, now: datetime | None = None) -> list[str]:
    """Enqueue every due job this worker wins; return their names.

    A job whose claim or enqueue fails is logged and left due (its claim is rolled back), so
    the next tick, here or on another worker, tries it again; the other jobs still run.
    """
    now = now or timezone.now()
    won: list[str] = []
    for job in list(REGISTRY.values()):
        try:
            if _claim_and_enqueue(job, worker_id, now):
                won.append(job.name)
                logger.info("periodic job %s enqueued by %s", job.name, worker_id)
        except Exception:
            logger.exception("periodic job %s could not be enqueued", job.name)
    return won


def _claim_and_enqueue(job: Periodic, worker_id: str, now: datetime) -> bool:
    row, _ = PeriodicJob.objects.get_or_create(name=job.name, defaults={"next_run_at": now})
    if row.next_run_at > now:
        return False
    # The enqueue is inside the claim's transaction: if it fails (broker down), the claim is
    # rolled back and the tick stays due. With the database backend the task row commits
    # together with the claim.
    with transaction.atomic():
        claimed = PeriodicJob.objects.filter(name=job.name, next_run_at=row.next_run_at).update(
            next_run_at=now + job.every,
            last_run_at=now,
            last_claimed_by=worker_id,
            runs=row.runs + 1,
        )
        if not claimed:
            return False  # another worker took this tick
        try:
            with transaction.atomic():
                JobRun.objects.create(
                    job_id=job.name, scheduled_for=row.next_run_at, claimed_by=worker_id
                )
        except IntegrityError:
            return False  # this very tick was enqueued before (next_run_at set back by hand)
        job.task.enqueue()
    return True
