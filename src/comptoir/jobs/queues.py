"""Which queued work goes first: polls and replies before background look-ups.

A worker claims the most urgent task it can run. Bulk background work (reading orders, which
can be hundreds of requests when a marketplace is slow) must never delay a poll or a reply
queued after it. The database backend orders its queue by priority; RQ has no priorities, so
there the same tasks go to a queue of their own that workers read after the others.
"""

from __future__ import annotations

from typing import Any

# django.tasks priorities run from -100 to 100; the default is 0.
BACKGROUND_PRIORITY = -50
# RQ: the queue read only when the others are empty (see jobs.runner._queues).
BACKGROUND_QUEUE = "background"


def in_background(task: Any) -> Any:
    """`task` set to run after everything of normal priority, on whichever backend."""
    backend = task.get_backend()
    if backend.supports_priority:
        return task.using(priority=BACKGROUND_PRIORITY)
    if BACKGROUND_QUEUE in backend.queues:
        return task.using(queue_name=BACKGROUND_QUEUE)
    return task


def claim_order(names: list[str]) -> list[str]:
    """The queues a worker reads, most urgent first: the background queue last."""
    return sorted(names, key=lambda name: (name == BACKGROUND_QUEUE, name))
