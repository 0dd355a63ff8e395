"""Orders as the marketplaces report them: stored once per (channel, external id), kept fresh."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.accounts.models import User
from comptoir.accounts.permissions import require_write
from comptoir.connectors.base import ConnectorError, OrderData
from comptoir.connectors.registry import connector_class
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.models import Channel, Conversation, Event, EventKind, Message
from comptoir.inbox.permissions import visible_channels
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
# What a sync sees of a parcel's journey: when one of them changes, the tracking moved.
TRACKING_FIELDS = (
    "status",
    "carrier",
    "tracking_number",
    "tracking_url",
    "expected_delivery_at",
    "delivered_at",
)
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
    before = (
        Order.objects.filter(channel=channel, external_id=data.external_id)
        .values(*TRACKING_FIELDS)
        .first()
    )
    previous = before["status"] if before else None
    if before is None or any(before[f] != values[f] for f in TRACKING_FIELDS):
        values["tracking_changed_at"] = values["synced_at"]
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
    if data.buyer is not None and data.buyer.name:
        inbox_actions.name_order_buyers(order, data.buyer.name)
    if order.status != previous and order.status in STATUS_EVENTS:
        _order_event(order, STATUS_EVENTS[OrderStatus(order.status)], previous=previous or "")
    return order


def can_message_buyer(conv: Conversation) -> bool:
    """Whether an agent may write first to the buyer of this conversation's order: the
    order's channel opens a thread on an order (Mirakl's OR43)."""
    if not conv.order_number:
        return False
    channel = _order_channel(conv)
    return channel is not None and _opens_order_threads(channel)


def message_buyer_about_order(
    conv: Conversation, *, actor: User, text: str, subject: str = "", via: str = ""
) -> Conversation:
    """Write first to the buyer of the order `conv` names, on the order's channel: a new
    conversation whose first message opens a thread on the order once delivered (it becomes
    the conversation's thread). The message is queued and sent like any reply; a send whose
    answer was lost is looked up on the order before being sent again (one thread, not two).
    """
    require_write(actor)
    channel = _order_channel(conv)
    if not conv.order_number or channel is None or not _opens_order_threads(channel):
        raise ValidationError("this conversation's marketplace cannot open a thread on an order")
    if not visible_channels(actor).filter(pk=channel.pk).exists():
        raise PermissionDenied(f"{actor.username} cannot write on {channel.name}")
    subject = (subject.strip() or _("About your order %(number)s") % {"number": conv.order_number})[
        :500
    ]
    with transaction.atomic():
        started = Conversation.objects.create(
            shop_id=channel.shop_id,
            channel=channel,
            team_id=channel.team_id or conv.team_id,
            customer_id=conv.customer_id,
            order_id=conv.order_id,
            order_number=conv.order_number,
            subject=subject,
        )
        Event.objects.create(
            conversation=started,
            kind=EventKind.CREATED,
            actor=actor,
            actor_label=via,
            data={"order_number": conv.order_number, "from_conversation": conv.pk},
        )
        message = inbox_actions.reply(started, actor=actor, text=text, via=via)
        # The first message names the thread's topic: the subject itself, not a "Re:".
        Message.objects.filter(pk=message.pk).update(subject=subject)
    return started


def _order_channel(conv: Conversation) -> Channel | None:
    """The channel that reads the conversation's order: its own unless the order is known
    from another channel (an Amazon order read through the SP-API beside a mailbox)."""
    order = conv.order if conv.order_id is not None else None
    if order is None or order.channel_id == conv.channel_id:
        return conv.channel
    return Channel.objects.filter(pk=order.channel_id).first()


def _opens_order_threads(channel: Channel) -> bool:
    try:
        return connector_class(channel.kind).opens_order_threads
    except ConnectorError:
        return False


def _conversations(order: Order) -> list[int]:
    return list(
        Conversation.objects.filter(
            order=order, deleted_at__isnull=True, merged_into__isnull=True
        ).values_list("pk", flat=True)
    )


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
    return len(inbox_actions.write_events(rows))


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
    return len(inbox_actions.write_events(rows))


def _decimal(value: str) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None
