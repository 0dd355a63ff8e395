"""`comptoir worker`: run background tasks and the periodic scheduler."""

from __future__ import annotations

import gc
import importlib
import math
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS

from comptoir.jobs.runner import WorkerConfigError, WorkerOptions, default_worker_id, run


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ArgumentTypeError("must be a number of seconds greater than 0")
    return number


def _worker_id(value: str) -> str:
    # Stored in django-tasks-db's worker_ids and PeriodicJob.last_claimed_by (64 characters).
    if not value or len(value) > 64 or any(c.isspace() for c in value):
        raise ArgumentTypeError("1 to 64 characters, no spaces")
    return value


def _add_run_arguments(parser: ArgumentParser) -> None:
    """Once or until stopped, under which name, with the scheduler or not."""
    parser.add_argument(
        "--batch",
        action="store_true",
        help=(
            "Run every task that is due now, then exit (RQ: burst mode). The scheduler "
            "ticks once first, so the periodic jobs due now run too. For tests and cron."
        ),
    )
    parser.add_argument(
        "--worker-id",
        type=_worker_id,
        default=None,
        help=(
            "Name of this worker, unique among running workers; recorded on the tasks it "
            "runs and the periodic ticks it claims (default: host.pid.random)."
        ),
    )
    parser.add_argument(
        "--no-scheduler",
        dest="scheduler",
        action="store_false",
        help="Only run tasks; leave the periodic jobs to other workers.",
    )


def _add_timing_arguments(parser: ArgumentParser) -> None:
    """How often the scheduler ticks and an empty queue is looked at."""
    parser.add_argument(
        "--interval",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="Seconds between two scheduler ticks (default: %(default)s).",
    )
    parser.add_argument(
        "--poll-interval",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help=(
            "Database backend: seconds between two looks at an empty queue "
            "(default: %(default)s). RQ is woken by Redis instead."
        ),
    )


def _add_source_arguments(parser: ArgumentParser) -> None:
    """Which tasks: the queues, the backend, the modules that register periodic jobs."""
    parser.add_argument(
        "--queue",
        dest="queues",
        action="append",
        default=[],
        metavar="NAME",
        help="A queue to work on; repeat for several (default: every configured queue).",
    )
    parser.add_argument(
        "--backend",
        default=DEFAULT_TASK_BACKEND_ALIAS,
        metavar="ALIAS",
        help="The TASKS backend to work for (default: %(default)s).",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help=(
            "Import this module first, for periodic jobs registered outside an installed "
            "app's tasks.py (those are found on their own); repeat for several."
        ),
    )


class Command(BaseCommand):
    help = (
        "Run queued background tasks and the periodic scheduler (channel polling, snooze "
        "wake-ups, purges) with the tasks backend of COMPTOIR_TASKS_BACKEND: the database "
        "(django-tasks-db) or Redis (RQ). Run as many workers as you like, on one machine or "
        "several: each task runs once, and each periodic tick is enqueued by one worker. "
        "SIGINT/SIGTERM lets the running task finish, then exits (at once when idle); a second "
        "one hands the running task back to its queue and exits, with status 0 either way."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        _add_run_arguments(parser)
        _add_timing_arguments(parser)
        _add_source_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        for module in options["imports"]:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise CommandError(f"--import {module}: {exc}") from exc
        worker_options = WorkerOptions(
            worker_id=options["worker_id"] or default_worker_id(),
            backend_alias=options["backend"],
            queues=options["queues"],
            batch=options["batch"],
            scheduler=options["scheduler"],
            interval=options["interval"],
            poll_interval=options["poll_interval"],
            verbosity=options["verbosity"],
        )
        try:
            run(worker_options)
        except WorkerConfigError as exc:
            raise CommandError(str(exc)) from exc
        # The process ends now. The interpreter's last garbage collection walks every object
        # Django and the apps loaded, over a second on a busy machine: a stop request would
        # wait for it. Frozen objects are left to the exit, which frees them all anyway.
        gc.freeze()
