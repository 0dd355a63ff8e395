"""The eBay channel against the eBay simulator: real HTTP on 127.0.0.1, real database."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.connectors.base import ConnectorError, OutboundMessage, SendResult
from comptoir.connectors.ebay import simulator as ebay_simulator
from comptoir.connectors.ebay.connector import EbayConnector
from comptoir.connectors.ebay.simulator import EbaySimulator
from comptoir.connectors.registry import get_connector
from comptoir.inbox import actions
from comptoir.inbox.actions import NewAttachment
from comptoir.inbox.models import (
    Channel,
    Conversation,
    CustomerIdentity,
    DeliveryState,
    InboundRecord,
    Message,
    Shop,
)
from comptoir.inbox.tasks import poll_channel, send_message, sweep_stuck_sends
from comptoir.orders.actions import store_order
from tests.conftest import require_specs
from tests.ebay_support import channel_settings, running_simulator
from tests.fault_support import Killed
from tests.send_support import settle_time_passes

ORDER = "12-34567-89012"
MEDIA_TEMPLATE = "https://files.maison-lumiere.example/{sha256}/{filename}"


@pytest.fixture
def sim(sleeps: list[float], monkeypatch: pytest.MonkeyPatch) -> Iterator[EbaySimulator]:
    yield from running_simulator(monkeypatch)


@pytest.fixture
def ebay_channel(shop: Shop, team: Any, sim: EbaySimulator) -> Channel:
    channel = Channel(shop=shop, kind="ebay", marketplace="ebay", name="eBay FR", team=team)
    channel.set_settings(
        {
            **channel_settings(sim),
            "media_url_template": MEDIA_TEMPLATE,
            # The Message API on its own; returns, inquiries and cases are read and tested
            # together with it in test_ebay_cases.py.
            "claims": False,
        }
    )
    channel.save()
    return channel


def reload(channel: Channel) -> Channel:
    return Channel.objects.get(pk=channel.pk)


def conversation_of(sim_message_id: str) -> Conversation:
    return Message.objects.get(external_id=sim_message_id).conversation


def calls(sim: EbaySimulator, prefix: str) -> int:
    return sum(n for call, n in sim.calls.items() if call.startswith(prefix))


# -- reading ------------------------------------------------------------------------------------


def test_a_buyer_message_becomes_a_conversation_with_the_buyer_the_order_and_needs_reply(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    photo = b"\x89PNG broken lamp"
    mid = sim.buyer_writes(
        "Bonjour, la lampe est arrivée cassée.",
        buyer="jeanne_m75",
        order_id=ORDER,
        listing_id="110012345678",
        attachments=[("lampe.png", "image/png", photo)],
    )

    assert poll_channel.call(ebay_channel.pk) == 1

    message = Message.objects.get(external_id=mid)
    conv = message.conversation
    assert message.direction == "in"
    assert message.text == "Bonjour, la lampe est arrivée cassée."
    assert conv.external_thread_id == sim.conversation_for(mid)
    assert conv.order_number == ORDER
    assert conv.needs_reply is True
    identity = CustomerIdentity.objects.get(customer=conv.customer)
    assert (identity.kind, identity.value) == ("ebay_user", "jeanne_m75")
    (attachment,) = message.attachments.all()
    assert attachment.filename == "lampe.png"
    assert attachment.content_type == "image/png"
    assert attachment.size == len(photo)
    record = InboundRecord.objects.get(external_id=mid)
    assert json.loads(bytes(record.raw))["meta"]["listing_id"] == "110012345678"
    # Stored, then marked read on eBay.
    assert sim.calls["POST /commerce/message/v1/update_conversation"] == 1
    assert sim.conversations[conv.external_thread_id].detail(sim.seller)["unreadCount"] == 0
    assert reload(ebay_channel).is_healthy


def test_ebay_notices_are_automatic_and_need_no_reply(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    mid = sim.ebay_notifies(f"The buyer opened a return for order {ORDER}.", order_id=ORDER)

    poll_channel.call(ebay_channel.pk)

    message = Message.objects.get(external_id=mid)
    assert message.is_auto is True
    assert message.conversation.needs_reply is False
    assert message.conversation.order_number == ORDER


def test_a_full_sync_follows_both_paginations_to_the_end(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    ids = [sim.buyer_writes(f"question {n}", buyer=f"buyer{n}") for n in range(120)]
    long_thread = [sim.buyer_writes(f"suite {n}", buyer="bavard") for n in range(110)]

    poll_channel.call(ebay_channel.pk)

    stored = set(Message.objects.values_list("external_id", flat=True))
    assert stored == set(ids) | set(long_thread)
    assert Conversation.objects.count() == 121
    assert Message.objects.filter(conversation=conversation_of(long_thread[0])).count() == 110
    # 121 conversations: 3 pages of the list; 110 messages: 3 pages of the conversation.
    assert sim.calls["GET /commerce/message/v1/conversation"] >= 3
    cid = sim.conversation_for(long_thread[0])
    assert sim.calls[f"GET /commerce/message/v1/conversation/{cid}"] == 3


def test_an_incremental_sync_reads_only_what_is_new(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    first = [sim.buyer_writes(f"question {n}", buyer=f"buyer{n}") for n in range(30)]
    poll_channel.call(ebay_channel.pk)
    assert Message.objects.count() == 30
    before = Counter(sim.calls)
    sim.advance(3600)

    newer = sim.buyer_writes("et alors ?", buyer="buyer7")
    poll_channel.call(ebay_channel.pk)

    assert Message.objects.count() == 31
    assert Message.objects.get(external_id=newer).conversation == conversation_of(first[7])
    read = Counter(sim.calls)
    read.subtract(before)
    conversation_reads = {c: n for c, n in read.items() if "/conversation/" in c and n}
    assert conversation_reads == {
        f"GET /commerce/message/v1/conversation/{sim.conversation_for(newer)}": 1
    }
    assert reload(ebay_channel).cursor["FROM_MEMBERS"]["since"]


def test_a_full_resync_with_an_empty_cursor_stores_nothing_twice(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    for n in range(12):
        sim.buyer_writes(f"question {n}", buyer=f"buyer{n % 5}", listing_id=f"11{n}")
    poll_channel.call(ebay_channel.pk)
    Channel.objects.filter(pk=ebay_channel.pk).update(cursor={})

    poll_channel.call(ebay_channel.pk)

    assert Message.objects.count() == 12
    assert Conversation.objects.count() == 12


# -- sending ------------------------------------------------------------------------------------


@pytest.fixture
def conv(sim: EbaySimulator, ebay_channel: Channel) -> Conversation:
    mid = sim.buyer_writes("Où est mon colis ?", buyer="jeanne_m75", order_id=ORDER)
    poll_channel.call(ebay_channel.pk)
    return conversation_of(mid)


def test_a_reply_reaches_ebay_once_with_its_attachments(
    sim: EbaySimulator, conv: Conversation, agent: User
) -> None:
    reply = actions.reply(
        conv,
        actor=agent,
        text="Votre colis part demain.",
        attachments=[
            NewAttachment("etiquette.pdf", "application/pdf", b"%PDF label"),
            NewAttachment("photo", "text/uri-list", b"https://img.example/colis.jpg\r\n"),
        ],
    )

    assert send_message.call(reply.pk) == "sent"

    (sent,) = sim.seller_messages(conv.external_thread_id)
    assert sent["messageBody"] == "Votre colis part demain."
    assert [(m["mediaName"], m["mediaType"]) for m in sent["messageMedia"]] == [
        ("etiquette.pdf", "PDF"),
        ("colis.jpg", "IMAGE"),
    ]
    assert sent["messageMedia"][0]["mediaUrl"].startswith("https://files.maison-lumiere.example/")
    assert sent["messageMedia"][1]["mediaUrl"] == "https://img.example/colis.jpg"
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert reply.external_id == sent["messageId"]
    # Polled back, our own reply is the same message, not a second one.
    poll_channel.call(conv.channel_id)
    assert Message.objects.filter(external_id=sent["messageId"]).count() == 1
    assert sim.violations == []


@pytest.mark.parametrize(
    ("text", "attachments", "error"),
    [
        ("Voici", [NewAttachment(f"p{n}.jpg", "image/jpeg", b"x") for n in range(6)], "at most 5"),
        ("x" * 2001, [], "limited to 2000 characters"),
        ("Voici", [NewAttachment("a.zip", "application/zip", b"PK")], "PDF, Word and text"),
        ("Voici", [NewAttachment("l.jpg", "text/uri-list", b"http://x.example/l.jpg")], "HTTPS"),
    ],
)
def test_what_ebay_would_refuse_is_refused_before_sending(
    sim: EbaySimulator,
    conv: Conversation,
    agent: User,
    text: str,
    attachments: list[NewAttachment],
    error: str,
) -> None:
    reply = actions.reply(conv, actor=agent, text=text, attachments=attachments)

    send_message.call(reply.pk)

    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.FAILED
    assert error in reply.delivery_error
    assert sim.calls["POST /commerce/message/v1/send_message"] == 0


def test_files_are_refused_when_the_channel_has_no_public_link_for_them(
    sim: EbaySimulator, conv: Conversation, agent: User
) -> None:
    channel = conv.channel
    settings = channel.get_settings()
    settings["media_url_template"] = ""
    channel.set_settings(settings)
    channel.save()
    reply = actions.reply(
        conv, actor=agent, text="Photo", attachments=[NewAttachment("a.jpg", "image/jpeg", b"x")]
    )

    send_message.call(reply.pk)

    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.FAILED
    assert "eBay accepts images by HTTPS link only" in reply.delivery_error
    assert sim.seller_messages() == []


def test_a_reply_whose_answer_was_lost_is_delivered_exactly_once(
    sim: EbaySimulator, conv: Conversation, agent: User
) -> None:
    reply = actions.reply(conv, actor=agent, text="Remboursé aujourd'hui.")
    sim.faults.add("lose_response", path="/send_message")

    assert send_message.call(reply.pk).startswith("failed")
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.QUEUED
    # The next attempt finds it on eBay instead of sending it again.
    assert send_message.call(reply.pk) == "sent"

    (sent,) = sim.seller_messages()
    reply.refresh_from_db()
    assert reply.external_id == sent["messageId"]
    assert sim.calls["POST /commerce/message/v1/send_message"] == 1


def test_find_sent_does_not_take_a_message_another_reply_stands_for(
    sim: EbaySimulator, conv: Conversation, agent: User
) -> None:
    first = actions.reply(conv, actor=agent, text="Merci !")
    send_message.call(first.pk)
    second = actions.reply(conv, actor=agent, text="Merci  !")
    outbound = OutboundMessage(
        message_id=second.pk,
        idempotency_key=f"comptoir-{second.pk}",
        conversation_thread_id=conv.external_thread_id,
        to="",
        subject="",
        text=second.text,
    )
    connector = EbayConnector(conv.channel)

    assert connector.find_sent(outbound) is None
    # Once eBay has it, it is found (whitespace aside).
    sent = connector.send(outbound)
    assert connector.find_sent(outbound) == SendResult(sent.external_id, sent.sent_at)
    first.refresh_from_db()
    assert first.external_id != sent.external_id


# -- errors -------------------------------------------------------------------------------------


def test_server_errors_and_rate_limits_are_retried_honouring_retry_after(
    sim: EbaySimulator, ebay_channel: Channel, sleeps: list[float]
) -> None:
    mid = sim.buyer_writes("Bonjour")
    sim.faults.add("error500", path=r"/conversation$", times=2)
    sim.faults.add("rate_limit", path=r"/conversation/", retry_after=7)

    poll_channel.call(ebay_channel.pk)

    assert Message.objects.filter(external_id=mid).exists()
    assert 7.0 in sleeps
    assert len(sleeps) == 3
    assert sim.faults.injected == {"error500": 2, "rate_limit": 1}
    assert reload(ebay_channel).is_healthy


def test_an_expired_token_is_refreshed(sim: EbaySimulator, ebay_channel: Channel) -> None:
    sim.buyer_writes("un")
    poll_channel.call(ebay_channel.pk)
    assert sim.tokens_issued == 1
    sim.advance(sim.token_lifetime + 60)  # eBay says it expired; Comptoir still thinks not
    sim.buyer_writes("deux")
    sim.faults.add("expired_token", path="/conversation/")

    poll_channel.call(ebay_channel.pk)

    assert Message.objects.count() == 2
    assert sim.tokens_issued == 3
    assert reload(ebay_channel).is_healthy


def test_a_refused_refresh_marks_the_channel_unhealthy(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    sim.refresh_token_revoked = True

    assert poll_channel.call(ebay_channel.pk) == 0

    channel = reload(ebay_channel)
    assert channel.is_healthy is False
    assert "connect the eBay account again" in channel.last_error
    assert "refresh token is invalid" in channel.last_error


@pytest.mark.parametrize("status", [401, 403])
def test_refused_access_after_a_refresh_marks_the_channel_unhealthy(
    sim: EbaySimulator, ebay_channel: Channel, status: int
) -> None:
    sim.buyer_writes("Bonjour")
    if status == 401:
        sim.faults.add("expired_token", path="/conversation", times=2)
    else:
        sim.forbidden = True

    poll_channel.call(ebay_channel.pk)

    channel = reload(ebay_channel)
    assert channel.is_healthy is False
    assert f"eBay refused access ({status})" in channel.last_error
    assert Message.objects.count() == 0


def test_a_wrong_field_is_caught_by_the_simulator(sim: EbaySimulator, conv: Conversation) -> None:
    require_specs(ebay_simulator.MESSAGE_SPEC)
    assert sim.message_contract is not None  # checked against eBay's published description
    token = EbayConnector(conv.channel)._auth_headers()

    wrong_field = httpx.post(
        f"{sim.url}/commerce/message/v1/send_message",
        json={"conversationId": conv.external_thread_id, "messageTxt": "hi"},
        headers=token,
    )
    wrong_type = httpx.get(
        f"{sim.url}/commerce/message/v1/conversation",
        params={"conversation_type": "FROM_BUYERS", "limit": 10},
        headers=token,
    )
    too_many = httpx.get(
        f"{sim.url}/commerce/message/v1/conversation",
        params={"conversation_type": "FROM_EBAY", "limit": 51},
        headers=token,
    )

    assert [wrong_field.status_code, wrong_type.status_code, too_many.status_code] == [400] * 3
    assert len(sim.violations) == 3
    assert "messageTxt" in sim.violations[0]
    assert "FROM_BUYERS" in sim.violations[1]
    assert sim.seller_messages() == []


def test_the_simulator_opens_a_conversation_with_a_buyer_about_a_listing(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    sim.add_order(ORDER, buyer="paul_m13")
    listing = sim.orders[ORDER]["lineItems"][0]["legacyItemId"]
    token = EbayConnector(ebay_channel)._auth_headers()
    url = f"{sim.url}/commerce/message/v1/send_message"
    about = {"referenceType": "LISTING", "referenceId": listing}

    unknown = httpx.post(
        url,
        json={"otherPartyUsername": "nobody_1", "messageText": "hi", "reference": about},
        headers=token,
    )
    no_reference = httpx.post(
        url, json={"otherPartyUsername": "paul_m13", "messageText": "hi"}, headers=token
    )
    other_listing = httpx.post(
        url,
        json={
            "otherPartyUsername": "paul_m13",
            "messageText": "hi",
            "reference": {"referenceType": "LISTING", "referenceId": "999"},
        },
        headers=token,
    )
    opened = httpx.post(
        url,
        json={"otherPartyUsername": "paul_m13", "messageText": "Bonjour", "reference": about},
        headers=token,
    )
    listed = httpx.get(
        f"{sim.url}/commerce/message/v1/conversation",
        params={"conversation_type": "FROM_MEMBERS", "other_party_username": "paul_m13"},
        headers=token,
    ).json()["conversations"]

    codes = [r.json()["errors"][0]["errorId"] for r in (unknown, no_reference, other_listing)]
    assert codes == [355006, 355021, 355020]
    assert opened.status_code == 201
    (conv,) = listed
    assert (conv["referenceId"], conv["latestMessage"]["messageId"]) == (
        listing,
        opened.json()["messageId"],
    )
    assert len(sim.seller_messages()) == 1
    assert sim.violations == []


# -- orders and connection ----------------------------------------------------------------------


def test_fetch_order_maps_the_order_its_shipment_and_ship_by_date(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    ship_by = timezone.now().replace(microsecond=0) + timedelta(days=1)
    sim.add_order(
        ORDER,
        items=[("LAMP-01", "Lampe de chevet", 2, "49.90")],
        fulfillment_status="FULFILLED",
        ship_by=ship_by,
        tracking=("COLISSIMO", "6A12345678901"),
    )
    connector = get_connector(ebay_channel)

    order = connector.fetch_order(ORDER)

    assert order is not None
    assert order.status == "shipped"
    assert (order.total, order.currency) == ("99.80", "EUR")
    assert [(i.sku, i.quantity, i.unit_price) for i in order.items] == [("LAMP-01", 2, "49.90")]
    assert order.ship_by == ship_by
    assert (order.carrier, order.tracking_number) == ("COLISSIMO", "6A12345678901")
    assert order.buyer is not None
    assert order.buyer.identity_value == "jeanne_m75"
    assert store_order(ebay_channel, order).external_id == ORDER
    assert connector.fetch_order("99-99999-99999") is None
    assert sim.violations == []


def test_fetch_orders_reads_fifty_orders_per_get_orders_request(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    orders = [f"12-{n:05d}-00001" for n in range(120)]
    for n, order_id in enumerate(orders):
        shipped = n % 40 == 0  # three of them have a shipment to read
        sim.add_order(
            order_id,
            fulfillment_status="FULFILLED" if shipped else "NOT_STARTED",
            tracking=("COLISSIMO", f"6A{n:011d}") if shipped else None,
        )
    before = dict(sim.calls)

    found = get_connector(ebay_channel).fetch_orders([*orders, "99-99999-99999"])

    assert sorted(found) == orders
    assert found[orders[40]].tracking_number == "6A00000000040"
    assert found[orders[1]].tracking_number == ""
    calls = {
        k: v - before.get(k, 0)
        for k, v in sim.calls.items()
        if v != before.get(k, 0) and k.startswith("GET /sell/")
    }
    # 120 orders: three getOrders (50, 50, 20), and shipments only for the three shipped.
    assert calls.pop("GET /sell/fulfillment/v1/order") == 3
    assert sorted(calls.values()) == [1, 1, 1]
    assert all(k.endswith("/shipping_fulfillment") for k in calls)
    assert sim.violations == []


def test_the_simulator_refuses_more_than_fifty_ebay_order_ids(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    connector = EbayConnector(ebay_channel)
    ids = ",".join(f"12-{n:05d}-00001" for n in range(51))

    with pytest.raises(ConnectorError, match="at most 50") as caught:
        connector._get("/sell/fulfillment/v1/order", params={"orderIds": ids})

    assert caught.value.status == 400


def test_test_connection_names_the_seller(sim: EbaySimulator, ebay_channel: Channel) -> None:
    sim.buyer_writes("Bonjour")

    assert get_connector(ebay_channel).test_connection() == (
        "connected as eBay seller maison-lumiere; conversations with members: 1"
    )


def test_test_connection_says_what_is_wrong(sim: EbaySimulator, ebay_channel: Channel) -> None:
    sim.refresh_token_revoked = True

    with pytest.raises(ConnectorError, match="connect the eBay account again") as caught:
        get_connector(ebay_channel).test_connection()

    assert caught.value.permanent


# -- the proof: faults everywhere, a worker killed, everything exactly once ---------------------


def test_under_random_faults_and_killed_workers_every_message_arrives_and_leaves_once(
    sim: EbaySimulator, ebay_channel: Channel, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    sim.faults.rates.update(
        {
            "error500": 0.03,
            "rate_limit": 0.03,
            "timeout": 0.004,
            "lose_response": 0.03,
            "duplicate_page": 0.1,
            "reorder_page": 0.1,
        }
    )
    buyers = [f"buyer{n}" for n in range(250)]
    replies: list[str] = []
    real_inbound = EbayConnector._inbound
    real_send = EbayConnector.send

    def run_until_quiet() -> None:
        for _ in range(40):
            before = Message.objects.count()
            poll_channel.call(ebay_channel.pk)
            settle_time_passes()  # between rounds, time for an unanswered post to land
            for pk in Message.objects.filter(delivery_state=DeliveryState.QUEUED).values_list(
                "pk", flat=True
            ):
                send_message.call(pk)
            Message.objects.filter(delivery_state=DeliveryState.SENDING).update(
                delivery_claimed_at=timezone.now() - timedelta(hours=1)
            )
            sweep_stuck_sends.call()
            pending = Message.objects.filter(
                delivery_state__in=[DeliveryState.QUEUED, DeliveryState.SENDING]
            ).exists()
            if not pending and Message.objects.count() == before and reload(ebay_channel).cursor:
                return
        raise AssertionError("the channel never settled")

    for round_number in range(5):
        for _ in range(200):
            sim.buyer_writes(f"message {rng.random():.12f}", buyer=rng.choice(buyers))
        if round_number % 2:
            sim.ebay_notifies(f"Notice {round_number} about order {ORDER}")

        if round_number == 1:
            # A worker dies in the middle of a sync: what it stored stays, the cursor does not
            # move, the next poll picks up from the old cursor.
            seen = 0

            def dying_inbound(self: EbayConnector, *args: Any) -> Any:
                nonlocal seen
                seen += 1
                if seen == 130:
                    raise Killed
                return real_inbound(self, *args)

            monkeypatch.setattr(EbayConnector, "_inbound", dying_inbound)
            with pytest.raises(Killed):
                poll_channel.call(ebay_channel.pk)
            monkeypatch.setattr(EbayConnector, "_inbound", real_inbound)
            assert 0 < Message.objects.count() < len(sim.all_message_ids())

        run_until_quiet()

        waiting = list(Conversation.objects.filter(channel=ebay_channel, needs_reply=True))
        for conv in rng.sample(waiting, min(len(waiting), 60)):
            text = f"Réponse {len(replies)} à {conv.external_thread_id}"
            replies.append(text)
            actions.reply(conv, actor=agent, text=text)

        if round_number == 2:
            # A worker dies right after eBay took a reply: sweep_stuck_sends requeues it and
            # the next attempt finds it on eBay.
            killed = 0

            def dying_send(self: EbayConnector, outbound: Any) -> Any:
                nonlocal killed
                result = real_send(self, outbound)
                if killed < 3:
                    killed += 1
                    raise Killed
                return result

            monkeypatch.setattr(EbayConnector, "send", dying_send)
            # eBay takes these three for sure (a random fault here would fail the send before
            # the worker dies, and then nothing is left "sending").
            rates = dict(sim.faults.rates)
            sim.faults.rates.clear()
            for pk in Message.objects.filter(delivery_state=DeliveryState.QUEUED).values_list(
                "pk", flat=True
            )[:3]:
                with pytest.raises(Killed):
                    send_message.call(pk)
            sim.faults.rates.update(rates)
            monkeypatch.setattr(EbayConnector, "send", real_send)
            assert Message.objects.filter(delivery_state=DeliveryState.SENDING).count() == 3

        run_until_quiet()

    stored = list(
        Message.objects.filter(channel=ebay_channel).values_list("external_id", flat=True)
    )
    on_ebay = sim.all_message_ids()
    assert len(on_ebay) > 1000
    assert sorted(stored) == sorted(on_ebay)
    seller_texts = Counter(m["messageBody"] for m in sim.seller_messages())
    assert seller_texts == Counter(replies)
    assert not Message.objects.exclude(delivery_state__in=["", DeliveryState.SENT]).exists()
    assert sim.violations == []
    assert reload(ebay_channel).is_healthy
    for kind in (
        "error500",
        "rate_limit",
        "timeout",
        "lose_response",
        "duplicate_page",
        "reorder_page",
    ):
        assert sim.faults.injected[kind] > 0, kind
