"""Agents' availability for the live chat: their own switch (Available / Away, in the header, by
the API, audited), and the widget's "an agent is online": an available agent who may answer the
channel and was seen lately (their live stream, or a conversation of the shop open)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from comptoir.accounts import availability
from comptoir.accounts.models import Role, Team, User
from comptoir.audit.models import AuditEvent
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import live
from comptoir.inbox.chat_views import Desk
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Presence, PresenceState, Shop
from tests.test_api_tags import bearer, call

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(shop: Shop, team: Team) -> Channel:
    return Channel.objects.create(shop=shop, kind="chat", name="Live chat", team=team)


def seen(user: User, ago: timedelta = timedelta(0)) -> None:
    User.objects.filter(pk=user.pk).update(seen_at=timezone.now() - ago)


def test_an_available_agent_seen_lately_is_online_and_an_away_one_never(
    chat: Channel, agent: User
) -> None:
    desk = Desk()
    assert not desk.agents_online(chat.pk)  # never seen
    seen(agent)
    assert desk.agents_online(chat.pk)
    availability.set_availability(agent, available=False)
    assert not desk.agents_online(chat.pk)  # Away: whatever they have open
    availability.set_availability(agent, available=True)
    seen(agent, ago=availability.SEEN_RECENTLY + timedelta(seconds=1))
    assert not desk.agents_online(chat.pk)  # gone from the desk


def test_an_open_conversation_of_the_shop_still_counts_unless_away(
    chat: Channel, agent: User, make_inbound: Callable[..., InboundMessage]
) -> None:
    conv_id = ingest(make_inbound()).conversation_id  # another channel of the same shop
    Presence.objects.create(
        user=agent, conversation_id=conv_id, state=PresenceState.VIEWING, seen_at=timezone.now()
    )
    assert Desk().agents_online(chat.pk)
    availability.set_availability(agent, available=False)
    assert not Desk().agents_online(chat.pk)


def test_only_who_may_answer_the_channel_counts(
    chat: Channel, other_team: Team, supervisor: User, analyst: User
) -> None:
    outsider = User.objects.create_user("jules", role=Role.AGENT)
    other_team.members.add(outsider)
    seen(outsider)
    seen(analyst)  # reads only
    assert not Desk().agents_online(chat.pk)
    seen(supervisor)  # sees every channel
    assert Desk().agents_online(chat.pk)


def test_the_switch_is_the_users_own_audited_and_refused_to_read_only_users(
    agent: User, analyst: User
) -> None:
    availability.set_availability(agent, available=False)
    availability.set_availability(agent, available=False)  # no change: no second entry
    agent.refresh_from_db()
    assert agent.available is False
    entries = AuditEvent.objects.filter(action="user.availability_changed")
    assert [(e.actor_id, e.changes) for e in entries] == [(agent.pk, {"available": [True, False]})]
    with pytest.raises(PermissionDenied):
        availability.set_availability(analyst, available=True)


def test_the_header_switch_by_keyboard_form_in_english_and_french(
    client: Client, agent: User
) -> None:
    client.force_login(agent)
    page = client.get(reverse("profile")).content.decode()
    assert 'id="availability"' in page
    assert "Available" in page
    answer = client.post(
        reverse("accounts:availability"), {"available": "0", "next": reverse("profile")}
    )
    assert answer.status_code == 302
    assert answer["Location"] == reverse("profile")
    agent.refresh_from_db()
    assert agent.available is False
    client.cookies["django_language"] = "fr"
    french = client.get(reverse("profile"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Absent" in french
    assert "passer en Disponible" in french
    # Somewhere else is not a place to go back to.
    away = client.post(
        reverse("accounts:availability"), {"available": "1", "next": "https://evil.example/"}
    )
    assert not away["Location"].startswith("https://evil.example")


def test_the_api_reads_and_sets_the_tokens_own_availability(client: Client, agent: User) -> None:
    seen(agent)
    got = call(client, "get", "/me/availability", bearer(agent)).json()
    assert (got["available"], got["online"]) == (True, True)
    answer = call(client, "put", "/me/availability", bearer(agent), {"available": False})
    assert answer.status_code == 200, answer.content
    assert answer.json()["online"] is False
    agent.refresh_from_db()
    assert agent.available is False


def test_the_live_stream_says_the_agent_is_at_the_desk(agent: User) -> None:
    watch = live._Watch(agent, 10**9, 60, 1.0, None)
    watch.check()
    agent.refresh_from_db()
    assert agent.seen_at is not None
    assert availability.seen_recently(agent)
