"""Cdiscount (Octopia Seller API v2): the connector against the local Octopia simulator."""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from comptoir.accounts.models import Team, User
from comptoir.connectors.base import ConnectorError
from comptoir.connectors.cdiscount import connector as cdiscount
from comptoir.connectors.cdiscount.connector import CdiscountConnector
from comptoir.connectors.cdiscount.simulator import CdiscountSimulator
from comptoir.connectors.simulator import Request, Response
from comptoir.inbox import actions, files
from comptoir.inbox.actions import NewAttachment
from comptoir.inbox.models import Channel, Conversation, DeliveryState, Message, Shop
from comptoir.inbox.tasks import poll_channel, send_message, sweep_stuck_sends
from tests.fault_support import Killed, record_sleeps
from tests.send_support import settle_time_passes

LIST = "/seller/v2/discussions"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    monkeypatch.setattr(cdiscount, "_tokens", {})
    return record_sleeps(monkeypatch)


@pytest.fixture
def sim(sleeps: list[float]) -> Iterator[CdiscountSimulator]:
    simulator = CdiscountSimulator(seed=7)
    simulator.faults.hang_seconds = 1.4
    simulator.faults.retry_after = 0.01
    simulator.start()
    yield simulator
    simulator.stop()


def settings_for(sim: CdiscountSimulator, **overrides: Any) -> dict[str, Any]:
    return {
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "seller_id": sim.seller_id,
        "base_url": f"{sim.url}/seller/v2",
        "auth_url": sim.url,
        "timeout_seconds": 1.0,
        **overrides,
    }


@pytest.fixture
def channel(shop: Shop, team: Team, sim: CdiscountSimulator) -> Channel:
    channel = Channel(
        shop=shop, kind="cdiscount", marketplace="cdiscount", name="Cdiscount", team=team
    )
    channel.set_settings(settings_for(sim))
    channel.save()
    return channel


def reconfigure(channel: Channel, sim: CdiscountSimulator, **overrides: Any) -> None:
    channel.set_settings(settings_for(sim, **overrides))
    channel.save()


def poll(channel: Channel) -> int:
    return poll_channel.call(channel.pk)


def reload(channel: Channel) -> Channel:
    return Channel.objects.get(pk=channel.pk)


def conversation(channel: Channel, discussion_id: str) -> Conversation:
    return Conversation.objects.get(channel=channel, external_thread_id=discussion_id)


def discussion_of(sim: CdiscountSimulator, message_id: str) -> str:
    return next(m.discussion_id for m in sim.all_messages() if m.message_id == message_id)


# -- reading discussions -----------------------------------------------------------------------


