"""`comptoir worker` with real worker processes, on the database backend and on RQ (Redis).

The workers are subprocesses pointed at the test database (transactional tests, so what the
test writes is committed and visible to them). Every wait is on a process exit, bounded by a
timeout; deferred retries are made due by moving their due time, not by waiting for it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.models import F
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from comptoir.jobs import periodic
from comptoir.jobs.models import JobRun, PeriodicJob
from tests import redis_support, tasks_for_tests
from tests.tasks_for_tests import MAX_ATTEMPTS, PERIODIC_NAME, RETRY_BASE

REPO = Path(__file__).resolve().parent.parent
# Seconds for any one subprocess: a guard against a hang, not a speed bound. The retries of
# tasks_for_tests.flaky are deferred by at least this much, so however slow the machine, a
# retry is never due inside the batch that scheduled it (rq's batch would run it at once).
TIMEOUT = 600
assert RETRY_BASE / 2 >= TIMEOUT
RQ_QUEUE = "default"  # the queue of settings.RQ_QUEUES

_script = Path(sys.executable).with_name("comptoir")
COMPTOIR = [str(_script)] if _script.exists() else [sys.executable, "-m", "comptoir.cli"]
ENQUEUE = [
    sys.executable,
    "-c",
    "import sys, django; django.setup(); "
    "from tests.tasks_for_tests import main; main(sys.argv[1:])",
]


# --- plumbing -----------------------------------------------------------------------------


def database_url() -> str:
    """The test database (not the configured one) as a DATABASE_URL for subprocesses."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}@{db['HOST'] or ''}{port}/{quote(db['NAME'], safe='')}"


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    # A session of its own: on a timeout the whole group goes, with any child it forked (rq's
    # scheduler), which would otherwise keep our pipe open and hang the test.
    return subprocess.Popen(
        argv,
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def finish(proc: subprocess.Popen[str], expect_rc: int = 0) -> str:
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, _ = proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"{proc.args!r} did not finish in {TIMEOUT}s:\n{out}")
    assert proc.returncode == expect_rc, f"{proc.args!r} exited {proc.returncode}:\n{out}"
    return out


def run_batch(env: dict[str, str], *args: str) -> str:
    return finish(start([*COMPTOIR, "worker", "--batch", *args], env))


@dataclass
class Backend:
    name: str  # "db" or "rq"
    env: dict[str, str]
    redis: Any = None  # a redis.Redis on this test's own Redis database, for "rq"

    def enqueue(self, *argv: str) -> None:
        finish(start([*ENQUEUE, *argv], self.env))

    def deferred_delays(self) -> list[float]:
        """The backoff each deferred task was scheduled with: its due time less the time it was
        enqueued, both written by the worker when it scheduled the retry. Neither moves with
        the time the worker or this test take afterwards (a loaded machine)."""
        if self.name == "db":
            deferred = DBTaskResult.objects.filter(status="READY", run_after__lt=get_date_max())
            return [
                (run_after - enqueued_at).total_seconds()
                for run_after, enqueued_at in deferred.values_list("run_after", "enqueued_at")
            ]
        from rq.utils import utcparse

        delays = []
        for job_id, score in self.redis.zrange(self._scheduled_key(), 0, -1, withscores=True):
            created = self.redis.hget(f"rq:job:{job_id.decode()}", "created_at")
            delays.append(score - utcparse(created.decode()).timestamp())
        return delays

    def age_deferred(self, seconds: float) -> None:
        """What a slow (loaded) machine does between the worker's scheduling and the test's
        look: the schedule recorded `seconds` ago, unchanged."""
        if self.name == "db":
            shift = timedelta(seconds=seconds)
            DBTaskResult.objects.filter(status="READY", run_after__lt=get_date_max()).update(
                run_after=F("run_after") - shift, enqueued_at=F("enqueued_at") - shift
            )
            return
        from rq.utils import utcformat, utcparse

        key = self._scheduled_key()
        for job_id, score in self.redis.zrange(key, 0, -1, withscores=True):
            created = utcparse(self.redis.hget(f"rq:job:{job_id.decode()}", "created_at").decode())
            self.redis.hset(
                f"rq:job:{job_id.decode()}",
                "created_at",
                utcformat(created - timedelta(seconds=seconds)),
            )
            self.redis.zadd(key, {job_id: score - seconds})

    def make_deferred_due(self) -> None:
        """Time travel: what waiting for the backoff would do, without the wait."""
        if self.name == "db":
            DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
            return
        key = self._scheduled_key()
        due = time.time() - 1
        for job_id in self.redis.zrange(key, 0, -1):
            self.redis.zadd(key, {job_id: due})

    def statuses(self, task_path: str) -> Counter[str]:
        """How many results of this task ended in each state."""
        if self.name == "db":
            return Counter(
                DBTaskResult.objects.filter(task_path=task_path).values_list("status", flat=True)
            )
        from rq.registry import FailedJobRegistry, FinishedJobRegistry

        counts: Counter[str] = Counter()
        for status, registry_class in (
            ("SUCCESSFUL", FinishedJobRegistry),
            ("FAILED", FailedJobRegistry),
        ):
            registry = registry_class(name=RQ_QUEUE, connection=self.redis)
            for job_id in registry.get_job_ids():
                func_name = self.redis.hget(f"rq:job:{job_id}", "description") or b""
                if func_name.decode().startswith(task_path + "("):
                    counts[status] += 1
        return counts

    def pending(self) -> int:
        """Tasks waiting to run, now or later."""
        if self.name == "db":
            return DBTaskResult.objects.filter(status="READY").count()
        return int(self.redis.llen(f"rq:queue:{RQ_QUEUE}")) + int(
            self.redis.zcard(self._scheduled_key())
        )

    def running(self) -> int:
        """Tasks a worker holds as running."""
        if self.name == "db":
            return DBTaskResult.objects.filter(status="RUNNING").count()
        from rq.registry import StartedJobRegistry

        return len(StartedJobRegistry(name=RQ_QUEUE, connection=self.redis))

    def _scheduled_key(self) -> str:
        from rq.registry import ScheduledJobRegistry

        return str(ScheduledJobRegistry(name=RQ_QUEUE, connection=self.redis).key)


