"""Tasks for tests/test_worker.py, importable by the worker processes those tests start.

Each run is written to a plain table (created by the tests, not a model: this module is not an
app), so a test can count how many times a task really ran, whichever process ran it.

`main()` enqueues from a separate process, so that the RQ tests can enqueue with a process
configured for RQ (the test process itself is on the database backend).
"""

from __future__ import annotations

import os
from datetime import timedelta

from django.db import connection
from django.tasks import task

from comptoir.jobs.periodic import register
from comptoir.jobs.retry import retry_later

RUNS_TABLE = "comptoir_test_task_runs"
# Seconds; long enough that no retry is ever due by itself during a test, however loaded the
# machine (at least tests/test_worker.py's TIMEOUT: see there).
RETRY_BASE = 1200.0
MAX_ATTEMPTS = 3
PERIODIC_NAME = "tests.heartbeat"


def create_runs_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} "
            "(key varchar(100) NOT NULL, attempt integer NOT NULL, "
            "outcome varchar(20) NOT NULL, pid integer NOT NULL)"
        )
        cursor.execute(f"DELETE FROM {RUNS_TABLE}")


def drop_runs_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {RUNS_TABLE}")


def runs() -> list[tuple[str, int, str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, attempt, outcome, pid FROM {RUNS_TABLE} ORDER BY key, attempt")
        return [(str(k), int(a), str(o), int(p)) for k, a, o, p in cursor.fetchall()]


def _record(key: str, attempt: int, outcome: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RUNS_TABLE} (key, attempt, outcome, pid) VALUES (%s, %s, %s, %s)",
            [key, attempt, outcome, os.getpid()],
        )


@task()
def record(key: str) -> str:
    _record(key, 1, "ok")
    return key


@task()
def flaky(key: str, fail_times: int, attempt: int = 1) -> int:
    """Fails its first `fail_times` attempts, each queueing the next as the real tasks do, up
    to MAX_ATTEMPTS; the failure is raised, so that each attempt stays a failed result."""
    if attempt <= fail_times:
        _record(key, attempt, "failed")
        if attempt < MAX_ATTEMPTS:
            retry_later(flaky, key, fail_times, attempt=attempt, base=RETRY_BASE)
        raise RuntimeError(f"{key}: attempt {attempt} fails on purpose")
    _record(key, attempt, "ok")
    return attempt


@task()
def heartbeat() -> None:
    _record(PERIODIC_NAME, 1, "ok")


# Registered only where a test asks for it (the worker processes it starts): registering at
# every import would add this job to the scheduler of every other test in the session.
if os.environ.get("COMPTOIR_TEST_PERIODIC") == "1":
    register(PERIODIC_NAME, heartbeat, every=timedelta(hours=1))


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "record":
        prefix, count = args[0], int(args[1])
        for n in range(count):
            record.enqueue(f"{prefix}-{n}")
    elif command == "flaky":
        flaky.enqueue(args[0], int(args[1]))
    elif command == "blocking":
        blocking.enqueue(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {command!r}")


@task()
def blocking(key: str, fifo: str) -> str:
    """Runs until the test writes a byte to `fifo` (a named pipe): a task that is busy for as
    long as the test wants, with no clock involved."""
    _record(key, 1, "started")
    print(f"blocking task {key} waits", flush=True)  # the test reads it in the worker's output
    with open(fifo, "rb") as gate:
        gate.read(1)
    _record(key, 1, "ok")
    return key
