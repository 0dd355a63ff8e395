"""Proactive care's periodic detection (docs/care.md)."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from comptoir.care import sweep
from comptoir.jobs.periodic import periodic


@periodic("care.detect", every=timedelta(minutes=30))
@task()
def detect_at_risk() -> dict[str, int]:
    """Orders at risk found, and those no longer at risk resolved; a re-run changes nothing."""
    return sweep.detect()