@pytest.fixture
def runs_table(transactional_db: None) -> Iterator[None]:
    tasks_for_tests.create_runs_table()
    yield
    tasks_for_tests.drop_runs_table()


def _own_redis_database() -> Iterator[tuple[str, Any]]:
    return redis_support.own_redis_database("the RQ tests")


@pytest.fixture(params=["db", pytest.param("rq", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, runs_table: None) -> Iterator[Backend]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "comptoir.settings",
        "DATABASE_URL": database_url(),
        "COMPTOIR_DATA_DIR": str(settings.DATA_DIR),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "COMPTOIR_TASKS_BACKEND": request.param,
    }
    if request.param == "db":
        yield Backend("db", env)
        return
    for url, client in _own_redis_database():
        yield Backend("rq", {**env, "REDIS_URL": url}, client)


# --- tests --------------------------------------------------------------------------------


def test_two_workers_run_each_task_exactly_once(backend: Backend) -> None:
    count = 40
    backend.enqueue("record", "task", str(count))

    workers = [
        start([*COMPTOIR, "worker", "--batch", "--no-scheduler", "--worker-id", f"w{n}"], env)
        for n, env in enumerate([backend.env, backend.env], start=1)
    ]
    for proc in workers:
        finish(proc)

    runs = tasks_for_tests.runs()
    assert Counter(key for key, *_ in runs) == {f"task-{n}": 1 for n in range(count)}
    assert backend.statuses("tests.tasks_for_tests.record") == {"SUCCESSFUL": count}
    assert backend.pending() == 0


def test_workers_starting_together_enqueue_a_due_periodic_job_once(backend: Backend) -> None:
    env = {**backend.env, "COMPTOIR_TEST_PERIODIC": "1"}
    argv = [*COMPTOIR, "worker", "--batch", "--import", "tests.tasks_for_tests"]
    workers = [start([*argv, "--worker-id", f"s{n}"], env) for n in (1, 2)]
    for proc in workers:
        finish(proc)

    assert [key for key, *_ in tasks_for_tests.runs()] == [PERIODIC_NAME]
    assert JobRun.objects.filter(job_id=PERIODIC_NAME).count() == 1
    job = PeriodicJob.objects.get(name=PERIODIC_NAME)
    assert job.runs == 1
    assert job.last_claimed_by in {"s1", "s2"}
    # The next run is scheduled an interval after the claim, however long the workers took.
    assert job.last_run_at is not None
    assert job.next_run_at == job.last_run_at + timedelta(hours=1)


@pytest.mark.django_db(transaction=True)
def test_ticks_racing_in_threads_enqueue_a_due_job_once(
    runs_table: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the test's job: the apps' jobs are not this test's business.
    monkeypatch.setattr(periodic, "REGISTRY", {})
    periodic.register(PERIODIC_NAME, tasks_for_tests.heartbeat, every=timedelta(hours=1))
    now = timezone.now()
    contenders = 8
    barrier = threading.Barrier(contenders)
    won: list[str] = []
    errors: list[BaseException] = []

    def contend(n: int) -> None:
        try:
            # All at once, the job row not even created yet: the get_or_create and the claim
            # both race.
            barrier.wait(timeout=TIMEOUT)
            won.extend(f"{name}@{n}" for name in periodic.tick(f"thread-{n}", now=now))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)

    assert errors == []
    assert len(won) == 1
    assert JobRun.objects.filter(job_id=PERIODIC_NAME).count() == 1
    assert DBTaskResult.objects.filter(task_path="tests.tasks_for_tests.heartbeat").count() == 1


def test_a_crashing_task_is_retried_with_backoff_until_it_succeeds_or_gives_up(
    backend: Backend,
) -> None:
    backend.enqueue("flaky", "recovers", "2")  # fails twice, then succeeds
    backend.enqueue("flaky", "broken", "99")  # always fails

    for attempt in range(1, MAX_ATTEMPTS + 1):
        run_batch(backend.env, "--no-scheduler")
        backend.age_deferred(RETRY_BASE / 2)  # as if the machine were slow: changes nothing
        delays = backend.deferred_delays()
        if attempt == MAX_ATTEMPTS:
            break
        # One retry per task, deferred by the backoff of this attempt (Redis keeps due times in
        # whole seconds, and the enqueue time is taken a moment after the due time is computed).
        assert len(delays) == 2, delays
        for delay in delays:
            assert RETRY_BASE / 2 - 2 < delay <= RETRY_BASE * 2 ** (attempt - 1)
        backend.make_deferred_due()

    assert delays == []  # the always failing task gave up after MAX_ATTEMPTS
    assert backend.pending() == 0
    outcomes = [(key, attempt, outcome) for key, attempt, outcome, _ in tasks_for_tests.runs()]
    assert outcomes == [
        ("broken", 1, "failed"),
        ("broken", 2, "failed"),
        ("broken", 3, "failed"),
        ("recovers", 1, "failed"),
        ("recovers", 2, "failed"),
        ("recovers", 3, "ok"),
    ]
    # Each attempt is a result of its own: the crashes stay visible, the last one succeeded.
    assert backend.statuses("tests.tasks_for_tests.flaky") == {"FAILED": 5, "SUCCESSFUL": 1}


def test_sigterm_stops_an_idle_worker_cleanly(backend: Backend) -> None:
    proc = start(
        [*COMPTOIR, "worker", "--no-scheduler", "-v", "2", "--worker-id", "t1"], backend.env
    )
    # Lines the worker logs once its signal handlers are in place and it waits for work.
    ready = "Starting worker" if backend.name == "db" else "dequeueing jobs"
    watchdog = threading.Timer(TIMEOUT, kill_group, args=(proc,))  # readline() below has no timeout
    watchdog.start()
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        for line in proc.stdout:
            seen.append(line)
            if ready in line:
                break
        else:
            pytest.fail("the worker exited before it was ready:\n" + "".join(seen))
        proc.send_signal(signal.SIGTERM)
        out = finish(proc)
    finally:
        watchdog.cancel()
    assert "Traceback" not in out, out


# How long a stop may take at most in the tests below: far more than the worker needs (well
# under a second), far less than what it took before (an IMAP IDLE wait of 30 s, a task).
STOP_BOUND = 10


def read_until(proc: subprocess.Popen[str], marker: str) -> str:
    """The worker's output up to the first line holding `marker` (the process is killed if it
    never comes: readline has no timeout)."""
    watchdog = threading.Timer(TIMEOUT, kill_group, args=(proc,))
    watchdog.start()
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                return "".join(seen)
        pytest.fail(f"the worker exited before {marker!r}:\n" + "".join(seen))
    finally:
        watchdog.cancel()


def stopped_within(proc: subprocess.Popen[str], seconds: float) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, _ = proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"the worker took over {seconds}s to stop:\n{out[-3000:]}")
    return proc.returncode, out


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A named pipe a `blocking` task waits on, held open by the test: a byte written to the
    file descriptor lets the task finish."""
    path = tmp_path / "gate"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR)  # a writer from the start: the task's open() never blocks
    yield str(path), fd
    os.close(fd)


def test_sigterm_lets_the_running_task_finish_then_the_worker_exits_0(
    backend: Backend, gate: tuple[str, int]
) -> None:
    path, fd = gate
    backend.enqueue("blocking", "busy", path)
    proc = start([*COMPTOIR, "worker", "--no-scheduler", "-v", "2"], backend.env)
    read_until(proc, "blocking task busy waits")

    proc.send_signal(signal.SIGTERM)
    read_until(proc, "stopping once the running task ends")
    os.write(fd, b"x")
    returncode, out = stopped_within(proc, STOP_BOUND)

    assert returncode == 0, out
    assert [outcome for _, _, outcome, _ in tasks_for_tests.runs()] == ["started", "ok"]
    assert backend.statuses("tests.tasks_for_tests.blocking") == {"SUCCESSFUL": 1}


def test_a_second_sigterm_hands_the_running_task_back_and_exits_0(
    backend: Backend, gate: tuple[str, int]
) -> None:
    path, fd = gate
    backend.enqueue("blocking", "busy", path)
    proc = start([*COMPTOIR, "worker", "--no-scheduler", "-v", "2"], backend.env)
    read_until(proc, "blocking task busy waits")

    proc.send_signal(signal.SIGTERM)
    read_until(proc, "stopping once the running task ends")
    proc.send_signal(signal.SIGTERM)
    returncode, out = stopped_within(proc, STOP_BOUND)

    assert returncode == 0, out
    assert "handed back to the queue" in out
    # Back in its queue, not failed, not left running.
    assert backend.pending() == 1
    assert not {"SUCCESSFUL", "FAILED"} & backend.statuses("tests.tasks_for_tests.blocking").keys()
    assert backend.running() == 0
    # Nothing lost: the next worker runs it.
    os.write(fd, b"x")
    run_batch(backend.env, "--no-scheduler")
    assert [outcome for _, _, outcome, _ in tasks_for_tests.runs()] == ["started", "started", "ok"]
    assert backend.statuses("tests.tasks_for_tests.blocking") == {"SUCCESSFUL": 1}


def test_sigterm_stops_a_worker_watching_a_mailbox_with_idle_at_once(
    backend: Backend, dovecot: Any, mailbox: str, shop: Any, team: Any
) -> None:
    from comptoir.inbox.models import Channel

    channel = Channel(shop=shop, kind="email", marketplace="shop", name="Mailbox", team=team)
    channel.set_settings(
        {
            "imap_host": dovecot.host,
            "imap_port": dovecot.port,
            "imap_security": "none",
            "username": mailbox,
            "password": "secret",
        }
    )
    channel.save()
    from comptoir.inbox.models import Message
    from tests.test_email_imap import mail

    proc = start([*COMPTOIR, "worker", "-v", "2", "--interval", "1"], backend.env)
    read_until(proc, "comptoir.inbox.tasks.poll_channel state=SUCCESSFUL")
    # New mail: IDLE reports it, a poll stores it, and the watcher goes back to its wait.
    dovecot.deliver(mailbox, mail()[0])
    while not Message.objects.exists():
        read_until(proc, "comptoir.inbox.tasks.poll_channel state=SUCCESSFUL")

    proc.send_signal(signal.SIGTERM)
    returncode, out = stopped_within(proc, STOP_BOUND)

    assert returncode == 0, out
    assert "Traceback" not in out, out


@pytest.mark.redis
def test_an_rq_worker_takes_over_the_scheduler_its_holder_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by the several-hosts test: the worker running rq's scheduler was killed, and the
    # others only looked for it in rq's maintenance, every 10 minutes; retries waited as long.
    from rq import Queue
    from rq.scheduler import RQScheduler

    from comptoir.jobs import runner

    for _, client in _own_redis_database():
        queues = [Queue("default", connection=client)]
        worker = runner.ComptoirRQWorker(queues, connection=client, name="survivor")
        worker.take_over_scheduler = True
        worker.scheduler = RQScheduler(queues, connection=client)
        started: list[str] = []
        monkeypatch.setattr(worker.scheduler, "start", functools.partial(started.append, "started"))
        lock = RQScheduler.get_locking_key("default")
        client.set(lock, "the-killed-workers-scheduler", ex=60)

        worker.take_over_rq_scheduler()  # its holder's lock is still alive: nothing
        assert started == []
        assert client.get(lock) == b"the-killed-workers-scheduler"

        client.delete(lock)  # a minute later: the dead holder's lock expired
        worker.take_over_rq_scheduler()  # within SCHEDULER_TAKEOVER_SECONDS: not yet
        assert started == []
        worker._takeover_at = 0.0  # those seconds passed
        worker.take_over_rq_scheduler()
        assert started == ["started"]
        assert client.get(lock) == worker.scheduler.name.encode()
