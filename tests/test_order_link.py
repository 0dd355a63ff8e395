"""The buyer's order beside the conversation: found at ingest from the order number the
message names, or linked when the order arrives later, or by an agent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest, ingest_many
from comptoir.inbox.models import Channel, Conversation, EventKind, Shop
from comptoir.orders.models import Order
from tests.conftest import ago

Build = Callable[..., InboundMessage]


def order(channel: Channel, number: str) -> Order:
    return Order.objects.create(shop=channel.shop, channel=channel, external_id=number)


def test_a_message_naming_a_known_order_shows_that_order(
    make_inbound: Build, channel: Channel
) -> None:
    known = order(channel, "10234")

    result = ingest(make_inbound(order_number="10234"))

    conv = Conversation.objects.get(pk=result.conversation_id)
    assert conv.order_id == known.pk


def test_the_order_of_another_channel_of_the_shop_is_found(
    make_inbound: Build, channel: Channel, shop: Shop
) -> None:
    # Amazon mail comes to the mailbox; the order itself is known from the Amazon channel.
    amazon = Channel.objects.create(shop=shop, kind="api", marketplace="amazon", name="Amazon")
    known = order(amazon, "171-1234567-1234567")
    other_shop = Shop.objects.create(name="Autre boutique", slug="autre")
    other_channel = Channel.objects.create(shop=other_shop, kind="api", name="Ailleurs")
    order(other_channel, "999-0000000-0000000")

    first = ingest(make_inbound(order_number="171-1234567-1234567"))
    stranger = ingest(make_inbound(order_number="999-0000000-0000000", external_id="x-2"))

    assert Conversation.objects.get(pk=first.conversation_id).order_id == known.pk
    assert Conversation.objects.get(pk=stranger.conversation_id).order_id is None


def test_the_conversations_own_channel_wins_over_another_with_the_same_number(
    make_inbound: Build, channel: Channel, shop: Shop
) -> None:
    other = Channel.objects.create(shop=shop, kind="api", marketplace="fnac", name="Fnac")
    order(other, "5531")
    mine = order(channel, "5531")

    result = ingest(make_inbound(order_number="5531"))

    assert Conversation.objects.get(pk=result.conversation_id).order_id == mine.pk


def test_a_later_message_links_the_order_a_conversation_lacked(
    make_inbound: Build, channel: Channel
) -> None:
    first = ingest(make_inbound(sent_at=ago(hours=2), thread_id="t-1"))
    known = order(channel, "10234")

    ingest(make_inbound(thread_id="t-1", order_number="10234"))

    conv = Conversation.objects.get(pk=first.conversation_id)
    assert (conv.order_id, conv.order_number) == (known.pk, "10234")


def test_bulk_import_links_orders_too(make_inbound: Build, channel: Channel) -> None:
    known = order(channel, "77001")
    msgs = [make_inbound(order_number="77001"), make_inbound(order_number="77002")]

    ingest_many(msgs, batch_size=10)

    linked = dict(Conversation.objects.values_list("order_number", "order_id"))
    assert linked == {"77001": known.pk, "77002": None}


def test_an_order_stored_after_the_message_joins_the_conversations_naming_it(
    make_inbound: Build, channel: Channel
) -> None:
    result = ingest(make_inbound(order_number="10234"))
    conv = Conversation.objects.get(pk=result.conversation_id)
    assert conv.order_id is None

    known = order(channel, "10234")
    assert actions.link_conversations_to_order(known) == 1
    assert actions.link_conversations_to_order(known) == 0  # done once

    conv.refresh_from_db()
    assert conv.order_id == known.pk
    event = conv.events.get(kind=EventKind.ORDER_LINKED)
    assert event.data["order_number"] == "10234"
    assert event.actor_label == "orders"


def test_an_agent_links_another_order_and_not_another_shops(
    make_inbound: Build, channel: Channel, agent: User
) -> None:
    result = ingest(make_inbound())
    conv = Conversation.objects.get(pk=result.conversation_id)
    known = order(channel, "10234")

    actions.link_order(conv, order=known, actor=agent)

    conv.refresh_from_db()
    assert (conv.order_id, conv.order_number) == (known.pk, "10234")
    assert conv.events.filter(kind=EventKind.ORDER_LINKED, actor=agent).count() == 1
    foreign_shop = Shop.objects.create(name="Autre boutique", slug="autre")
    foreign = Order.objects.create(
        shop=foreign_shop,
        channel=Channel.objects.create(shop=foreign_shop, kind="api", name="Ailleurs"),
        external_id="1",
    )
    with pytest.raises(ValidationError, match="another shop"):
        actions.link_order(conv, order=foreign, actor=agent)
