"""One worker process: runs queued tasks and the periodic scheduler, on either tasks backend.

- database backend (django-tasks-db): its `Worker` (ours: `jobs.database_worker`) runs in the
  main thread; the scheduler ticks
  in a thread (that worker has no hook between polls, and nothing here forks, so a thread is
  safe).
- RQ backend (django-tasks-rq): an rq `SimpleWorker` runs tasks in this process (no fork per
  job, so Django's database connections and the scheduler live in one process as with the
  database backend); the scheduler ticks from the worker's own loop, not from a thread,
  because rq forks its scheduler process for deferred (`run_after`) jobs, and forking a
  process that has threads can deadlock the child.

In both, a tick claims each due periodic job with a conditional UPDATE (`periodic.tick`), so
any number of workers may run the scheduler.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from django.db import close_old_connections, connections
from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler
from rq.utils import now as rq_now
from rq.worker import SimpleWorker, WorkerStatus

from comptoir.jobs import periodic
from comptoir.jobs.queues import claim_order

logger = logging.getLogger("comptoir.jobs")


class WorkerConfigError(Exception):
    """The worker cannot start as asked (unknown backend or queue...)."""


def default_worker_id() -> str:
    """Unique across hosts and restarts, and readable in the admin: host.pid.random."""
    host = socket.gethostname().split(".")[0][:32]
    return f"{host}.{os.getpid()}.{secrets.token_hex(3)}"


class Scheduler:
    """Ticks the periodic jobs for one worker, at most once per `interval` seconds."""

    def __init__(self, worker_id: str, interval: float) -> None:
        self.worker_id = worker_id
        self.interval = interval
        self._next_at = 0.0  # monotonic clock: the first call ticks at once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._services: list[periodic.Service] | None = None  # built at the first sync

    def tick_now(self) -> list[str]:
        """One tick; errors are logged, never raised: the scheduler must outlive a bad tick."""
        self._next_at = time.monotonic() + self.interval
        try:
            return periodic.tick(self.worker_id)
        except Exception:
            logger.exception("scheduler tick failed on %s", self.worker_id)
            return []
        finally:
            # Close this thread's connections: the next tick is seconds away, and the RQ
            # worker may fork its scheduler process meanwhile (a child must not inherit an
            # open database socket).
            connections.close_all()

    def tick_if_due(self) -> None:
        if time.monotonic() >= self._next_at:
            self.tick_now()
            self.sync_services()

    def sync_services(self) -> None:
        """Keep the long-running services up (never in a --batch run: it ends soon)."""
        if self._services is None:
            self._services = [
                s for make in periodic.SERVICE_FACTORIES for s in make(self.worker_id)
            ]
        for service in self._services:
            try:
                service.sync()
            except Exception:
                logger.exception("service %r failed to sync", service)
            finally:
                connections.close_all()

    def stop_services(self) -> None:
        for service in self._services or []:
            try:
                service.stop()
            except Exception:
                logger.exception("service %r failed to stop", service)
        self._services = None

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="comptoir-scheduler", daemon=True)
        self._thread.start()

    def stop_thread(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.tick_now()
                self.sync_services()
                # Event.wait, not sleep: a stop request ends the wait at once.
                self._stop.wait(self.interval)
        finally:
            self.stop_services()

    def run_forever(self) -> None:
        """Scheduler only, in this thread (backends that run tasks at enqueue time)."""
        stop = self._stop

        def request_stop(signum: int, frame: FrameType | None) -> None:
            logger.warning("received %s, stopping", signal.strsignal(signum))
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        self._loop()


@dataclass
class WorkerOptions:
    worker_id: str
    backend_alias: str = "default"
    queues: list[str] = field(default_factory=list)  # empty: every queue of the backend
    batch: bool = False
    scheduler: bool = True
    interval: float = 5.0  # seconds between scheduler ticks
    poll_interval: float = 1.0  # database backend: seconds between polls of an empty queue
    verbosity: int = 1


def run(options: WorkerOptions) -> str:
    """Run the worker until stopped (or, with `batch`, until nothing is due); return the kind
    of backend it drove ("db", "rq" or "immediate")."""
    try:
        backend = task_backends[options.backend_alias]
    except InvalidTaskBackend as exc:
        raise WorkerConfigError(str(exc)) from exc
    periodic.autodiscover()
    scheduler = Scheduler(options.worker_id, options.interval) if options.scheduler else None

    from django_tasks_db.backend import DatabaseBackend

    if isinstance(backend, DatabaseBackend):
        _run_db(options, backend, scheduler)
        return "db"
    if _is_rq_backend(backend):
        _run_rq(options, backend, scheduler)
        return "rq"
    if _is_immediate(backend):
        # Tasks run when enqueued, in the enqueuing process: only the scheduler is needed.
        if scheduler is None:
            raise WorkerConfigError(f"backend {options.backend_alias!r} needs no worker")
        if options.batch:
            scheduler.tick_now()
        else:
            logger.info("backend runs tasks at enqueue: running the scheduler only")
            scheduler.run_forever()
        return "immediate"
    raise WorkerConfigError(
        f"backend {type(backend).__name__} is not supported by `comptoir worker`"
    )


def _is_immediate(backend: Any) -> bool:
    from django.tasks.backends.immediate import ImmediateBackend

    return isinstance(backend, ImmediateBackend)


def _is_rq_backend(backend: Any) -> bool:
    try:
        from django_tasks_rq import RQBackend
    except ImportError:  # django-rq not installed: cannot be this backend
        return False
    return isinstance(backend, RQBackend)


def _queues(options: WorkerOptions, backend: Any) -> list[str]:
    configured = claim_order(list(backend.queues))
    unknown = set(options.queues) - set(configured)
    if unknown:
        raise WorkerConfigError(
            f"unknown queue(s) {', '.join(sorted(unknown))}; "
            f"backend {options.backend_alias!r} has {', '.join(configured)}"
        )
    return options.queues or configured


# --- database backend ---------------------------------------------------------------------


def _run_db(options: WorkerOptions, backend: Any, scheduler: Scheduler | None) -> None:
    # Here, not at the top: the library's worker module loads its models (Django set up).
    from comptoir.jobs.database_worker import ComptoirDBWorker

    _configure_library_logging(["django_tasks_db", "django.tasks"], options.verbosity)
    worker = ComptoirDBWorker(
        queue_names=_queues(options, backend),
        interval=options.poll_interval,
        batch=options.batch,
        backend_name=options.backend_alias,
        # The random start delay spreads a fleet restarting together; a batch run has no
        # fleet and should not wait.
        startup_delay=not options.batch,
        max_tasks=None,
        worker_id=options.worker_id,
        excluded_queue_names=[],
    )
    if scheduler is not None:
        if options.batch:
            # Once, before the tasks: the periodic jobs due now are then run by this batch.
            scheduler.tick_now()
        else:
            scheduler.start_thread()
    # The first SIGINT/SIGTERM lets the running task finish, then exits (at once when idle);
    # a second one hands the running task back to the queue and exits. Both end with 0.
    worker.configure_signals()
    try:
        worker.run()
    finally:
        if scheduler is not None:
            scheduler.stop_thread(STOP_SERVICES_SECONDS)
        worker.reset_signals()


# How long a stopping worker waits for its scheduler thread and services (IMAP IDLE...): they
# are daemon threads, so whatever is still running after this ends with the process.
STOP_SERVICES_SECONDS = 1.5


class TaskHandedBack(BaseException):
    """Raised into a running task by a second stop request: the task goes back to the queue
    (a BaseException, so that the task's own `except Exception` does not swallow it)."""


# --- RQ backend ---------------------------------------------------------------------------

# How often an rq worker looks whether rq's scheduler lost its holder (a Redis EXISTS).
SCHEDULER_TAKEOVER_SECONDS = 5.0


class ComptoirRQWorker(SimpleWorker):
    """rq's in-process worker, with our scheduler ticking from its loop, and the stops of the
    database backend's worker: the first SIGINT/SIGTERM lets the running task finish, then
    exits (within a second when idle); a second one hands the running task back to its queue
    and exits. Both end with 0.

    rq's own second request is a cold shutdown: SystemExit raised into the task, which rq then
    records as failed (or retries), and a status that may not be 0."""

    comptoir_scheduler: Scheduler | None = None
    take_over_scheduler = False  # a long-running worker (not a batch)
    _takeover_at = 0.0  # monotonic clock: the next look at rq's scheduler lock
    stopped_by_signal = False
    _performing = False  # in the task's own code (not rq's bookkeeping around it)
    _hand_back_requested = False

    @property
    def dequeue_timeout(self) -> int:
        # rq blocks on the queues for minutes when idle; wake up every second to tick when due
        # and to honour a stop request (see request_stop).
        return 1

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        super().heartbeat(timeout, pipeline=pipeline)
        # rq calls heartbeat() at every wake-up of its idle loop and after each job, from plain
        # code: a safe point to stop or tick. With a pipeline it is starting a job: neither.
        if pipeline is not None:
            return
        if self._stop_requested and self.get_state() != WorkerStatus.BUSY:
            raise StopRequested()  # caught by rq's work loop, which tears down and returns
        if self.comptoir_scheduler is not None:
            self.comptoir_scheduler.tick_if_due()
        if self.take_over_scheduler:
            self.take_over_rq_scheduler()

    def take_over_rq_scheduler(self) -> None:
        """Run rq's scheduler (which moves deferred tasks, retries among them, to their queue)
        when no live worker holds it any more. rq itself tries only in its maintenance, every
        10 minutes: after the worker that held it was killed, every retry waited that long."""
        scheduler = self.scheduler
        if scheduler is None or time.monotonic() < self._takeover_at:
            return
        self._takeover_at = time.monotonic() + SCHEDULER_TAKEOVER_SECONDS
        process = getattr(scheduler, "_process", None)
        if process is not None and process.is_alive():
            return  # ours is running
        # A holder's lock lives a minute past its last renewal (rq's): held, nothing to do.
        keys = [RQScheduler.get_locking_key(q.name) for q in self.queues]
        if self.connection.exists(*keys) == len(keys):
            return
        # rq forks the scheduler: no database connection may be shared with the child.
        connections.close_all()
        if scheduler.acquire_locks(auto_start=True):
            self.log.warning("took over rq's scheduler (its holder stopped renewing it)")

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        # Not rq's: idle, it raises StopRequested from this handler, into whatever the main
        # thread was doing; when that is a logging call (or any `except Exception`), the
        # exception is swallowed and the worker never stops. Busy, it stops its scheduler
        # process from this handler, a wait during which a second request would find the first
        # one's handler still installed. Here the handler only flags the stop, the next request
        # goes to request_force_stop before anything else; heartbeat() stops the worker within
        # a second when idle, and rq's loop once the running task has ended (teardown then
        # waits for the scheduler process, signalled below).
        signal.signal(signal.SIGINT, self.request_force_stop)
        signal.signal(signal.SIGTERM, self.request_force_stop)
        self.stopped_by_signal = True
        self._shutdown_requested_date = rq_now()
        self._stop_requested = True
        # Tell rq's scheduler process now (a signal, no wait): it sleeps a second between
        # rounds, which then overlaps the worker's own wait instead of following it.
        process = getattr(self.scheduler, "_process", None)
        if process is not None and process.pid:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGTERM)
        name = signal.strsignal(signum)
        if self.get_state() == WorkerStatus.BUSY:
            self.log.warning(
                "%s received: stopping once the running task ends "
                "(a second one hands it back to the queue)",
                name,
            )
        else:
            self.log.warning("%s received: stopping", name)

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        # Not rq's: it ignores a request coming within a second of the first (a duplicate from
        # its worker pool, which we do not use), else raises SystemExit into the task.
        name = signal.strsignal(signum)
        if self._hand_back_requested or self.get_state() != WorkerStatus.BUSY:
            return  # stopping already (idle: within a second)
        self._hand_back_requested = True
        self.log.warning("%s received again: handing the running task back", name)
        if self._performing:
            raise TaskHandedBack()
        # In rq's bookkeeping: before the task, perform() below hands it back without running
        # it; after it, the task has finished and there is nothing to hand back.

    def perform_job(self, job: Any, queue: Any, execution: Any) -> bool:
        perform = job.perform

        def perform_unless_handed_back() -> Any:
            try:
                # Flag first, then look: a request coming in between raises (see
                # request_force_stop).
                self._performing = True
                if self._hand_back_requested:
                    raise TaskHandedBack()
                return perform()
            finally:
                self._performing = False

        # Only this call of this job, so that the stop request knows when it may interrupt.
        job.perform = perform_unless_handed_back
        return bool(super().perform_job(job, queue, execution))

    def _finalize_failure(self, job: Any, queue: Any, execution: Any, exc_info: Any) -> None:
        # rq records any exception out of the task as a failure (failure callback, failed
        # registry, retry): one raised by the stop request is not the task's, and the task is
        # to run again. rq has no public hook that sees the exception before all that.
        if exc_info[0] is not None and issubclass(exc_info[0], TaskHandedBack):
            self._hand_back(job, queue, execution)
            return
        super()._finalize_failure(job, queue, execution, exc_info)

    def _hand_back(self, job: Any, queue: Any, execution: Any) -> None:
        # The request may have interrupted the task while its database connection waited for
        # an answer (PostgreSQL then refuses any other command on it).
        connections.close_all()
        job.started_at = None
        job.ended_at = None
        job.worker_name = None
        with self.connection.pipeline() as pipeline:
            # Off the started registry and this worker's executions, then first in its queue
            # again, in one transaction: never in both places, never in neither (MULTI from the
            # start, as enqueue_job wants a pipeline that has issued nothing or is in MULTI).
            pipeline.multi()
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            queue.enqueue_job(job, pipeline=pipeline, at_front=True)
            pipeline.execute()
        self.log.warning("task %s handed back to the queue", job.id)

    def unsubscribe(self) -> None:
        # rq unsubscribes first, then stops its listening thread and waits for it with no
        # bound; the thread, having read the unsubscribe reply, may already be waiting up to a
        # minute for a new subscription. Stop it first: it then leaves at that reply.
        if self.pubsub_thread and self.pubsub is not None:
            self.log.info(
                "Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name
            )
            self.pubsub_thread.stop(timeout=0)  # only flags it
            self.pubsub.unsubscribe()
            self.pubsub_thread.join(timeout=1)  # a daemon thread: it cannot hold the exit
            self.pubsub.close()

    def execute_job(self, job: Any, queue: Any) -> None:
        # What Django does around a request: drop connections that died or aged out, so a
        # database restart costs one failed task at most.
        close_old_connections()
        try:
            super().execute_job(job, queue)
        finally:
            close_old_connections()


