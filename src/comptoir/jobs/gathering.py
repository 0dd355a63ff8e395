"""After-commit work gathered across many short transactions and queued once at the end.

A job that commits in many small transactions (the rules pump commits each rule's run on its
own) would otherwise queue the same follow-up task after each of them: one `refresh_facts`
per tagged conversation. Inside `gathering()`, an app's after-commit flush hands its work to
`later` instead, and it is queued once, when the outermost `gathering()` ends (after the last
commit, also when the job fails halfway: what was committed is followed up). Only for work that
may be lost with the process, as an on-commit callback may: a process killed before the end
loses what it gathered, where it would have lost one transaction's. (Analytics catches its
lost refreshes up every 15 minutes: `analytics.tasks.refresh_stale`.)"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger("comptoir.jobs")

_local = threading.local()


@contextmanager
def gathering() -> Iterator[None]:
    """Hold the work handed to `later` until this (outermost) block ends."""
    if getattr(_local, "pending", None) is not None:
        yield  # an outer block flushes
        return
    pending: dict[str, Callable[[], None]] = {}
    _local.pending = pending
    try:
        yield
    finally:
        _local.pending = None
        for key, flush in pending.items():
            try:
                flush()
            except Exception:  # a follow-up must never hide the job's own outcome
                logger.exception("gathered work %s failed", key)


def later(key: str, flush: Callable[[], None]) -> bool:
    """Inside `gathering()`: call `flush` when it ends (the first one given for `key`: it
    reads what was gathered meanwhile) and return True; outside, False (the caller flushes)."""
    pending: dict[str, Callable[[], None]] | None = getattr(_local, "pending", None)
    if pending is None:
        return False
    pending.setdefault(key, flush)
    return True
