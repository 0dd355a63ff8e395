"""The retention job: conversations past their shop's retention, anonymised or deleted."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from comptoir.jobs.periodic import periodic
from comptoir.privacy import actions


@periodic("privacy.retention", every=timedelta(days=1))
@task()
def apply_retention() -> dict[str, int]:
    return actions.apply_retention()
