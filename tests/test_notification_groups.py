"""The notifications list: one line per conversation, unread @mentions first, whatever the
number of SLA and assignment notices that came after them."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.notifications.actions import Kind, notify


def test_one_line_per_conversation_with_the_unread_mention_first(
    client: Client, shop: Shop, channel: Channel, agent: User, supervisor: User
) -> None:
    convs = [
        Conversation.objects.create(shop=shop, channel=channel, subject=f"Commande {n}")
        for n in range(30)
    ]
    start = timezone.now() - timedelta(hours=2)
    mentioned = convs[7]
    notify(
        Kind.MENTIONED,
        conversations=[mentioned.pk],
        users=[agent.pk],
        actor_id=supervisor.pk,
        text="@marie peux-tu rappeler ce client ?",
        now=start,
    )
    # A hundred later notices about the thirty conversations, the mentioned one included.
    for minute in range(1, 101):
        conv = convs[minute % 30]
        kind = Kind.SLA_AT_RISK if minute % 2 else Kind.SLA_BREACHED
        notify(
            kind, conversations=[conv.pk], users=[agent.pk], now=start + timedelta(minutes=minute)
        )
    client.force_login(agent)

    html = client.get("/notifications/").text

    assert html.count("<tr class=") == 30  # a line per conversation, not 101
    first = html.index("<tr class=")
    assert html.index(f'href="/inbox/c/{mentioned.pk}/"') < html.index("</tr>", first)
    assert '<tr class="unread mention">' in html
    assert "@marie peux-tu rappeler ce client ?" in html
    assert "SLA at risk (4)" in html  # counted, not listed (minutes 1, 31, 61 and 91)
    # Read, the mention no longer jumps the queue: the newest comes first.
    client.post("/notifications/read")
    html = client.get("/notifications/").text
    newest = convs[100 % 30]
    first = html.index("<tr class=")
    assert html.index(f'href="/inbox/c/{newest.pk}/"') < html.index("</tr>", first)
    assert "mention-badge" not in html
