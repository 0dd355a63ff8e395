"""The database backend's worker (django-tasks-db), as `comptoir worker` runs it (see
`jobs.runner`). Imported once Django is set up: the library's worker module loads its models."""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
from types import FrameType
from typing import Any

from django.db import close_old_connections, connections
from django.db.utils import OperationalError
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from comptoir.jobs.runner import TaskHandedBack

logger = logging.getLogger("comptoir.jobs")


class ComptoirDBWorker(Worker):  # type: ignore[misc]
    """django-tasks-db's worker, stopping at once when idle and never with an error.

    The library raises SystemExit from its signal handler into whatever the main thread
    is doing (a task just claimed is then left RUNNING for ever), and a second signal
    fails the running task and exits with 1. Here a stop request only sets a flag and
    wakes the idle wait; a second one hands the running task back to the queue."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._wake = threading.Event()
        self._stop_requests = 0
        self._handing_back = False

    def configure_signals(self) -> None:
        for name in ("SIGINT", "SIGTERM", "SIGQUIT"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), self.request_stop)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requests += 1
        self.running = False
        self._wake.set()
        name = signal.strsignal(signum)
        if not self.running_task:
            logger.warning("%s received: stopping", name)
        elif self._stop_requests == 1:
            logger.warning(
                "%s received: stopping once the running task ends "
                "(a second one hands it back to the queue)",
                name,
            )
        elif not self._handing_back:
            logger.warning("%s received again: handing the running task back", name)
            self._handing_back = True
            raise TaskHandedBack()

    def reset_signals(self) -> None:
        # Stopping already: a further request must not kill the process mid-way (the
        # default action) nor change how it ends.
        for name in ("SIGINT", "SIGTERM", "SIGQUIT"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)

    def run(self) -> None:
        logger.info(
            "Starting worker worker_id=%s queues=%s", self.worker_id, ",".join(self.queue_names)
        )
        if self.startup_delay and self.interval:
            self._wake.wait(random.random())
        while self.running:
            close_old_connections()
            claimed, looked = self._claim_next()
            if claimed is not None:
                if self.running:
                    self.run_task(claimed)
                else:  # the stop request came while it was being claimed
                    self._hand_back(claimed)
            elif self.batch and looked:
                logger.info("No more tasks to run for worker_id=%s - exiting.", self.worker_id)
                return
            close_old_connections()
            if self.running and claimed is None:
                # An Event, not sleep: a stop request ends the wait at once.
                self._wake.wait(self.interval)

    def _claim_next(self) -> tuple[Any, bool]:
        """The next ready task, claimed for this worker (or None), and whether the queue
        could be read at all (a locked SQLite database is tried again later)."""
        tasks = DBTaskResult.objects.ready().filter(
            backend_name=self.backend_name, queue_name__in=self.queue_names
        )
        try:
            with exclusive_transaction(tasks.db):
                claimed = tasks.get_locked()
                if claimed is not None:
                    claimed.claim(self.worker_id)
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None, False
            raise
        return claimed, True

    def run_task(self, db_task_result: Any) -> None:
        library_set_failed = db_task_result.set_failed

        def set_failed(exc: BaseException) -> None:
            if isinstance(exc, TaskHandedBack):
                self._hand_back(db_task_result)
            else:
                library_set_failed(exc)

        # The library records any exception out of the task as a failure: one raised
        # by the stop request is not the task's, and the task is to run again.
        db_task_result.set_failed = set_failed
        super().run_task(db_task_result)

    def _hand_back(self, db_task_result: Any) -> None:
        if self._handing_back:
            # The request was raised into the task, maybe while its database connection
            # was waiting for an answer (PostgreSQL then refuses any other command on
            # it): a new connection records the hand-back.
            with contextlib.suppress(Exception):
                connections[db_task_result._state.db or "default"].close()
        db_task_result.status = TaskResultStatus.READY
        db_task_result.started_at = None
        db_task_result.finished_at = None
        db_task_result.save(update_fields=["status", "started_at", "finished_at"])
        logger.warning("task %s handed back to the queue", db_task_result.pk)
