"""Pruning what the machinery leaves behind: finished task results, periodic-job history and
expired sessions, each past its retention (settings: COMPTOIR_*_RETENTION_DAYS); and, on
SQLite, the query planner's statistics kept current.

Deleted in batches of ids, so that a first run on a long-lived install (a hundred thousand
task rows) never holds the database's write lock for long.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.jobs.models import JobRun

BATCH = 2000


def delete_in_batches(queryset: QuerySet[Any], batch: int = BATCH) -> int:
    """Delete every row of `queryset`, `batch` at a time; return how many went."""
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        deleted, _ = queryset.model._default_manager.filter(pk__in=ids).delete()
        total += deleted
        if len(ids) < batch:
            return total


def prune_task_results(now: datetime) -> int:
    """Finished task results: successful ones past COMPTOIR_TASK_RESULT_RETENTION_DAYS, failed
    ones (kept longer, to be looked at) past COMPTOIR_FAILED_TASK_RETENTION_DAYS. Waiting and
    running tasks are never touched."""
    ok_cutoff = now - timedelta(days=settings.TASK_RESULT_RETENTION_DAYS)
    failed_cutoff = now - timedelta(days=settings.FAILED_TASK_RETENTION_DAYS)
    old = DBTaskResult.objects.filter(
        Q(status="SUCCESSFUL", finished_at__lt=ok_cutoff)
        | Q(status="FAILED", finished_at__lt=failed_cutoff)
    )
    return delete_in_batches(old)


def prune_job_runs(now: datetime) -> int:
    """One row per periodic tick: past COMPTOIR_JOB_RUN_RETENTION_DAYS they are history."""
    cutoff = now - timedelta(days=settings.JOB_RUN_RETENTION_DAYS)
    return delete_in_batches(JobRun.objects.filter(created_at__lt=cutoff))


def prune_sessions(now: datetime) -> int:
    """Sessions past their expiry (COMPTOIR_SESSION_DAYS after sign-in): Django never
    deletes them itself."""
    return delete_in_batches(Session.objects.filter(expire_date__lt=now))


# Rows ANALYZE samples per index: 1.8 s of CPU for a database of 1,000,000 conversations and
# 5,000,000 messages, and plans as good as a full pass's. 1,000 rows were too few (the inbox's
# "all" view walked the index of merged conversations, 84 ms a page); 20,000 too, at 1,000,000
# (the archived view's count went through the channels' index instead of the archived ones',
# 2.4 s each time the nav's counts expire, where it takes 2 ms).
ANALYSIS_LIMIT = 200_000


def refresh_sqlite_statistics() -> int:
    """SQLite plans from the statistics ANALYZE writes, and nothing writes them unless asked:
    without them, at 100,000 conversations, a search for a common word took 1.4 s of CPU a
    request instead of 12 ms. PostgreSQL's autovacuum keeps its own. 1 when refreshed."""
    if connection.vendor != "sqlite":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        cursor.execute("ANALYZE")
    return 1


def run(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    return {
        "task_results": prune_task_results(now),
        "job_runs": prune_job_runs(now),
        "sessions": prune_sessions(now),
        "statistics": refresh_sqlite_statistics(),
    }
