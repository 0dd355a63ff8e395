"""Orders as the marketplaces report them: stored once per (channel, external id), kept fresh."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from comptoir.connectors.base import OrderData
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.models import Channel, Conversation, Event, EventKind
from comptoir.orders.models import Order, OrderStatus

# The event written on an order's conversations when its status becomes one of these.
STATUS_EVENTS = {
    OrderStatus.SHIPPED: EventKind.ORDER_SHIPPED,
    OrderStatus.DELIVERED: EventKind.ORDER_DELIVERED,
}
NOT_LATE = [
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.CANCELLED,
    OrderStatus.REFUNDED,
    OrderStatus.RETURNED,
]
# Late orders older than this when first seen late are old news, not an event.
LATE_LOOKBACK = timedelta(days=3)


def store_order(channel: Channel, data: OrderData) -> Order:
    """Create or update the channel's order; conversations that name it get it beside them."""
    values = {
        "status": data.status,
        "currency": data.currency or "EUR",
        "total": _decimal(data.total),
        "items": [item.model_dump() for item in data.items],
        "ordered_at": data.ordered_at,
        "ship_by": data.ship_by,
        "shipped_at": data.shipped_at,
        "expected_delivery_at": data.expected_delivery_at,
        "delivered_at": data.delivered_at,
        "carrier": data.carrier,
        "tracking_number": data.tracking_number,
        "tracking_url": data.tracking_url,
        "synced_at": timezone.now(),
    }
    previous = (
        Order.objects.filter(channel=channel, external_id=data.external_id)
        .values_list("status", flat=True)
        .first()
    )
    try:
        with transaction.atomic():
            order, _ = Order.objects.update_or_create(
                channel=channel,
                external_id=data.external_id,
                defaults=values,
                create_defaults={**values, "shop_id": channel.shop_id},
            )
    except IntegrityError:  # created meanwhile by another worker: update theirs
        order = Order.objects.get(channel=channel, external_id=data.external_id)
        Order.objects.filter(pk=order.pk).update(**values)
        order.refresh_from_db()
    inbox_actions.link_conversations_to_order(order)
    if order.status != previous and order.status in STATUS_EVENTS:
        _order_event(order, STATUS_EVENTS[OrderStatus(order.status)], previous=previous or "")
    return order


def _conversations(order: Order) -> list[int]:
    return list(
        Conversation.objects.filter(
            order=order, deleted_at__isnull=True, merged_into__isnull=True
        ).values_list("pk", flat=True)
    )


@transaction.atomic
def _order_event(order: Order, kind: str, **data: str) -> int:
    """The order's news on each of its conversations' timelines (where the rules see it)."""
    rows = [
        Event(
            conversation_id=pk,
            kind=kind,
            actor_label="orders",
            data={"order": order.pk, "order_number": order.external_id, **data},
        )
        for pk in _conversations(order)
    ]
    Event.objects.bulk_create(rows)
    if rows:
        from comptoir.automation.engine import kick

        kick()
    return len(rows)


def record_late_orders(now: datetime | None = None) -> int:
    """Orders past their ship-by date and not shipped get an `order_late` event on each of
    their conversations, once; set-based. Returns how many events were written."""
    now = now or timezone.now()
    already = Event.objects.filter(conversation_id=OuterRef("pk"), kind=EventKind.ORDER_LATE)
    late = (
        Conversation.objects.filter(
            deleted_at__isnull=True,
            merged_into__isnull=True,
            order__ship_by__lt=now,
            order__ship_by__gte=now - LATE_LOOKBACK,
            order__shipped_at__isnull=True,
        )
        .exclude(order__status__in=NOT_LATE)
        .exclude(Exists(already))
        .values_list("pk", "order_id", "order__external_id")
    )
    rows = [
        Event(
            conversation_id=pk,
            kind=EventKind.ORDER_LATE,
            actor_label="orders",
            data={"order": order_id, "order_number": number},
            created_at=now,
        )
        for pk, order_id, number in late[:5000]
    ]
    with transaction.atomic():
        Event.objects.bulk_create(rows)
        if rows:
            from comptoir.automation.engine import kick

            kick()
    return len(rows)


def _decimal(value: str) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None