def test_a_buyer_message_becomes_a_conversation_with_the_buyer_order_and_needs_reply(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    message_id = sim.buyer_writes(
        order_id="2311231456ABC", text="Bonjour, où en est ma commande ?", customer_id="C-77"
    )

    assert poll(channel) == 1

    conv = conversation(channel, discussion_of(sim, message_id))
    assert conv.order_number == "2311231456ABC"
    assert conv.needs_reply is True
    assert conv.customer is not None
    assert conv.customer.identities.get().value == "c-77"
    assert conv.customer.name.strip() != ""
    message = Message.objects.get(channel=channel)
    assert message.external_id == message_id
    assert message.direction == "in"
    assert message.text == "Bonjour, où en est ma commande ?"
    assert reload(channel).is_healthy


def test_a_claim_keeps_its_type_tags_the_conversation_and_brings_its_photos(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    photo = b"\x89PNG fake photo of a broken lamp"
    message_id = sim.buyer_writes(
        order_id="2311230001XYZ",
        text="La lampe est arrivée cassée.",
        claim_type="DamagedProduct",
        attachments=[("casse.png", "image/png", photo)],
    )

    poll(channel)

    conv = conversation(channel, discussion_of(sim, message_id))
    assert list(conv.tags.values_list("name", flat=True)) == ["claim"]
    message = Message.objects.get(external_id=message_id)
    assert message.inbound_record is not None
    raw = message.inbound_record.raw
    assert b'"claim_type":"DamagedProduct"' in bytes(raw)
    attachment = message.attachments.get()
    assert attachment.filename == "casse.png"
    assert files.read_bytes(attachment.sha256) == photo


def test_a_buyer_file_over_the_channel_limit_is_listed_but_not_downloaded(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    reconfigure(channel, sim, max_attachment_bytes=1000)
    message_id = sim.buyer_writes(
        order_id="BIG1",
        text="Voici la vidéo du colis.",
        attachments=[("colis.pdf", "application/pdf", b"x" * 5000)],
    )

    poll(channel)

    attachment = Message.objects.get(external_id=message_id).attachments.get()
    assert attachment.size == 5000
    assert "limit of 1000 bytes" in attachment.dropped_reason
    assert not any("/attachments/" in call for call in sim.calls)


def test_the_sellers_own_answers_and_customer_care_are_in_the_same_conversation(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    first = sim.buyer_writes(order_id="A1", text="Le colis n'est pas arrivé.")
    discussion = discussion_of(sim, first)
    portal = sim.seller_writes_on_portal(discussion, "Nous relançons le transporteur.")
    care = sim.operator_writes(discussion, "Le service client Cdiscount suit ce dossier.")

    assert poll(channel) == 3

    conv = conversation(channel, discussion)
    directions = dict(
        Message.objects.filter(conversation=conv).values_list("external_id", "direction")
    )
    assert directions == {first: "in", portal: "out", care: "in"}
    assert Conversation.objects.filter(channel=channel).count() == 1


def test_pagination_follows_every_page(sim: CdiscountSimulator, channel: Channel) -> None:
    ids = {sim.buyer_writes(order_id=f"ORD{n:04d}", text=f"question {n}") for n in range(230)}

    assert poll(channel) == 230

    assert set(Message.objects.filter(channel=channel).values_list("external_id", flat=True)) == ids
    assert sim.calls[f"GET {LIST}"] == 3  # 100 + 100 + 30


def test_repeated_and_shuffled_pages_store_each_message_once(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    ids = {sim.buyer_writes(order_id=f"DUP{n:04d}", text=f"question {n}") for n in range(250)}
    sim.faults.add("duplicate_page", path=f"^{LIST}$", times=2)
    sim.faults.add("reorder_page", path=f"^{LIST}$", times=1)

    assert poll(channel) == 250

    stored = list(Message.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert sorted(stored) == sorted(ids)
    assert sim.faults.injected["duplicate_page"] == 2
    assert discussion_reads(sim) == 250  # a repeated discussion is not read twice


def test_the_simulator_is_reproducible_for_a_seed(sleeps: list[float]) -> None:
    runs = []
    for _ in range(2):
        simulator = CdiscountSimulator(seed=3)
        ids = [simulator.buyer_writes(order_id=f"X{n}", text="t") for n in range(5)]
        runs.append((ids, [(d.customer_id, d.first_name) for d in simulator.discussions.values()]))
    assert runs[0] == runs[1]
    assert runs[0] != ([], [])


def test_a_discussion_updated_while_the_pages_are_read_makes_no_other_slip_through(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    first = sim.buyer_writes(order_id="MOVE0", text="la plus ancienne")
    ids = {first} | {
        sim.buyer_writes(order_id=f"MOVE{n}", text=f"question {n}") for n in range(1, 150)
    }
    # The buyer writes again right after page 1 is served: their discussion moves to the end,
    # and the first discussion of page 2 slips back onto page 1, already read.
    index = next(
        i
        for i, r in enumerate(sim.routes)
        if r[0] == "GET" and r[1].pattern.endswith("discussions$")
    )
    method, pattern, serve = sim.routes[index]

    def serve_then_write(request: Request) -> Response:
        response = serve(request)
        if request.arg("pageIndex") == "1" and len(ids) == 150:
            ids.add(
                sim.buyer_writes(
                    order_id="MOVE0", text="toujours rien", discussion_id=discussion_of(sim, first)
                )
            )
        return response

    sim.routes[index] = (method, pattern, serve_then_write)

    assert poll(channel) == 151

    assert set(Message.objects.filter(channel=channel).values_list("external_id", flat=True)) == ids


def test_an_incremental_sync_fetches_only_what_is_new(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    reconfigure(channel, sim, overlap_minutes=0)
    first = sim.buyer_writes(order_id="B0", text="première question")
    for n in range(1, 6):
        sim.buyer_writes(order_id=f"B{n}", text=f"autre commande {n}")
    assert poll(channel) == 6
    cursor = reload(channel).cursor["updated_since"]

    assert poll(channel) == 0
    newer = sim.buyer_writes(
        order_id="B0", text="et alors ?", discussion_id=discussion_of(sim, first)
    )
    reads_before = discussion_reads(sim)
    assert poll(channel) == 1

    # The discussion that changed, and the newest one already seen (the cursor's instant is
    # asked again, inclusive): not the four others.
    assert discussion_reads(sim) - reads_before == 2
    assert Message.objects.get(external_id=newer).conversation == conversation(
        channel, discussion_of(sim, first)
    )
    assert reload(channel).cursor["updated_since"] > cursor


def discussion_reads(sim: CdiscountSimulator) -> int:
    return sum(n for call, n in sim.calls.items() if call.startswith(f"GET {LIST}/"))


def test_a_first_sync_brings_the_whole_history_of_a_recent_discussion(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    old = sim.buyer_writes(order_id="H1", text="il y a deux mois")
    discussion = discussion_of(sim, old)
    sim.discussions[discussion].messages[0].created_at -= timedelta(days=60)
    recent = sim.buyer_writes(order_id="H1", text="et maintenant", discussion_id=discussion)

    assert poll(channel) == 2

    conv = conversation(channel, discussion)
    assert list(conv.messages.order_by("sent_at").values_list("external_id", flat=True)) == [
        old,
        recent,
    ]


def test_a_full_resync_stores_nothing_twice(sim: CdiscountSimulator, channel: Channel) -> None:
    for n in range(5):
        sim.buyer_writes(order_id=f"R{n}", text=f"message {n}")
    poll(channel)
    Channel.objects.filter(pk=channel.pk).update(cursor={})

    assert poll(channel) == 0
    assert Message.objects.filter(channel=channel).count() == 5


# -- replying ----------------------------------------------------------------------------------


@pytest.fixture
def conv(sim: CdiscountSimulator, channel: Channel) -> Conversation:
    message_id = sim.buyer_writes(order_id="S1", text="Pouvez-vous m'envoyer la facture ?")
    poll(channel)
    return conversation(channel, discussion_of(sim, message_id))


def test_a_reply_reaches_the_discussion_once_with_its_attachments(
    sim: CdiscountSimulator, channel: Channel, conv: Conversation, agent: User
) -> None:
    reply = actions.reply(
        conv,
        actor=agent,
        text="Voici votre facture.",
        attachments=[NewAttachment("facture.pdf", "application/pdf", b"%PDF-1.4 facture")],
    )

    assert send_message.call(reply.pk) == "sent"

    (sent,) = sim.seller_messages()
    assert sent.body == "Voici votre facture."
    assert sent.discussion_id == conv.external_thread_id
    assert [(a.file_name, a.data) for a in sent.attachments] == [
        ("facture.pdf", b"%PDF-1.4 facture")
    ]
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert reply.external_id == sent.message_id
    # Our reply read back from the discussion is the same message, not a second one.
    assert poll(channel) == 0
    assert Message.objects.filter(channel=channel, direction="out").count() == 1


@pytest.mark.parametrize(
    ("attachments", "reason"),
    [
        ([NewAttachment(f"p{n}.pdf", "application/pdf", b"x") for n in range(4)], "at most 3"),
        ([NewAttachment("big.pdf", "application/pdf", b"x" * (4 * 1024 * 1024 + 1))], "4 MB"),
        ([NewAttachment("setup.exe", "application/octet-stream", b"MZ")], "accepted file types"),
    ],
)
def test_attachments_over_the_limits_are_refused_before_sending(
    sim: CdiscountSimulator,
    conv: Conversation,
    agent: User,
    attachments: list[NewAttachment],
    reason: str,
) -> None:
    reply = actions.reply(conv, actor=agent, text="Ci-joint.", attachments=attachments)

    send_message.call(reply.pk)

    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.FAILED
    assert reason in reply.delivery_error
    assert sim.calls[f"POST {LIST}/{conv.external_thread_id}/messages"] == 0


def test_a_reply_to_a_closed_discussion_fails_with_the_reason(
    sim: CdiscountSimulator, channel: Channel, conv: Conversation, agent: User
) -> None:
    CdiscountConnector(channel).close_discussion(conv.external_thread_id)
    reply = actions.reply(conv, actor=agent, text="Encore une précision.")

    send_message.call(reply.pk)

    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.FAILED
    assert "409" in reply.delivery_error
    assert "the discussion is closed" in reply.delivery_error
    assert sim.seller_messages() == []


def test_a_reply_whose_answer_was_lost_is_delivered_exactly_once(
    sim: CdiscountSimulator, channel: Channel, conv: Conversation, agent: User
) -> None:
    reply = actions.reply(conv, actor=agent, text="Elle part aujourd'hui.")
    sim.faults.add("lose_response", method="POST", path=r"/messages$")

    assert send_message.call(reply.pk).startswith("failed")
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.QUEUED
    assert len(sim.seller_messages()) == 1  # it did get there

    assert send_message.call(reply.pk, attempt=2) == "sent"

    (sent,) = sim.seller_messages()
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert reply.external_id == sent.message_id
    assert sim.calls[f"POST {LIST}/{conv.external_thread_id}/messages"] == 1


def test_a_reply_that_timed_out_before_arriving_is_sent_again(
    sim: CdiscountSimulator, conv: Conversation, agent: User
) -> None:
    reply = actions.reply(conv, actor=agent, text="Nous vérifions.")
    sim.faults.add("timeout", method="POST", path=r"/messages$")

    send_message.call(reply.pk)
    assert sim.seller_messages() == []
    # Octopia may still be storing it: the retry looks, and posts only once it had time to.
    assert send_message.call(reply.pk, attempt=2) == "looking"
    settle_time_passes()
    assert send_message.call(reply.pk, attempt=2) == "sent"

    assert [m.body for m in sim.seller_messages()] == ["Nous vérifions."]


def test_find_sent_does_not_take_a_message_another_reply_already_claimed(
    sim: CdiscountSimulator, conv: Conversation, agent: User
) -> None:
    first = actions.reply(conv, actor=agent, text="Merci !")
    send_message.call(first.pk)
    second = actions.reply(conv, actor=agent, text="Merci !")
    sim.faults.add("timeout", method="POST", path=r"/messages$")

    send_message.call(second.pk)
    settle_time_passes()
    assert send_message.call(second.pk, attempt=2) == "sent"

    first.refresh_from_db()
    second.refresh_from_db()
    assert len(sim.seller_messages()) == 2
    assert first.external_id != second.external_id


# -- failures ----------------------------------------------------------------------------------


def test_server_errors_and_rate_limits_are_retried_honouring_retry_after(
    sim: CdiscountSimulator, channel: Channel, sleeps: list[float]
) -> None:
    sim.buyer_writes(order_id="E1", text="bonjour")
    sim.faults.add("error500", path=f"^{LIST}$", times=2)
    sim.faults.add("rate_limit", path=f"^{LIST}/", retry_after=7)

    assert poll(channel) == 1

    assert 7.0 in sleeps
    assert sim.faults.injected["error500"] == 2
    assert sim.faults.injected["rate_limit"] == 1
    assert reload(channel).is_healthy


def test_an_expired_token_is_refreshed(sim: CdiscountSimulator, channel: Channel) -> None:
    sim.buyer_writes(order_id="T1", text="un")
    poll(channel)
    assert sim.tokens_issued == 1

    sim.expire_tokens()
    sim.buyer_writes(order_id="T2", text="deux")
    sim.faults.add("expired_token", path=f"^{LIST}/")
    assert poll(channel) == 1

    assert sim.tokens_issued == 3  # once for the expired token, once for the early expiry
    assert reload(channel).is_healthy


def test_a_token_is_reused_until_it_expires(sim: CdiscountSimulator, channel: Channel) -> None:
    sim.buyer_writes(order_id="T3", text="un")
    poll(channel)
    poll(channel)

    assert sim.tokens_issued == 1


def test_refused_credentials_mark_the_channel_unhealthy_with_the_reason(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    reconfigure(channel, sim, client_secret="wrong")

    assert poll(channel) == 0

    channel = reload(channel)
    assert not channel.is_healthy
    assert "client id and secret were refused" in channel.last_error
    assert "Invalid client credentials" in channel.last_error


def test_a_revoked_seller_access_marks_the_channel_unhealthy_with_the_reason(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    sim.disabled = True

    poll(channel)

    channel = reload(channel)
    assert not channel.is_healthy
    assert "access refused for seller 98979" in channel.last_error


def test_a_401_after_a_fresh_token_is_permanent(sim: CdiscountSimulator, channel: Channel) -> None:
    sim.faults.add("expired_token", path=f"^{LIST}$", times=2)

    poll(channel)

    channel = reload(channel)
    assert not channel.is_healthy
    assert "refused a fresh token" in channel.last_error


def test_the_simulator_catches_a_wrong_field(
    sim: CdiscountSimulator, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cdiscount, "PAGE_SIZE", 500)

    poll(channel)

    assert sim.violations == ["pageSize=500 must be between 1 and 100"]
    token = httpx.post(
        f"{sim.url}/auth/realms/maas/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
        },
    ).json()["access_token"]
    response = httpx.get(
        f"{sim.url}{LIST}",
        params={"updatedSince": "2026-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {token}", "SellerId": sim.seller_id},
    )
    assert response.status_code == 400
    assert "unknown query parameters ['updatedSince']" in sim.violations[-1]
    response = httpx.get(f"{sim.url}{LIST}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert "SellerId header is required" in sim.violations[-1]


# -- connection and orders ---------------------------------------------------------------------


def test_test_connection_names_the_shop(sim: CdiscountSimulator, channel: Channel) -> None:
    assert CdiscountConnector(channel).test_connection() == (
        "connected as shop Maison Lumière (seller 98979)"
    )


def test_test_connection_says_what_is_wrong(sim: CdiscountSimulator, channel: Channel) -> None:
    reconfigure(channel, sim, seller_id="12345")

    with pytest.raises(ConnectorError, match="access refused for seller 12345") as info:
        CdiscountConnector(channel).test_connection()
    assert info.value.permanent


def test_fetch_order_maps_the_order(sim: CdiscountSimulator, channel: Channel) -> None:
    now = timezone.now()
    sim.add_order(
        "2311239999QWE",
        status="Shipped",
        max_shipping_date=now + timedelta(days=1),
        shipped_at=now,
        carrier="Colissimo",
        parcel_number="6A123456789",
        tracking_url="https://suivi.example/6A123456789",
        customer_id="C-9",
    )

    order = CdiscountConnector(channel).fetch_order("2311239999QWE")

    assert order is not None
    assert order.status == "shipped"
    assert order.total == "49.9"
    assert [(i.sku, i.quantity, i.unit_price) for i in order.items] == [("SKU-9QWE", 1, "49.9")]
    assert order.carrier == "Colissimo"
    assert order.tracking_number == "6A123456789"
    assert order.ship_by is not None
    assert order.buyer is not None
    assert order.buyer.identity_value == "C-9"
    assert CdiscountConnector(channel).fetch_order("UNKNOWN") is None


def test_the_seller_can_open_and_close_a_discussion(
    sim: CdiscountSimulator, channel: Channel
) -> None:
    sim.add_order("O-OPEN")
    connector = CdiscountConnector(channel)

    discussion_id = connector.open_discussion("O-OPEN", "Votre commande aura un jour de retard.")
    connector.close_discussion(discussion_id)

    discussion = sim.discussions[discussion_id]
    assert [m.body for m in discussion.messages] == ["Votre commande aura un jour de retard."]
    assert discussion.is_open is False
    connector.reopen_discussion(discussion_id)
    assert sim.discussions[discussion_id].is_open is True
    assert sim.violations == []


# -- the proof: a long run with faults everywhere ----------------------------------------------


ORDERS = 80
ROUNDS = 5
PER_ROUND = 200  # buyer messages per round: 1,000 in all
RANDOM_FAULTS = {
    "error500": 0.03,
    "rate_limit": 0.03,
    "timeout": 0.003,
    "lose_response": 0.03,
    "duplicate_page": 0.25,
    "reorder_page": 0.25,
}


def test_a_fault_injection_run_ends_with_every_message_once_and_every_reply_sent_once(
    sim: CdiscountSimulator, channel: Channel, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No overlap: a cursor that skipped anything would show here instead of being covered.
    reconfigure(channel, sim, overlap_minutes=0)
    sim.faults.rates.update(RANDOM_FAULTS)
    # Rare at random: one of each for sure, on a read and on a reply.
    sim.faults.add("timeout", method="GET", path=f"^{LIST}/")
    sim.faults.add("timeout", method="POST", path="/messages$")
    rng = random.Random(42)
    kills = {"fetch": 0, "send": 0}

    original_fetch = CdiscountConnector.fetch
    original_send = CdiscountConnector.send

    def fetch_killed_once(self: CdiscountConnector, since: dict[str, Any]) -> Iterator[Any]:
        for n, message in enumerate(original_fetch(self, since)):
            if n == 120 and not kills["fetch"]:
                kills["fetch"] += 1
                raise Killed
            yield message

    def send_killed_twice(self: CdiscountConnector, outbound: Any) -> Any:
        result = original_send(self, outbound)
        if kills["send"] < 2 and outbound.message_id % 7 == 0:
            kills["send"] += 1
            raise Killed  # after the marketplace accepted it, before we recorded it
        return result

    monkeypatch.setattr(CdiscountConnector, "fetch", fetch_killed_once)
    monkeypatch.setattr(CdiscountConnector, "send", send_killed_twice)
    replies: list[str] = []

    def work_until_quiet(max_rounds: int) -> bool:
        for _ in range(max_rounds):
            try:
                new = poll(channel)
            except Killed:
                new = -1
            for conv in Conversation.objects.filter(channel=channel, needs_reply=True):
                text = f"Réponse {len(replies)} pour la discussion {conv.external_thread_id}"
                actions.reply(conv, actor=agent, text=text)
                replies.append(text)
            pending = Message.objects.filter(channel=channel, delivery_state=DeliveryState.QUEUED)
            settle_time_passes()  # between rounds, time for an unanswered post to land
            for message in pending:
                with contextlib.suppress(Killed):
                    send_message.call(message.pk, attempt=message.delivery_attempts + 1)
            # The sweeper finds a send a dead worker left behind once its claim is old.
            Message.objects.filter(channel=channel, delivery_state=DeliveryState.SENDING).update(
                delivery_claimed_at=timezone.now() - timedelta(hours=1)
            )
            sweep_stuck_sends.call()
            busy = Message.objects.filter(
                channel=channel,
                delivery_state__in=[DeliveryState.QUEUED, DeliveryState.SENDING],
            ).exists()
            if new == 0 and not busy and not pending:
                return True
        return False

    for round_number in range(ROUNDS):
        for n in range(PER_ROUND):
            order = f"FR{rng.randrange(ORDERS):06d}"
            claim = rng.choice(["PackageNotReceived", "DamagedProduct"]) if n % 25 == 0 else ""
            sim.buyer_writes(
                order_id=order, text=f"Message {round_number}-{n} du client", claim_type=claim
            )
        assert work_until_quiet(40)

    sim.faults.clear()
    assert work_until_quiet(3)

    stored = list(Message.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert len(stored) == len(set(stored))
    assert set(stored) == {m.message_id for m in sim.all_messages()}
    assert Conversation.objects.filter(channel=channel).count() == len(sim.discussions)
    sent_bodies = Counter(m.body for m in sim.seller_messages())
    assert len(replies) >= ROUNDS * 50
    assert sent_bodies == Counter(replies)  # every reply there, and once
    assert not Message.objects.filter(channel=channel, direction="out").exclude(
        delivery_state=DeliveryState.SENT
    )
    assert kills == {"fetch": 1, "send": 2}
    assert set(sim.faults.injected) == set(RANDOM_FAULTS)
    assert sim.violations == []
    assert reload(channel).is_healthy
