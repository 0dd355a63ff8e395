"""Orders as the marketplaces report them: stored once per (channel, external id), kept fresh."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from comptoir.connectors.base import OrderData
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.models import Channel
from comptoir.orders.models import Order


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
    return order


def _decimal(value: str) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None
