"""Leases: one holder at a time, by conditional UPDATE (no lock held between calls)."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from comptoir.jobs.models import Lease


def hold(name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease; False when another holder's lease has not expired."""
    now = timezone.now()
    taken = Lease.objects.filter(Q(holder=holder) | Q(expires_at__lt=now), name=name).update(
        holder=holder, expires_at=now + ttl
    )
    if taken:
        return True
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, holder=holder, expires_at=now + ttl)
    except IntegrityError:  # someone else holds it (or took it just now)
        return False
    return True


def release(name: str, holder: str) -> None:
    Lease.objects.filter(name=name, holder=holder).delete()
