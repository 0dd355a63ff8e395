"""The audit log's retention: entries older than COMPTOIR_AUDIT_RETENTION_DAYS are deleted,
daily (0 keeps them for ever)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.tasks import task
from django.utils import timezone

from comptoir.audit.models import AuditEvent
from comptoir.jobs.periodic import periodic

BATCH = 2000


def prune(now: datetime | None = None) -> int:
    """Delete the entries past their retention, in batches (a first run on a long-lived
    install never holds the write lock for long). The one deletion the log allows."""
    days = settings.AUDIT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    total = 0
    while True:
        ids = list(
            AuditEvent.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:BATCH]
        )
        if not ids:
            return total
        total += AuditEvent.objects.filter(pk__in=ids).delete()[0]


@periodic("audit.prune", every=timedelta(days=1))
@task()
def prune_audit_log() -> int:
    return prune()
