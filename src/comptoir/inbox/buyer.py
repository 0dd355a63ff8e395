"""The buyer beside a conversation (the conversation page's side panel): identities, other
conversations and orders, each one prepared query (`inbox.prepared`: the ORM built these three
in a sixth of the page's time)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import F, Q, QuerySet

from comptoir.accounts.permissions import sees_everything
from comptoir.inbox.models import Conversation, CustomerIdentity
from comptoir.inbox.page_reads import stand_in
from comptoir.inbox.permissions import visible_channels, visible_conversations
from comptoir.inbox.prepared import Prepared

if TYPE_CHECKING:
    from comptoir.accounts.models import User

BUYER_PANEL_ROWS = 10


@dataclass(frozen=True)
class BuyerPanel:
    identities: list[Any]
    conversations: list[Conversation]
    orders: list[Any]


def _identities(sees_all: bool, user: int, customer: int, channel: int) -> QuerySet[Any]:
    channels = visible_channels(stand_in(user, sees_all)).values("pk")
    return (
        CustomerIdentity.objects.filter(customer_id=customer)
        .filter(Q(channel_id__in=channels) | Q(channel_id=channel))
        .only("kind", "value")
        .annotate(channel_name=F("channel__name"))
        .order_by("kind", "value")[:20]
    )


def _others(sees_all: bool, user: int, customer: int, conversation: int) -> QuerySet[Any]:
    return (
        visible_conversations(stand_in(user, sees_all))
        .filter(customer_id=customer)
        .exclude(pk=conversation)
        .only("subject", "status")
        .annotate(channel_name=F("channel__name"))
        .order_by(F("last_message_at").desc(nulls_last=True), "-id")[:BUYER_PANEL_ROWS]
    )


def _orders(sees_all: bool, user: int, customer: int) -> QuerySet[Any]:
    from comptoir.orders.models import Order

    channels = visible_channels(stand_in(user, sees_all)).values("pk")
    return (
        Order.objects.filter(customer_id=customer, channel__in=channels)
        .only("external_id", "status", "total", "currency", "tracking_url")
        .order_by(F("ordered_at").desc(nulls_last=True), "-id")[:BUYER_PANEL_ROWS]
    )


IDENTITIES = Prepared(_identities, "user", "customer", "channel")
OTHERS = Prepared(_others, "user", "customer", "conversation")
ORDERS = Prepared(_orders, "user", "customer")


def buyer_panel(conv: Conversation, user: User) -> BuyerPanel:
    """The buyer beside a conversation: identities, other conversations and orders on the
    channels `user` sees (and this one's), newest first, in three queries. Nothing of what the
    buyer wrote to another team: neither its channel's name nor the buyer's alias there."""
    if conv.customer_id is None or not user.is_active:
        return BuyerPanel([], [], [])
    sees_all = sees_everything(user)
    shape = {"sees_all": sees_all}
    ids = {"user": user.pk, "customer": conv.customer_id}
    return BuyerPanel(
        IDENTITIES.all(sees_all, shape, **ids, channel=conv.channel_id),
        OTHERS.all(sees_all, shape, **ids, conversation=conv.pk),
        ORDERS.all(sees_all, shape, **ids),
    )
