"""Writing first to a buyer about an order (Mirakl OR43): reachable from the conversation page
and the API, and one thread even when the marketplace's answer is lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from comptoir.accounts.models import APIToken, User
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox import actions
from comptoir.inbox.models import Channel, Conversation, DeliveryState, Message
from comptoir.inbox.tasks import poll_channel, send_message
from comptoir.orders.actions import message_buyer_about_order
from tests.send_support import settle_time_passes


@pytest.fixture
def buyer_thread(sim: MiraklSimulator, darty: Channel) -> Conversation:
    """The buyer wrote about order DRT-7: the conversation the agent starts from."""
    sim.add_order("DRT-7", customer_id="c-7", customer_name="Paul")
    sim.buyer_writes("Ma commande ?", order_id="DRT-7", customer_id="c-7", customer_name="Paul")
    poll_channel.call(darty.pk)
    return Conversation.objects.get()


def send(message: Message, attempt: int = 1) -> Message:
    send_message.call(message.pk, attempt=attempt)
    return Message.objects.get(pk=message.pk)


def order_threads(sim: MiraklSimulator, order_id: str) -> list[str]:
    return [t.id for t in sim.threads.values() if t.order_id == order_id]


def test_a_thread_opened_on_an_order_whose_answer_was_lost_is_opened_once(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    sim.add_order("DRT-55", customer_id="c-55", customer_name="Paul")
    conv = Conversation.objects.create(
        shop=darty.shop, channel=darty, subject="Retard", order_number="DRT-55", team=darty.team
    )
    sim.faults.add("lose_response", method="POST", path="/threads$")
    reply = actions.reply(conv, actor=agent, text="Votre commande aura un jour de retard.")

    first = send(reply)
    assert first.delivery_state == DeliveryState.QUEUED  # unknown outcome: retried later
    retried = send(reply, attempt=2)

    assert retried.delivery_state == DeliveryState.SENT
    (thread_id,) = order_threads(sim, "DRT-55")  # was two threads
    conv.refresh_from_db()
    assert conv.external_thread_id == thread_id
    assert retried.external_id == sim.threads[thread_id].messages[0].id
    assert sim.violations == []


def test_an_earlier_thread_with_the_same_text_is_not_taken_for_a_lost_one(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    sim.add_order("DRT-56")
    text = "Votre commande part aujourd'hui."
    first_conv = Conversation.objects.create(
        shop=darty.shop, channel=darty, subject="Départ", order_number="DRT-56", team=darty.team
    )
    assert send(actions.reply(first_conv, actor=agent, text=text)).delivery_state == "sent"
    conv = Conversation.objects.create(
        shop=darty.shop, channel=darty, subject="Départ", order_number="DRT-56", team=darty.team
    )
    sim.faults.add("timeout", method="POST", path="/threads$")  # dropped before it acts
    sim.faults.hang_seconds = 0.1
    reply = actions.reply(conv, actor=agent, text=text)

    send(reply)
    settle_time_passes()  # the lost post could no longer land: the retry may post again
    retried = send(reply, attempt=2)

    assert retried.delivery_state == DeliveryState.SENT
    assert len(order_threads(sim, "DRT-56")) == 2  # the first conversation's, and this one
    conv.refresh_from_db()
    first_conv.refresh_from_db()
    assert conv.external_thread_id not in ("", first_conv.external_thread_id)


def test_an_agent_messages_the_buyer_about_the_order_from_the_conversation_page(
    sim: MiraklSimulator,
    buyer_thread: Conversation,
    agent: User,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client.force_login(agent)
    page = client.get(reverse("inbox:conversation", args=[buyer_thread.pk])).content.decode()
    assert "Message the buyer about this order" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("inbox:order_message", args=[buyer_thread.pk]),
            {"subject": "Retour", "text": "Voici l'étiquette de retour."},
        )

    started = Conversation.objects.exclude(pk=buyer_thread.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("inbox:conversation", args=[started.pk])
    assert (started.order_number, started.subject) == ("DRT-7", "Retour")
    sent = send(started.messages.get())
    assert sent.delivery_state == DeliveryState.SENT
    started.refresh_from_db()
    new_thread = sim.threads[started.external_thread_id]
    assert (new_thread.order_id, new_thread.topic) == ("DRT-7", "Retour")
    assert len(order_threads(sim, "DRT-7")) == 2
    assert sim.violations == []


def test_the_api_messages_the_buyer_about_the_order(
    sim: MiraklSimulator, buyer_thread: Conversation, agent: User, client: Client
) -> None:
    _, raw = APIToken.issue(agent, "tests")

    response = client.post(
        f"/api/v1/conversations/{buyer_thread.pk}/order-message",
        json.dumps({"text": "Bonjour, une question sur votre commande."}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )

    assert response.status_code == 201, response.json()
    started = Conversation.objects.get(pk=response.json()["id"])
    assert started.pk != buyer_thread.pk
    assert started.subject == "About your order DRT-7"
    assert started.messages.get().delivery_state == DeliveryState.QUEUED


def test_a_channel_that_cannot_open_order_threads_refuses_with_the_reason(
    channel: Channel, agent: User, client: Client, make_inbound: Any
) -> None:
    from comptoir.inbox.ingest import ingest

    conv = Conversation.objects.get(pk=ingest(make_inbound(order_number="X-1")).conversation_id)
    _, raw = APIToken.issue(agent, "tests")
    client.force_login(agent)

    page = client.get(reverse("inbox:conversation", args=[conv.pk])).content.decode()
    response = client.post(
        f"/api/v1/conversations/{conv.pk}/order-message",
        json.dumps({"text": "Bonjour"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )

    assert "Message the buyer about this order" not in page
    assert response.status_code == 422
    assert "cannot open a thread on an order" in response.json()["detail"]
    assert Conversation.objects.count() == 1


def test_an_outsider_cannot_message_the_buyer_of_another_teams_order(
    buyer_thread: Conversation, outsider: User
) -> None:
    with pytest.raises(Exception, match="cannot write on Darty"):
        message_buyer_about_order(buyer_thread, actor=outsider, text="Bonjour")
    assert Conversation.objects.count() == 1
