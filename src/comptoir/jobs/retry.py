"""Retrying a task later: the next attempt is queued again, deferred by a backoff.

A task that retries catches its own failure, records it (the message, the delivery, the
notification shows why), decides whether it is worth another attempt, and then calls
`retry_later`. Each attempt is its own task result. Deferred execution needs a backend that
supports it: django-tasks-db does natively, RQ only when a worker runs its scheduler
(`comptoir worker` does).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.tasks import Task
from django.utils import timezone

from comptoir.lib.backoff import backoff

# The longest wait between two attempts of a task.
MAX_DELAY = 3600.0


def retry_later(
    task: Task[..., Any],
    *args: Any,
    attempt: int,
    base: float,
    wait: float | None = None,
    since: datetime | None = None,
) -> float:
    """Queue attempt `attempt + 1` of `task` with `args`, due after `wait` seconds (what the
    other side asked for) or else the backoff of `attempt` from `base`, counted from `since`
    (now by default). Returns the delay."""
    delay = wait or backoff(attempt, base=base, cap=MAX_DELAY)
    run_after = (since or timezone.now()) + timedelta(seconds=delay)
    task.using(run_after=run_after).enqueue(*args, attempt=attempt + 1)
    return delay
