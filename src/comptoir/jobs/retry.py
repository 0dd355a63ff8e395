"""Retry with exponential backoff for tasks: a failed run re-enqueues itself, deferred.

Each attempt is its own task result: a crash stays visible as a failed result (with its
traceback) and the next attempt is a new result deferred with `run_after`. Deferred execution
needs a backend that supports it: django-tasks-db does natively, RQ only when a worker runs
its scheduler (`comptoir worker` does).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from django.utils import timezone

logger = logging.getLogger("comptoir.jobs")

P = ParamSpec("P")
R = TypeVar("R")


class RetryLater(Exception):  # a signal, not an error: hence no -Error suffix
    """Raised by a task that wants to run again later without counting as a crash."""

    def __init__(self, message: str = "", delay: float | None = None):
        super().__init__(message)
        self.delay = delay


def backoff_seconds(attempt: int, base: float = 10.0, cap: float = 3600.0) -> float:
    """Exponential with jitter (attempt 1 → base/2..base, 2 → base/2..2*base, ...).

    The jitter spreads the retries of many tasks that failed together (a marketplace outage),
    so they do not all hit the recovered service in the same second.
    """
    return random.uniform(min(base / 2, cap), min(cap, base * 2 ** (attempt - 1)))


def retrying(
    max_attempts: int = 5, base: float = 10.0
) -> Callable[[Callable[P, R]], Callable[P, R | None]]:
    """Wrap a task function taking `attempt: int = 1` as keyword; on an exception, enqueue the
    task again with `attempt + 1` after a backoff, up to `max_attempts`, then re-raise.

    Apply below `@task`: the re-enqueue goes through the registered task of the same name.
    An exception is re-raised after the retry is queued, so the failed attempt is recorded as
    failed; `RetryLater` is not (the attempt returns None).
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def decorate(func: Callable[P, R]) -> Callable[P, R | None]:
        # Fail at import, not at the first retry: the next attempt is enqueued with
        # attempt=N+1, which a function without that parameter would reject every time.
        if "attempt" not in inspect.signature(func).parameters:
            raise TypeError(f"@retrying: {func.__qualname__} must accept an `attempt` keyword")

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
            attempt = int(kwargs.get("attempt", 1))  # type: ignore[call-overload]
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                if attempt >= max_attempts:
                    logger.error("%s failed for good after %d attempts", func.__name__, attempt)
                    raise
                delay = exc.delay if isinstance(exc, RetryLater) and exc.delay else None
                delay = delay or backoff_seconds(attempt, base)
                _enqueue_retry(func, list(args), {**kwargs, "attempt": attempt + 1}, delay)
                logger.warning(
                    "%s attempt %d failed (%s); retry in %.0fs", func.__name__, attempt, exc, delay
                )
                if isinstance(exc, RetryLater):
                    return None
                raise

        return wrapper

    return decorate


def _enqueue_retry(
    func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], delay: float
) -> None:
    task = _task_for(func)
    if getattr(task, "takes_context", False):
        # The backend passes the TaskContext as first argument; it is not ours to enqueue
        # (and not serialisable).
        args = args[1:]
    if task.get_backend().supports_defer:
        task = task.using(run_after=timezone.now() + timedelta(seconds=delay))
    else:
        # The immediate backend (development, some tests) cannot defer: retrying at once still
        # bounds the attempts, where asking for run_after would fail and hide the real error.
        logger.info("%s: backend cannot defer, retrying without delay", func.__name__)
    task.enqueue(*args, **kwargs)


def _task_for(func: Callable[..., Any]) -> Any:
    """The module-level Task wrapping `func` (the name `@task` left in its module)."""
    module = importlib.import_module(func.__module__)
    return getattr(module, func.__qualname__)
