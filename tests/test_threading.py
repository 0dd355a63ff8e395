"""Threading: which conversation a message joins, whatever mailbox and order it arrives in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.test import Client
from django.urls import reverse

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Event, Shop
from tests.conftest import ago

Build = Callable[..., InboundMessage]

LEA = {"identity_value": "lea@example.com", "email": "lea@example.com", "name": "Léa"}
MARC = {"identity_value": "marc@example.com", "email": "marc@example.com", "name": "Marc"}


# -- threading stays inside one channel ------------------------------------------------------


def test_a_reply_delivered_to_another_mailbox_opens_a_conversation_there(
    make_inbound: Build, channel: Channel, shop: Shop
) -> None:
    other = Channel.objects.create(shop=shop, kind="email", name="SAV mailbox")
    first = ingest(make_inbound(message_id="<q1@buyer>", sent_at=ago(hours=3)))

    reply = ingest(
        make_inbound(
            channel_id=other.pk,
            in_reply_to="<q1@buyer>",
            references=["<q1@buyer>"],
            sent_at=ago(hours=2),
        )
    )

    assert reply.conversation_id != first.conversation_id
    assert Conversation.objects.get(pk=reply.conversation_id).channel_id == other.pk
    assert Conversation.objects.get(pk=first.conversation_id).message_count == 1


def test_a_reply_token_of_another_channel_does_not_thread(
    make_inbound: Build, channel: Channel
) -> None:
    other_shop = Shop.objects.create(name="Autre boutique", slug="autre")
    other = Channel.objects.create(shop=other_shop, kind="email", name="Other shop")
    first = ingest(make_inbound(sent_at=ago(hours=3)))

    reply = ingest(make_inbound(channel_id=other.pk, conversation_hint=first.conversation_id))

    assert reply.conversation_id != first.conversation_id
    assert Conversation.objects.get(pk=reply.conversation_id).shop_id == other_shop.pk


# -- an order number alone never merges two senders ------------------------------------------


def test_another_sender_quoting_an_order_gets_a_conversation_of_their_own(
    make_inbound: Build,
) -> None:
    lea = ingest(make_inbound(sender=LEA, order_number="402-1111111-1111111", sent_at=ago(hours=3)))

    marc = ingest(
        make_inbound(sender=MARC, order_number="402-1111111-1111111", sent_at=ago(hours=2))
    )

    assert marc.conversation_id != lea.conversation_id
    conv = Conversation.objects.get(pk=marc.conversation_id)
    assert conv.customer is not None
    assert conv.customer.email == "marc@example.com"
    assert Conversation.objects.get(pk=lea.conversation_id).message_count == 1


def test_an_order_shared_by_two_senders_is_shown_as_a_suggestion_on_both(
    make_inbound: Build,
) -> None:
    lea = ingest(make_inbound(sender=LEA, order_number="402-2222222-1111111", sent_at=ago(hours=3)))
    marc = ingest(
        make_inbound(sender=MARC, order_number="402-2222222-1111111", sent_at=ago(hours=2))
    )

    suggested = {
        (e.conversation_id, e.data["conversation"]) for e in Event.objects.filter(kind="same_order")
    }
    assert suggested == {
        (marc.conversation_id, lea.conversation_id),
        (lea.conversation_id, marc.conversation_id),
    }


def test_the_conversation_page_links_to_the_other_conversation_on_the_same_order(
    make_inbound: Build, client: Client, agent: User
) -> None:
    lea = ingest(make_inbound(sender=LEA, order_number="402-4444444-1", sent_at=ago(hours=3)))
    marc = ingest(make_inbound(sender=MARC, order_number="402-4444444-1", sent_at=ago(hours=2)))
    client.force_login(agent)

    page = client.get(reverse("inbox:conversation", args=[marc.conversation_id]))

    link = reverse("inbox:conversation", args=[lea.conversation_id])
    assert f'Same order as <a href="{link}">#{lea.conversation_id}</a>' in page.text


def test_the_same_sender_on_the_same_order_still_joins_her_conversation(
    make_inbound: Build,
) -> None:
    first = ingest(make_inbound(sender=LEA, order_number="402-3333333-1", sent_at=ago(hours=3)))
    ingest(make_inbound(sender=MARC, order_number="402-3333333-1", sent_at=ago(hours=2)))

    again = ingest(make_inbound(sender=LEA, order_number="402-3333333-1", sent_at=ago(hours=1)))

    assert again.conversation_id == first.conversation_id


# -- the subject rule never merges two orders --------------------------------------------------


def test_the_same_subject_on_two_different_orders_makes_two_conversations(
    make_inbound: Build,
) -> None:
    def mail(**kw: Any) -> InboundMessage:
        return make_inbound(sender=LEA, subject="Ma commande", thread_by_subject=True, **kw)

    first = ingest(mail(order_number="171-0000001-0000001", sent_at=ago(hours=5)))
    other = ingest(mail(order_number="171-0000002-0000002", sent_at=ago(hours=4)))
    no_order = ingest(mail(sent_at=ago(hours=3)))

    assert other.conversation_id != first.conversation_id
    assert Conversation.objects.get(pk=other.conversation_id).order_number == "171-0000002-0000002"
    # Without an order number the subject still threads (to the most recent one).
    assert no_order.conversation_id == other.conversation_id
