"""Run the notification tasks a test queued, as a worker would (only those due now)."""

from __future__ import annotations

from typing import Any


def run_notification_tasks() -> list[Any]:
    from django_tasks_db.models import DBTaskResult

    results = []
    rows = DBTaskResult.objects.ready().filter(task_path__startswith="comptoir.notifications.")
    for row in rows.order_by("enqueued_at"):
        params = row.args_kwargs
        results.append(row.task.call(*params["args"], **params["kwargs"]))
        row.delete()
    return results
