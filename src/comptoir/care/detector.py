"""Which orders are at risk, and why: pure functions over what order sync stored.

`reasons_for(order, now=..., stall_days=..., open_since=...)` answers for one order; the
periodic sweep (`care.sweep`) runs it over the candidate orders and keeps one `AtRisk` row per
order and reason. No database here: the tests build orders for each situation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from comptoir.care.models import Reason

# The order has left the seller's hands one way or another: nothing to ship or deliver.
CLOSED = frozenset({"cancelled", "refunded", "returned"})
SHIPPED = frozenset({"shipped", "delivered"})


class OrderFacts(Protocol):
    """What the detector reads of an order (an `orders.Order` has all of it)."""

    status: str
    ship_by: datetime | None
    shipped_at: datetime | None
    expected_delivery_at: datetime | None
    delivered_at: datetime | None
    tracking_changed_at: datetime | None


@dataclass(frozen=True)
class Finding:
    reason: Reason
    # The date the marketplace holds the seller to for this reason, when known.
    deadline: datetime | None


def is_delivered(order: OrderFacts) -> bool:
    return order.delivered_at is not None or order.status == "delivered"


def is_shipped(order: OrderFacts) -> bool:
    return order.shipped_at is not None or order.status in SHIPPED


def not_shipped(order: OrderFacts, now: datetime) -> Finding | None:
    """Past its ship-by date and not shipped (nor cancelled, refunded or returned)."""
    if order.status in CLOSED or is_shipped(order) or order.ship_by is None:
        return None
    return Finding(Reason.NOT_SHIPPED, order.ship_by) if order.ship_by < now else None


def tracking_stalled(order: OrderFacts, now: datetime, stall_days: int) -> Finding | None:
    """Shipped, not delivered, and no sync has seen the parcel move for `stall_days` days
    (since it shipped, when no sync recorded a move)."""
    if order.status in CLOSED or not is_shipped(order) or is_delivered(order):
        return None
    last_move = order.tracking_changed_at or order.shipped_at
    if last_move is None or now - last_move < timedelta(days=stall_days):
        return None
    return Finding(Reason.TRACKING_STALLED, order.expected_delivery_at)


def delivery_missed(order: OrderFacts, now: datetime) -> Finding | None:
    """The promised delivery date has passed and the parcel is not delivered."""
    if order.status in CLOSED or is_delivered(order) or order.expected_delivery_at is None:
        return None
    if order.expected_delivery_at >= now:
        return None
    return Finding(Reason.DELIVERY_MISSED, order.expected_delivery_at)


def delivered_while_open(
    order: OrderFacts, open_since: datetime | None, respond_by: datetime | None = None
) -> Finding | None:
    """Delivered while a conversation about the order, opened before the delivery, is still
    open: the buyer asked where it was and has it now; tell them and close it."""
    if not is_delivered(order) or open_since is None:
        return None
    delivered = order.delivered_at
    if delivered is not None and open_since > delivered:
        return None  # written after it arrived: about something else (a return, a defect)
    return Finding(Reason.DELIVERED_OPEN, respond_by)


def reasons_for(
    order: OrderFacts,
    *,
    now: datetime,
    stall_days: int,
    open_since: datetime | None = None,
    respond_by: datetime | None = None,
) -> list[Finding]:
    """Every reason this order is at risk now. `open_since`: when the oldest still-open
    conversation about it began (None: none open); `respond_by`: that conversation's deadline.
    A parcel both stalled and late is listed for both: the promised date is the one the
    marketplace measures, the stall says why."""
    found = [
        not_shipped(order, now),
        tracking_stalled(order, now, stall_days),
        delivery_missed(order, now),
        delivered_while_open(order, open_since, respond_by),
    ]
    return [f for f in found if f is not None]
