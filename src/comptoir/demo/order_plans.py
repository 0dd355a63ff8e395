"""The order a demo conversation is about: what was bought, how it travels, and where it is
when the buyer writes."""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from comptoir.demo import phrases
from comptoir.demo.plan import Ids, OrderPlan, weighted
from comptoir.demo.world import DAY, ChannelSpec
from comptoir.orders.models import OrderStatus


class _Journey(NamedTuple):
    ordered: datetime
    shipped: datetime | None
    expected: datetime | None
    delivered: datetime | None
    status: str


def plan_order(
    rng: random.Random,
    ids: Ids,
    spec: ChannelSpec,
    intent: str,
    outcome: str,
    first_message: datetime,
    *,
    now: datetime,
) -> OrderPlan | None:
    # A question before buying, where the demo's simulator can answer one: Octopia's
    # discussions are all about an order, and the Fnac simulator has no offer threads.
    if (
        intent == "product_question"
        and rng.random() < 0.6
        and spec.key not in ("cdiscount", "fnac")
    ):
        return None
    items, total = _basket(rng, spec)
    carrier, tracking, url = _parcel(rng)
    journey = _journey(rng, intent, outcome, first_message, now=now)
    shipped_ok = journey.shipped is not None
    return OrderPlan(
        external_id=ids.order_number(spec, journey.ordered),
        status=journey.status,
        items=items,
        total=total,
        ordered_at=journey.ordered,
        ship_by=journey.ordered + 2 * DAY,
        shipped_at=journey.shipped,
        expected_delivery_at=journey.expected,
        delivered_at=journey.delivered,
        carrier=carrier if shipped_ok else "",
        tracking_number=tracking if shipped_ok else "",
        tracking_url=url.format(tracking) if shipped_ok else "",
    )


def _basket(rng: random.Random, spec: ChannelSpec) -> tuple[list[dict[str, object]], Decimal]:
    catalogue = phrases.CATALOGUE[spec.shop]
    count = weighted(rng, [(1, 70), (2, 22), (3, 8)])
    items: list[dict[str, object]] = []
    total = Decimal("0")
    for sku, title, price in rng.sample(catalogue, count):
        quantity = 2 if rng.random() < 0.1 else 1
        items.append({"sku": sku, "title": title, "quantity": quantity, "unit_price": price})
        total += Decimal(price) * quantity
    return items, total


def _parcel(rng: random.Random) -> tuple[str, str, str]:
    """A carrier, a tracking number in its format, and its tracking page."""
    carrier = weighted(rng, [(name, w) for name, (w, _, _) in phrases.CARRIERS.items()])
    _, pattern, url = phrases.CARRIERS[carrier]
    tracking = "".join(
        str(rng.randrange(10)) if c == "#" else rng.choice(string.ascii_uppercase)
        if c == "A" else c
        for c in pattern
    )  # fmt: skip
    return carrier, tracking, url


def _journey(
    rng: random.Random, intent: str, outcome: str, first_message: datetime, *, now: datetime
) -> _Journey:
    """When the order was placed, shipped and delivered, as the buyer's question implies."""

    def hours(lo: int, hi: int) -> timedelta:
        return timedelta(minutes=rng.randint(lo * 60, hi * 60))

    t0 = first_message
    if intent == "cancellation":
        status = OrderStatus.CANCELLED if outcome == "resolved" else OrderStatus.ACCEPTED
        return _Journey(t0 - hours(1, 20), None, None, None, status)
    if intent == "where_is_order":
        ordered = t0 - hours(50, 140)
        if rng.random() < 0.2:  # late: not shipped by the promised date
            return _Journey(ordered, None, None, None, OrderStatus.ACCEPTED)
        shipped = ordered + hours(8, 30)
        expected = shipped + hours(48, 120)
        if outcome == "resolved" and expected < now:
            return _Journey(ordered, shipped, expected, expected, OrderStatus.DELIVERED)
        return _Journey(ordered, shipped, expected, None, OrderStatus.SHIPPED)
    if intent == "not_received":
        ordered = t0 - hours(8 * 24, 20 * 24)
        shipped = ordered + hours(8, 30)
        return _Journey(ordered, shipped, shipped + hours(48, 96), None, OrderStatus.SHIPPED)
    back = hours(10 * 24, 20 * 24) if intent == "refund" else hours(2, 6 * 24)
    delivered = t0 - back
    shipped = delivered - hours(30, 90)
    ordered = shipped - hours(6, 40)
    status = OrderStatus.DELIVERED
    if outcome == "resolved" and intent == "return":
        status = OrderStatus.RETURNED
    elif outcome == "resolved" and intent == "refund":
        status = OrderStatus.REFUNDED
    return _Journey(ordered, shipped, delivered, delivered, status)
