"""Leases: one holder at a time, renewable, free again once expired or released."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from comptoir.jobs import leases
from comptoir.jobs.models import Lease

TTL = timedelta(minutes=2)


def test_a_held_lease_refuses_another_holder_until_it_expires(db: None) -> None:
    assert leases.hold("mailbox", "worker-a", TTL)
    assert not leases.hold("mailbox", "worker-b", TTL)
    assert leases.hold("mailbox", "worker-a", TTL)  # renewal

    Lease.objects.filter(name="mailbox").update(expires_at=timezone.now() - timedelta(seconds=1))

    assert leases.hold("mailbox", "worker-b", TTL)
    assert not leases.hold("mailbox", "worker-a", TTL)
    assert Lease.objects.get(name="mailbox").holder == "worker-b"


def test_renewal_pushes_the_expiry_forward(db: None) -> None:
    leases.hold("mailbox", "worker-a", timedelta(seconds=5))
    first = Lease.objects.get(name="mailbox").expires_at

    leases.hold("mailbox", "worker-a", TTL)

    assert Lease.objects.get(name="mailbox").expires_at > first + timedelta(minutes=1)


def test_only_the_holder_releases(db: None) -> None:
    leases.hold("mailbox", "worker-a", TTL)

    leases.release("mailbox", "worker-b")
    assert not leases.hold("mailbox", "worker-b", TTL)

    leases.release("mailbox", "worker-a")
    assert leases.hold("mailbox", "worker-b", TTL)


def test_leases_are_independent(db: None) -> None:
    assert leases.hold("mailbox-1", "worker-a", TTL)
    assert leases.hold("mailbox-2", "worker-b", TTL)
