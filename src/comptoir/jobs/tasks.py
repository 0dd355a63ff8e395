"""The machinery's own periodic job: housekeeping (see jobs.housekeeping)."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from comptoir.jobs import housekeeping
from comptoir.jobs.periodic import periodic


@periodic("jobs.housekeeping", every=timedelta(hours=1))
@task()
def prune() -> dict[str, int]:
    """Finished task results, periodic-job history and expired sessions past their retention;
    SQLite's planner statistics."""
    return housekeeping.run()