def _run_rq(options: WorkerOptions, backend: Any, scheduler: Scheduler | None) -> None:
    import django_rq
    from django_rq.workers import get_exception_handlers
    from django_tasks_rq import Job

    queues = _queues(options, backend)
    level = _level(options.verbosity)
    # django-tasks-rq logs through the django-tasks backport's logger, not django.tasks'.
    _configure_library_logging(["django_tasks"], options.verbosity)

    def make_worker() -> ComptoirRQWorker:
        rq_queues = django_rq.queues.get_queues(*queues, job_class=Job)
        worker = ComptoirRQWorker(
            rq_queues,
            connection=rq_queues[0].connection,
            # django-tasks-rq's Job runs the Task object rq finds (and refuses anything else).
            job_class=Job,
            name=options.worker_id,
            exception_handlers=get_exception_handlers() or None,
        )
        worker.comptoir_scheduler = None if options.batch else scheduler
        worker.take_over_scheduler = not options.batch
        return worker

    # django-rq does the same before `rqworker`: no connection opened by start-up code may be
    # shared with the scheduler process rq forks.
    connections.close_all()
    if not options.batch:
        # with_scheduler: rq moves deferred jobs (run_after, retries) to their queue when due.
        try:
            make_worker().work(with_scheduler=True, logging_level=level)
        finally:
            if scheduler is not None:
                scheduler.stop_services()
        return

    if scheduler is not None:
        scheduler.tick_now()
    # Burst mode moves the deferred jobs due *at its start* only; a retry that becomes due
    # during the burst (a zero delay) would be left behind, so burst again while there is one.
    # Stop when a burst did nothing: another worker's scheduler holds rq's lock and will move
    # them.
    while True:
        worker = make_worker()
        worked = worker.work(burst=True, with_scheduler=True, logging_level=level)
        if worker.stopped_by_signal or not worked or not _rq_has_due_deferred(queues):
            return


def _rq_has_due_deferred(queue_names: list[str]) -> bool:
    import django_rq
    from rq.registry import ScheduledJobRegistry

    for name in queue_names:
        registry = ScheduledJobRegistry(queue=django_rq.get_queue(name))
        if registry.get_jobs_to_schedule(int(time.time()), chunk_size=1):
            return True
    return False


# --- logging ------------------------------------------------------------------------------


def _level(verbosity: int) -> str:
    return {0: "WARNING", 1: "INFO"}.get(verbosity, "DEBUG")


def _configure_library_logging(names: list[str], verbosity: int) -> None:
    """Show the task libraries' progress like `db_worker` does, at the verbosity asked."""
    for name in names:
        lib_logger = logging.getLogger(name)
        lib_logger.setLevel(_level(verbosity))
        if not lib_logger.hasHandlers():
            lib_logger.addHandler(logging.StreamHandler())
