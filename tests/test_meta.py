"""Messenger, Instagram and WhatsApp: webhooks, the Send API and the 24-hour window, against
the local Meta simulator with the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone, translation

from comptoir.accounts.models import User
from comptoir.automation.checks import run_checks
from comptoir.connectors.meta.simulator import MetaSimulator
from comptoir.inbox import actions
from comptoir.inbox.actions import Draft
from comptoir.inbox.display import event_text
from comptoir.inbox.models import (
    Attachment,
    Channel,
    Conversation,
    DeliveryState,
    Direction,
    Event,
    EventKind,
    InboundRecord,
    Message,
    Shop,
)
from comptoir.inbox.tasks import poll_channel, send_message
from comptoir.lib import meta_window
from tests.meta_support import meta_fixtures, poster

no_sleep, sim, channel = meta_fixtures(seed=3)


def buyer_id(sim: MetaSimulator, n: int = 1) -> str:
    return f"3361234{n:04d}" if sim.platform == "whatsapp" else f"7000000000{n:04d}"


def deliver_and_poll(sim: MetaSimulator, channel: Channel) -> None:
    sim.deliver(poster(channel))
    poll_channel.call(channel.pk)


# -- verification and signatures ----------------------------------------------------------------


def test_verification_answers_the_challenge_only_with_our_verify_token(
    client: Client, channel: Channel, sim: MetaSimulator
) -> None:
    url = f"/hooks/meta/{channel.pk}/"
    good = {"hub.mode": "subscribe", "hub.verify_token": sim.verify_token, "hub.challenge": "42"}
    response = client.get(url, good)
    assert response.status_code == 200
    assert response.content == b"42"
    assert client.get(url, good | {"hub.verify_token": "wrong-token"}).status_code == 403
    assert client.get(url, good | {"hub.mode": "unsubscribe"}).status_code == 403
    assert client.get(f"/hooks/meta/{channel.pk + 999}/", good).status_code == 404


def test_a_signed_body_is_kept_and_a_bad_or_missing_signature_is_refused(
    client: Client, channel: Channel, sim: MetaSimulator
) -> None:
    sim.buyer_writes(buyer_id(sim), "Bonjour")
    body = sim.outbox[0]
    url = f"/hooks/meta/{channel.pk}/"
    bad = "sha256=" + "0" * 64
    assert client.post(url, body, "application/json").status_code == 403
    response = client.post(url, body, "application/json", headers={"X-Hub-Signature-256": bad})
    assert response.status_code == 403
    tampered = body.replace(b"Bonjour", b"Bonsoir")
    headers = {"X-Hub-Signature-256": sim.sign(body)}
    assert client.post(url, tampered, "application/json", headers=headers).status_code == 403
    assert not InboundRecord.objects.exists()
    assert client.post(url, body, "application/json", headers=headers).status_code == 200
    (record,) = InboundRecord.objects.all()
    assert bytes(record.raw) == body
    assert record.source == "webhook"


# -- in ---------------------------------------------------------------------------------------


def test_duplicated_and_shuffled_deliveries_store_each_message_once(
    channel: Channel, sim: MetaSimulator
) -> None:
    sim.duplicate_rate, sim.shuffle = 0.5, True
    ids = [sim.buyer_writes(buyer_id(sim, n % 3), f"Question {n}") for n in range(12)]
    sim.deliver(poster(channel))
    # Meta delivers some again a while later.
    for body in list(InboundRecord.objects.values_list("raw", flat=True))[:4]:
        sim.outbox.append(bytes(body))
    sim.deliver(poster(channel))
    poll_channel.call(channel.pk)
    poll_channel.call(channel.pk)
    stored = sorted(Message.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert stored == sorted(ids)
    assert Conversation.objects.filter(channel=channel).count() == 3
    assert not InboundRecord.objects.filter(state="received").exists()
    conv = Message.objects.get(external_id=ids[0]).conversation
    assert conv.customer is not None
    assert conv.customer.name.startswith("Client")


def test_a_worker_killed_before_storing_loses_nothing(
    channel: Channel, sim: MetaSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.inbox import tasks

    ids = [sim.buyer_writes(buyer_id(sim), f"Message {n}") for n in range(3)]
    sim.deliver(poster(channel))

    def dying(items: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # the process dies after the bodies were kept

    real = tasks.ingest_many
    monkeypatch.setattr(tasks, "ingest_many", dying)
    with pytest.raises(KeyboardInterrupt):
        poll_channel.call(channel.pk)
    monkeypatch.setattr(tasks, "ingest_many", real)
    assert not Message.objects.exists()
    poll_channel.call(channel.pk)
    assert set(Message.objects.values_list("external_id", flat=True)) == set(ids)


def test_media_are_downloaded_and_kept(channel: Channel, sim: MetaSimulator) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + b"x" * 2000
    mid = sim.buyer_writes(buyer_id(sim), "Le colis", attachment=("colis.png", "image/png", photo))
    deliver_and_poll(sim, channel)
    message = Message.objects.get(external_id=mid)
    (attachment,) = Attachment.objects.filter(message=message)
    assert attachment.size == len(photo)
    assert attachment.content_type == "image/png"
    assert sim.calls[f"GET /media/{next(iter(sim.media))}"] == 1


def test_a_media_url_to_a_private_address_is_refused_by_the_guard(
    channel: Channel, sim: MetaSimulator
) -> None:
    sim.media_base = "http://169.254.169.254"  # a cloud's metadata service: never reached
    mid = sim.buyer_writes(buyer_id(sim), "Photo", attachment=("a.png", "image/png", b"png"))
    deliver_and_poll(sim, channel)
    # The message is stored; the file is left out, with the reason, never fetched.
    message = Message.objects.get(external_id=mid)
    (attachment,) = Attachment.objects.filter(message=message)
    assert attachment.sha256 == ""
    assert "not allowed" in attachment.dropped_reason
    assert Channel.objects.get(pk=channel.pk).is_healthy


# -- out --------------------------------------------------------------------------------------


def converse(
    channel: Channel, sim: MetaSimulator, *, ago: timedelta = timedelta(0)
) -> Conversation:
    sim.buyer_writes(buyer_id(sim), "Où est ma commande ?", at=datetime.now(UTC) - ago)
    deliver_and_poll(sim, channel)
    return Conversation.objects.get(channel=channel)


def test_a_reply_inside_the_window_goes_out_once_and_its_receipts_are_recorded(
    channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    conv = converse(channel, sim)
    reply = actions.reply(conv, actor=agent, text="Elle part demain.")
    send_message.call(reply.pk)
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert [m.text for m in sim.sent] == ["Elle part demain."]
    assert reply.external_id == sim.sent[0].id
    sim.receipts()
    deliver_and_poll(sim, channel)
    receipts = Event.objects.filter(
        kind=EventKind.DELIVERED, data__message_id=reply.pk, data__has_key="status"
    )
    statuses = set(receipts.values_list("data__status", flat=True))
    assert statuses == {"delivered", "read"}
    with translation.override("fr"):
        told = {event_text(e, {}) for e in receipts}
    assert told == {"Réponse remise à l'acheteur", "Réponse lue par l'acheteur"}
    # The echo of our own message (Messenger, Instagram) is that message: no copy.
    assert Message.objects.filter(conversation=conv, direction=Direction.OUT).count() == 1
    # Receipts delivered again change nothing.
    sim.receipts()
    deliver_and_poll(sim, channel)
    assert receipts.count() == 2


def test_a_receipt_that_overtakes_the_send_is_recorded_later(
    channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    conv = converse(channel, sim)
    reply = actions.reply(conv, actor=agent, text="Merci !")
    # Sent, but its answer not yet recorded when the receipts come in.
    send_message.call(reply.pk)
    external = Message.objects.get(pk=reply.pk).external_id
    Message.objects.filter(pk=reply.pk).update(external_id="")
    sim.outbox = [b for b in sim.outbox if b"is_echo" not in b]  # (it would be stored as such)
    sim.receipts()
    deliver_and_poll(sim, channel)
    assert not Event.objects.filter(
        kind=EventKind.DELIVERED, data__message_id=reply.pk, data__has_key="status"
    ).exists()
    Message.objects.filter(pk=reply.pk).update(external_id=external)
    poll_channel.call(channel.pk)
    assert Event.objects.filter(
        kind=EventKind.DELIVERED, data__message_id=reply.pk, data__status="read"
    ).exists()


def draft(conv: Conversation, text: str) -> Draft:
    conv.refresh_from_db()
    return Draft(conversation=conv, text=text)


def window_codes(conv: Conversation, text: str) -> list[str]:
    return [r.code for r in run_checks(draft(conv, text), only_blocking=True)]


def test_the_window_rules(channel: Channel, sim: MetaSimulator, agent: User) -> None:
    conv = converse(channel, sim, ago=timedelta(hours=30))
    if sim.platform == "whatsapp":
        assert window_codes(conv, "Bonjour") == ["meta_window"]
        with translation.override("fr"):
            (result,) = run_checks(draft(conv, "Bonjour"), only_blocking=True)
        assert "modèle" in result.message
        assert window_codes(conv, "/template suivi_commande") == []
        with pytest.raises(ValidationError):
            actions.reply(conv, actor=agent, text="Bonjour")
        reply = actions.reply(conv, actor=agent, text="/template reprise_contact")
        send_message.call(reply.pk)
        assert Message.objects.get(pk=reply.pk).delivery_state == DeliveryState.SENT
        assert sim.sent[0].text == "Bonjour, avez-vous encore besoin d'aide ?"
        return
    # Messenger and Instagram: a human agent's answer, tagged, for 7 days.
    assert window_codes(conv, "Bonjour") == []
    reply = actions.reply(conv, actor=agent, text="Votre colis arrive.")
    send_message.call(reply.pk)
    assert Message.objects.get(pk=reply.pk).delivery_state == DeliveryState.SENT
    assert sim.calls[f"POST /v21.0/{sim.account_id}/messages"] == 2  # RESPONSE, then tagged
    Conversation.objects.filter(pk=conv.pk).update(
        last_inbound_at=timezone.now() - timedelta(days=8)
    )
    assert window_codes(conv, "Bonjour") == ["meta_window"]
    with translation.override("fr"):
        (result,) = run_checks(draft(conv, "Bonjour"), only_blocking=True)
    assert "7 jours" in result.message


def test_window_verdicts() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    verdict = meta_window.verdict
    recent, day_and_half, week_and_day = (now - timedelta(hours=h) for h in (2, 36, 192))
    assert verdict("messenger", last_inbound_at=recent, now=now, text="x").refused == ""
    tagged = verdict("instagram", last_inbound_at=day_and_half, now=now, text="x")
    assert (tagged.messaging_type, tagged.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert verdict("messenger", last_inbound_at=week_and_day, now=now, text="x").refused
    assert verdict("whatsapp", last_inbound_at=day_and_half, now=now, text="x").refused
    named = verdict(
        "whatsapp",
        last_inbound_at=None,
        now=now,
        text="/template relance fr",
        approved_templates=frozenset({"relance"}),
    )
    assert (named.template, named.template_language, named.refused) == ("relance", "fr", "")
    unknown = verdict(
        "whatsapp",
        last_inbound_at=None,
        now=now,
        text="/template x",
        approved_templates=frozenset({"y"}),
    )
    assert unknown.refused == "template_unknown"


def test_a_send_whose_answer_was_lost_is_found_not_sent_again(
    channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    from tests.send_support import settle_time_passes

    conv = converse(channel, sim)
    reply = actions.reply(conv, actor=agent, text="Remboursé ce jour.")
    sim.faults.add("lose_response", method="POST", path="/messages$")
    send_message.call(reply.pk)
    assert Message.objects.get(pk=reply.pk).delivery_state == DeliveryState.QUEUED
    if sim.platform == "whatsapp":
        deliver_and_poll(sim, channel)  # its "sent" status names our key
    settle_time_passes(timedelta(seconds=30))
    send_message.call(reply.pk, attempt=2)
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert [m.text for m in sim.sent] == ["Remboursé ce jour."]
    assert reply.external_id == sim.sent[0].id


def test_a_refused_token_stops_the_channel_but_webhooks_are_still_kept(
    client: Client, channel: Channel, sim: MetaSimulator
) -> None:
    sim.token = "rotated"
    sim.buyer_writes(buyer_id(sim), "Allô ?")
    sim.deliver(poster(channel, client))
    poll_channel.call(channel.pk)
    channel.refresh_from_db()
    if sim.platform == "whatsapp":
        # A text needs no Graph call: only media and profile look-ups would fail.
        assert Message.objects.filter(channel=channel).count() == 1
        return
    assert not channel.is_healthy
    assert "access token" in channel.last_error
    sim.buyer_writes(buyer_id(sim), "Toujours là ?")
    assert sim.deliver(poster(channel, client)) == 1
    assert InboundRecord.objects.filter(channel=channel, state="received").count() == 2


def test_the_demo_buyers_write_through_the_webhook(shop: Shop, team: Any) -> None:
    from comptoir.connectors.meta.demo import demo
    from comptoir.demo.buyers import Buyers

    channel = Channel.objects.create(shop=shop, kind="instagram", marketplace="shop", name="IG")
    market = demo(channel, 5)
    with market.simulator:
        channel.set_settings(market.settings())
        channel.save()
        written = Buyers("IG", 5).write()
        market.buyer_writes(written)
        poll_channel.call(channel.pk)
    (message,) = Message.objects.filter(channel=channel)
    assert message.text == written.text
    assert message.conversation.subject  # titled by its first words
    assert message.conversation.customer is not None
    assert message.conversation.customer.name == written.customer_name
