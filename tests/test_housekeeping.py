"""Housekeeping on the scheduler: old task results, job history, expired sessions and stored
raw inbound records go; recent ones, waiting tasks and failed records stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, InboundRecord, InboundState
from comptoir.jobs import housekeeping, periodic
from comptoir.jobs.models import JobRun, PeriodicJob
from comptoir.jobs.tasks import prune
from tests.conftest import ago


def _result(status: str, finished_days_ago: float | None) -> DBTaskResult:
    return DBTaskResult.objects.create(
        status=status,
        finished_at=None if finished_days_ago is None else ago(days=finished_days_ago),
        args_kwargs={"args": [], "kwargs": {}},
        task_path="comptoir.inbox.tasks.poll_channels",
        backend_name="default",
        run_after=timezone.now(),
    )


def test_finished_task_results_go_after_their_retention(db: None, settings: Any) -> None:
    settings.TASK_RESULT_RETENTION_DAYS = 7
    settings.FAILED_TASK_RETENTION_DAYS = 30
    _result("SUCCESSFUL", 8)
    recent_ok = _result("SUCCESSFUL", 6)
    failed_kept = _result("FAILED", 8)  # failed ones are kept longer
    _result("FAILED", 31)
    waiting = _result("READY", None)
    running = _result("RUNNING", None)

    pruned = housekeeping.prune_task_results(timezone.now())

    left = set(DBTaskResult.objects.values_list("pk", flat=True))
    assert pruned == 2
    assert left == {recent_ok.pk, failed_kept.pk, waiting.pk, running.pk}


def test_job_history_goes_after_its_retention(db: None, settings: Any) -> None:
    settings.JOB_RUN_RETENTION_DAYS = 30
    job = PeriodicJob.objects.create(name="sla.sweep", next_run_at=timezone.now())
    old = JobRun.objects.create(job=job, scheduled_for=ago(days=31), claimed_by="w1")
    recent = JobRun.objects.create(job=job, scheduled_for=ago(days=29), claimed_by="w1")
    JobRun.objects.filter(pk=old.pk).update(created_at=ago(days=31))
    JobRun.objects.filter(pk=recent.pk).update(created_at=ago(days=29))

    assert housekeeping.prune_job_runs(timezone.now()) == 1
    assert list(JobRun.objects.values_list("pk", flat=True)) == [recent.pk]
    assert PeriodicJob.objects.filter(name="sla.sweep").exists()  # the schedule itself stays


def test_expired_sessions_go_and_live_ones_stay(db: None) -> None:
    Session.objects.create(session_key="expired", session_data="", expire_date=ago(minutes=1))
    Session.objects.create(
        session_key="live", session_data="", expire_date=timezone.now() + timedelta(days=1)
    )

    assert housekeeping.prune_sessions(timezone.now()) == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live"]


def test_deletion_goes_in_batches_until_nothing_is_left(db: None) -> None:
    for n in range(5):
        Session.objects.create(session_key=f"s{n}", session_data="", expire_date=ago(days=1))

    assert housekeeping.delete_in_batches(Session.objects.all(), batch=2) == 5
    assert not Session.objects.exists()


def test_stored_raw_records_go_after_their_retention_failed_ones_stay(
    channel: Channel, settings: Any
) -> None:
    from comptoir.inbox import tasks

    settings.INBOUND_RETENTION_DAYS = 30

    def record(state: str, days: float) -> InboundRecord:
        return InboundRecord.objects.create(
            channel=channel,
            raw=b"From: a@b.c\r\n\r\nhello",
            state=state,
            received_at=ago(days=days),
        )

    record(InboundState.STORED, 31)
    record(InboundState.DUPLICATE, 31)
    recent_stored = record(InboundState.STORED, 29)
    old_failed = record(InboundState.FAILED, 90)  # waits for a human to retry it

    result = tasks.purge.call()

    left = set(InboundRecord.objects.values_list("pk", flat=True))
    assert result["inbound_records"] == 2
    assert left == {recent_stored.pk, old_failed.pk}


def test_housekeeping_is_a_periodic_job_of_every_worker(db: None) -> None:
    periodic.autodiscover()

    assert periodic.REGISTRY["jobs.housekeeping"].task is prune
    assert periodic.REGISTRY["jobs.housekeeping"].every == timedelta(hours=1)
    done = prune.call()
    assert {k: done[k] for k in ("task_results", "job_runs", "sessions")} == dict.fromkeys(
        ("task_results", "job_runs", "sessions"), 0
    )
    assert done["statistics"] == (1 if connection.vendor == "sqlite" else 0)


def test_sqlite_planner_statistics_are_written_by_housekeeping(
    make_inbound: Any, channel: Channel
) -> None:
    """Without them SQLite chose the index of merged conversations for the inbox's lists (a
    common word's search: 1.4 s a request at 100,000 conversations)."""

    for n in range(3):
        ingest(make_inbound(thread_id=f"stats-{n}"))
    refreshed = housekeeping.refresh_sqlite_statistics()
    if connection.vendor != "sqlite":
        assert refreshed == 0  # PostgreSQL's autovacuum keeps its own
        return
    assert refreshed == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT idx FROM sqlite_stat1 WHERE tbl = 'inbox_conversation'")
        measured = {row[0] for row in cursor.fetchall()}
    assert {"conv_last_message", "conv_needs_reply", "conv_status_recent"} <= measured
