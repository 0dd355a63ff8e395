"""The periodic check of every marketplace channel's health (warnings, once per crossing)."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from comptoir.jobs.periodic import periodic


# Marketplaces recompute their figures daily at most: hourly is early enough to warn.
@periodic("health.check", every=timedelta(hours=1))
@task()
def check_health() -> int:
    """Warn the owners and admins about the metrics that reached a new level."""
    from comptoir.health.warnings import check

    return check()
