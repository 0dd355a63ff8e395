"""The demo's account health: the year's parcels carry their tracking numbers (the history is
generated without them), and Fnac ships a few orders late, enough to sit in the warning band of
its threshold, so that the page shows a warning before a breach; then the periodic check runs
once, as the worker would, and tells the owners and admins."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from comptoir.health import report, warnings
from comptoir.health.metrics import order_facts
from comptoir.health.thresholds import Metric, rules_for
from comptoir.inbox.models import Channel
from comptoir.lib.text import chunks
from comptoir.orders.models import Order

# One parcel in this many goes without a tracking number (letters, a lost label).
UNTRACKED_EVERY = 80
# Where Fnac's late-shipment rate is placed: this share of its threshold.
FNAC_SHARE = 0.9


def _track(now: datetime) -> None:
    ids = list(
        Order.objects.filter(shipped_at__isnull=False, tracking_number="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for chunk in chunks([pk for pk in ids if pk % UNTRACKED_EVERY], 500):
        orders = list(Order.objects.filter(pk__in=chunk))
        for order in orders:
            order.carrier = order.carrier or "Colissimo"
            order.tracking_number = f"6A{order.pk:011d}"
        Order.objects.bulk_update(orders, ["carrier", "tracking_number"])


def _late_at_fnac(now: datetime) -> None:
    fnac = Channel.objects.filter(marketplace="fnac").order_by("pk").first()
    if fnac is None:
        return
    rule = next(r for r in rules_for("fnac") if r.metric == Metric.LATE_SHIPMENT)
    start = now - timedelta(days=rule.window_days)
    facts = order_facts([fnac.pk], start, now)[fnac.pk]
    measure = facts.shipping.measure(start, now)
    missing = math.floor(FNAC_SHARE * rule.limit * measure.whole) - measure.bad
    on_time = Order.objects.filter(
        channel=fnac, ship_by__gte=start, ship_by__lt=now - timedelta(days=2),
        shipped_at__isnull=False,
    ).order_by("pk")  # fmt: skip
    late = []
    for order in on_time[: max(missing, 0)]:
        assert order.ship_by is not None
        order.shipped_at = order.ship_by + timedelta(hours=20)
        late.append(order)
    Order.objects.bulk_update(late, ["shipped_at"])


def seed(*, now: datetime) -> str:
    _track(now)
    _late_at_fnac(now)
    channels = list(Channel.objects.filter(is_active=True).order_by("pk"))
    states = [h.state for h in report.build(channels, now, trend=False)]
    sent = warnings.check(now)
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("ok", "warning", "breached"))
    return f"account health: {counts} ({sent} warnings sent)"
