"""The periodic detection: the detector over the orders that may be at risk, kept as `AtRisk`
rows (one per order and reason; resolved when the reason no longer holds)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from comptoir.care import detector
from comptoir.care.models import AtRisk
from comptoir.inbox.models import Conversation, Status
from comptoir.orders.models import Order

# Orders placed longer ago than this are history, not care.
LOOKBACK = timedelta(days=60)
OPEN_STATUSES = (Status.OPEN, Status.PENDING, Status.SNOOZED)
CHUNK = 500


def candidates(now: datetime) -> Q:
    """Orders the detector may flag: a superset, narrowed in SQL so the sweep reads few."""
    recent = Q(ordered_at__gte=now - LOOKBACK) | Q(
        ordered_at__isnull=True, created_at__gte=now - LOOKBACK
    )
    closed = Q(status__in=detector.CLOSED)
    late_to_ship = Q(ship_by__lt=now, shipped_at__isnull=True)
    on_the_way = (Q(shipped_at__isnull=False) | Q(status="shipped")) & Q(delivered_at__isnull=True)
    delivered = Q(delivered_at__isnull=False) | Q(status="delivered")
    open_conv = Q(
        conversations__status__in=OPEN_STATUSES,
        conversations__deleted_at__isnull=True,
        conversations__merged_into__isnull=True,
    )
    return recent & ~closed & (late_to_ship | on_the_way | (delivered & open_conv))


def _open_conversations(order_ids: list[int]) -> dict[int, tuple[datetime, datetime | None]]:
    """Per order: when its oldest open conversation began, and the earliest respond-by."""
    rows = (
        Conversation.objects.filter(
            order_id__in=order_ids,
            status__in=OPEN_STATUSES,
            deleted_at__isnull=True,
            merged_into__isnull=True,
        )
        .values("order_id")
        .annotate(since=Min("created_at"), due=Min("respond_by"))
    )
    return {r["order_id"]: (r["since"], r["due"]) for r in rows}


def detect(now: datetime | None = None, stall_days: int | None = None) -> dict[str, int]:
    """Run the detector over every candidate order; returns how many rows were opened and
    resolved. Safe to run twice at once: rows are unique per order and reason."""
    now = now or timezone.now()
    stall = stall_days or settings.CARE_TRACKING_STALL_DAYS
    found: dict[tuple[int, str], tuple[Order, detector.Finding]] = {}
    orders = Order.objects.filter(candidates(now)).distinct().order_by("pk")
    ids = list(orders.values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK):
        chunk = list(Order.objects.filter(pk__in=ids[start : start + CHUNK]).order_by("pk"))
        conversations = _open_conversations([o.pk for o in chunk])
        for order in chunk:
            since, due = conversations.get(order.pk, (None, None))
            for finding in detector.reasons_for(
                order, now=now, stall_days=stall, open_since=since, respond_by=due
            ):
                found[(order.pk, finding.reason)] = (order, finding)
    return _store(found, now)


def _store(
    found: dict[tuple[int, str], tuple[Order, detector.Finding]], now: datetime
) -> dict[str, int]:
    with transaction.atomic():
        existing = {
            (r.order_id, r.reason): r
            for r in AtRisk.objects.filter(
                Q(resolved_at__isnull=True) | Q(order_id__in={k[0] for k in found})
            )
        }
        gone = [r.pk for k, r in existing.items() if k not in found and r.resolved_at is None]
        resolved = AtRisk.objects.filter(pk__in=gone).update(resolved_at=now)
        opened = 0
        new: list[AtRisk] = []
        for key, (order, finding) in found.items():
            row = existing.get(key)
            if row is None:
                new.append(
                    AtRisk(
                        order=order,
                        shop_id=order.shop_id,
                        channel_id=order.channel_id,
                        reason=finding.reason,
                        deadline=finding.deadline,
                        detected_at=now,
                    )
                )
            elif row.resolved_at is not None or row.deadline != finding.deadline:
                # Back at risk (the parcel stalled again), or its deadline moved.
                opened += row.resolved_at is not None
                AtRisk.objects.filter(pk=row.pk).update(resolved_at=None, deadline=finding.deadline)
        AtRisk.objects.bulk_create(new, ignore_conflicts=True)
    return {"opened": opened + len(new), "resolved": resolved}
