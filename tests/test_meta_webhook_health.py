"""A Meta channel's webhook on the channels page: what it last heard, signatures refused in the
last 24 hours, and a warning (with the fix) when replies leave but Meta calls nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.connectors.meta.simulator import MetaSimulator
from comptoir.inbox import actions
from comptoir.inbox.models import Channel, Conversation, WebhookHealth
from comptoir.inbox.tasks import poll_channel, send_message
from comptoir.inbox.webhook_ports import webhook_report
from tests.meta_support import meta_fixtures, poster

no_sleep, sim, channel = meta_fixtures(seed=7, platforms=("messenger", "whatsapp"))


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("owner9", "o@x.fr", "x", role="owner")


def test_what_the_webhook_heard_is_recorded(
    channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    post = poster(channel)
    assert post(b'{"object": "page", "entry": []}', "sha256=forged") == 403
    assert post(b"{}", "") == 403
    report = webhook_report(channel)
    assert report.bad_signatures_24h == 2
    assert report.last_bad_signature_at is not None
    assert report.last_received_at is None
    buyer = "33612340001" if sim.platform == "whatsapp" else "70000000000001"
    sim.buyer_writes(buyer, "Bonjour")
    sim.deliver(post)
    report = webhook_report(channel)
    assert report.last_received_at is not None
    assert report.last_status_at is None  # a message, not a receipt
    poll_channel.call(channel.pk)
    reply = actions.reply(Conversation.objects.get(channel=channel), actor=agent, text="Oui ?")
    send_message.call(reply.pk)
    sim.receipts()
    sim.deliver(post)
    assert webhook_report(channel).last_status_at is not None
    # Signatures refused more than 24 hours ago no longer count.
    old = (timezone.now() - timedelta(hours=25)).isoformat()
    WebhookHealth.objects.filter(channel=channel).update(bad_signatures=[old])
    assert webhook_report(channel).bad_signatures_24h == 0
    assert not webhook_report(channel).silent


def test_replies_leaving_without_any_webhook_warn_with_the_fix(
    client: Client, channel: Channel, sim: MetaSimulator, agent: User, owner: User
) -> None:
    buyer = "33612340002" if sim.platform == "whatsapp" else "70000000000002"
    sim.buyer_writes(buyer, "Bonjour")
    post = poster(channel)
    sim.deliver(post)
    poll_channel.call(channel.pk)
    client.force_login(owner)
    assert "webhook-warning" not in client.get("/settings/channels/").content.decode()
    # Meta stops calling (the app unsubscribed) while replies still leave.
    WebhookHealth.objects.filter(channel=channel).update(
        last_received_at=timezone.now() - timedelta(hours=7)
    )
    reply = actions.reply(Conversation.objects.get(channel=channel), actor=agent, text="Merci")
    send_message.call(reply.pk)
    assert webhook_report(channel).silent
    page = client.get("/settings/channels/").content.decode()
    assert "No webhook from Meta for 6 hours" in page
    assert "subscribed_apps" in page
    assert "Last webhook" in page
    french = client.get("/settings/channels/", headers={"accept-language": "fr"}).content.decode()
    assert "Aucun webhook de Meta depuis 6 heures" in french
    assert "Dernier webhook" in french
