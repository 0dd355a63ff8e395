"""Messenger, Instagram and WhatsApp under faults: everything a buyer writes is stored once,
every reply reaches the buyer once (0 lost, 0 duplicated)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.connectors.meta.simulator import MetaSimulator
from comptoir.inbox.actions import NewAttachment
from comptoir.inbox.models import (
    Channel,
    DeliveryState,
    Direction,
    InboundRecord,
    Message,
    Shop,
)
from comptoir.inbox.tasks import poll_channel, sweep_stuck_sends
from comptoir.lib import http
from tests.fault_support import (
    poll_killed_after,
    reply_to_waiting,
    send_all_queued,
)
from tests.meta_support import make_channel, poster


def flaky_poster(channel: Channel, rng: random.Random) -> Any:
    """Comptoir's web server on a bad day: one delivery in ten answered 503."""
    post = poster(channel)
    return lambda body, sig: 503 if rng.random() < 0.1 else post(body, sig)


def deliver_all(sim: MetaSimulator, post: Any) -> None:
    """Meta retries what was not answered 200 until it is: within the simulated hour between
    rounds, everything queued is delivered."""
    for _ in range(50):
        sim.deliver(post)
        if not sim.outbox:
            return
    raise AssertionError("webhooks never delivered")


@pytest.mark.parametrize("platform", ["messenger", "instagram", "whatsapp"])
def test_fault_injection_every_message_once_and_every_reply_once(
    platform: str, shop: Shop, team: Any, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "sleep", lambda seconds: None)
    sim = MetaSimulator(platform, seed=2026)
    sim.faults.hang_seconds = 0.8
    sim.faults.retry_after = 0.2
    sim.duplicate_rate, sim.shuffle = 0.3, True
    rng = random.Random(19)
    with sim:
        channel = make_channel(shop, team, sim)
        post = flaky_poster(channel, rng)
        buyers = [
            f"3361000{n:04d}" if platform == "whatsapp" else f"7100{n:06d}" for n in range(40)
        ]
        sim.faults.rates.update(
            {"error500": 0.08, "rate_limit": 0.08, "timeout": 0.02, "lose_response": 0.08}
        )
        inbound: list[str] = []
        replies: list[str] = []
        sent_files: list[str] = []

        def pdf_every_third(n: int) -> list[NewAttachment]:
            if n % 3:
                return []
            name = f"devis-{n}.pdf"
            sent_files.append(name)
            return [NewAttachment(name, "application/pdf", b"%PDF-" + name.encode())]

        for round_ in range(6):
            for n in range(40):
                photo = ("photo.jpg", "image/jpeg", bytes([n]) * 500) if n % 10 == 0 else None
                text = f"r{round_} m{n}: où en est ma commande ?"
                inbound.append(sim.buyer_writes(rng.choice(buyers), text, attachment=photo))
            if round_ == 1:
                sim.throttle(3)
            deliver_all(sim, post)
            if round_ in (2, 4):
                poll_killed_after(monkeypatch, channel, 11 + round_)
            poll_channel.call(channel.pk)
            reply_to_waiting(channel, agent, replies, round_, most=12, files=pdf_every_third)
            send_all_queued(channel)
            sim.receipts(read=round_ % 2 == 0)

        sim.faults.rates.update({"timeout": 0.0})
        for _ in range(40):
            Message.objects.filter(delivery_state=DeliveryState.SENDING).update(
                delivery_claimed_at=timezone.now() - timedelta(hours=1)
            )
            sweep_stuck_sends.call()
            deliver_all(sim, post)
            Channel.objects.filter(pk=channel.pk).update(is_healthy=True, poll_after=None)
            poll_channel.call(channel.pk)
            send_all_queued(channel)
            unsent = Message.objects.filter(
                channel=channel, delivery_state__in=[DeliveryState.QUEUED, DeliveryState.SENDING]
            )
            pending = InboundRecord.objects.filter(channel=channel, state="received")
            if not unsent.exists() and not pending.exists() and not sim.outbox:
                break
        sim.faults.clear()

        stored_in = Message.objects.filter(channel=channel, direction=Direction.IN)
        assert Counter(stored_in.values_list("external_id", flat=True)) == Counter(inbound)
        texts = Counter(m.text for m in sim.sent if m.text)
        assert texts == Counter(replies)  # 0 lost, 0 duplicated
        assert Counter(m.file[1] for m in sim.sent if m.file) == Counter(sent_files)
        out = Message.objects.filter(channel=channel, direction=Direction.OUT)
        assert out.count() == len(replies)
        assert not out.exclude(delivery_state=DeliveryState.SENT).exists()
        assert set(out.values_list("external_id", flat=True)) == {m.id for m in sim.sent if m.text}
        assert not InboundRecord.objects.filter(channel=channel, state="failed").exists()
        assert sum(sim.faults.injected.values()) > 15
        assert sim.violations == []
