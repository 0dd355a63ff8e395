"""The respond-by deadline as the agent sees it: how late or how long left on the rows and the
conversation page (absolute time on hover), the Breaching soon view, and timeline events that
say what changed; in English and French."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone, translation

from comptoir.accounts.models import Role, Team, User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.display import absolute_time, duration_text
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation, Priority, SLAState, Status

Build = Callable[..., InboundMessage]


def new(make_inbound: Build, **overrides: Any) -> Conversation:
    return Conversation.objects.get(pk=ingest(make_inbound(**overrides)).conversation_id)


def due(conv: Conversation, delta: timedelta, state: str) -> None:
    Conversation.objects.filter(pk=conv.pk).update(
        respond_by=timezone.now() + delta, sla_state=state, needs_reply=True
    )


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


@pytest.fixture
def logged_in(client: Client, agent: User) -> Client:
    client.force_login(agent)
    return client


def speak(user: User, language: str) -> None:
    user.language = language
    user.timezone = "Europe/Paris"
    user.save()


def shown(at: datetime, language: str) -> str:
    with translation.override(language), timezone.override(ZoneInfo("Europe/Paris")):
        return escape(absolute_time(at))


@translation.override("en")
def test_durations_round_down_and_never_say_zero() -> None:
    assert duration_text(timedelta(seconds=5)) == "1\xa0min"
    assert duration_text(timedelta(minutes=40, seconds=59)) == "40\xa0min"
    assert duration_text(timedelta(hours=3, minutes=50)) == "3\xa0h"
    assert duration_text(timedelta(days=7, hours=2)) == "7\xa0d"


@pytest.mark.parametrize(
    ("language", "late", "left"),
    [
        ("en", "overdue by 3\xa0h", "due in 40\xa0min"),
        ("fr", "en retard de 3\xa0h", "échéance dans 40\xa0min"),
    ],
)
def test_rows_say_how_late_or_how_long_left_with_the_absolute_time(
    logged_in: Client, agent: User, make_inbound: Build, language: str, late: str, left: str
) -> None:
    speak(agent, language)
    overdue = new(make_inbound, subject="Late one", thread_id="a")
    soon = new(make_inbound, subject="Soon one", thread_id="b")
    due(overdue, -timedelta(hours=3, minutes=5), SLAState.BREACHED)
    due(soon, timedelta(minutes=40, seconds=30), SLAState.AT_RISK)
    overdue.refresh_from_db()

    html = page(logged_in, "/inbox/?view=all")

    assert late in html
    assert left in html
    assert "0 minutes" not in html
    assert "0\xa0minutes" not in html
    # The tooltip's absolute time, in the user's timezone and language.
    assert (
        f'<time datetime="{overdue.respond_by.isoformat()}"'
        f' title="{shown(overdue.respond_by, language)}"' in html
    )
    # The badge is a CSS dot with a spoken label, not a glyph.
    label = "Dépassée" if language == "fr" else "Breached"
    assert f'class="sla-badge sla-breached" role="img" aria-label="{label}"' in html


def test_breaching_soon_lists_only_what_is_still_due(
    logged_in: Client, make_inbound: Build
) -> None:
    missed = new(make_inbound, subject="Already missed", thread_id="a")
    at_risk = new(make_inbound, subject="Still due", thread_id="b")
    later = new(make_inbound, subject="Due tomorrow", thread_id="c")
    due(missed, -timedelta(hours=1), SLAState.BREACHED)
    due(at_risk, timedelta(hours=1), SLAState.AT_RISK)
    due(later, timedelta(days=1), SLAState.OK)

    html = page(logged_in, "/inbox/?view=breaching")

    assert "Still due" in html
    assert "Already missed" not in html
    assert "Due tomorrow" not in html
    assert "Already missed" in page(logged_in, "/inbox/?sla=breached")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_conversation_page_shows_the_deadline_state_and_snooze_until(
    logged_in: Client, agent: User, make_inbound: Build, language: str
) -> None:
    speak(agent, language)
    conv = new(make_inbound)
    due(conv, -timedelta(days=2, hours=1), SLAState.BREACHED)
    conv.refresh_from_db()

    html = page(logged_in, f"/inbox/c/{conv.pk}/")

    assert 'id="deadline"' in html
    assert f'<time datetime="{conv.respond_by.isoformat()}"' in html
    if language == "fr":
        assert "Répondre avant" in html
        assert "en retard de 2\xa0j" in html
        assert "Dépassée" in html
    else:
        assert "Respond by" in html
        assert "overdue by 2\xa0d" in html
        assert "Breached" in html

    until = timezone.now() + timedelta(days=3)
    actions.snooze_conversation(conv, until=until, actor=agent)
    html = page(logged_in, f"/inbox/c/{conv.pk}/")
    snoozed = "En pause jusqu\u2019au" if language == "fr" else "Snoozed until"
    assert f'<span class="snoozed-until">{snoozed} {shown(until, language)}</span>' in html


def test_a_conversation_without_deadline_says_so(logged_in: Client, make_inbound: Build) -> None:
    conv = new(make_inbound)
    Conversation.objects.filter(pk=conv.pk).update(
        respond_by=None, sla_state=SLAState.NONE, needs_reply=False
    )
    html = page(logged_in, f"/inbox/c/{conv.pk}/")
    assert '<span class="sla-state sla-none">No deadline</span>' in html


def test_a_passed_deadline_reads_breached_before_the_sweep_records_it(
    logged_in: Client, make_inbound: Build
) -> None:
    """Never "On time" beside "overdue by 7 d": the state follows the clock."""
    conv = new(make_inbound)
    Conversation.objects.filter(pk=conv.pk).update(
        respond_by=timezone.now() - timedelta(days=7), sla_state=SLAState.OK
    )
    html = page(logged_in, f"/inbox/c/{conv.pk}/")
    assert '<span class="sla-state sla-breached">Breached</span>' in html
    assert "On time" not in html


@pytest.mark.parametrize(
    ("language", "said"),
    [
        (
            "en",
            [
                'Assigned to Camille Dubois <span class="by">by Marie</span>',
                "Team: Marketplaces → Returns",
                "Status: Open → Pending",
                "Priority: Normal → Urgent",
                "Tagged “refund”",
                "Tag “refund” removed",
                "Status: Pending → Resolved",
            ],
        ),
        (
            "fr",
            [
                'Assignée à Camille Dubois <span class="by">par Marie</span>',
                "Équipe : Marketplaces → Returns",
                "Statut : Ouverte → En attente",
                "Priorité : Normale → Urgente",
                "Étiquette « refund » ajoutée",
                "Étiquette « refund » retirée",
                "Statut : En attente → Résolue",
            ],
        ),
    ],
)
def test_timeline_events_say_what_changed(
    logged_in: Client,
    agent: User,
    team: Team,
    make_inbound: Build,
    language: str,
    said: list[str],
) -> None:
    speak(agent, language)
    camille = User.objects.create_user(
        "camille", "c@example.com", "pw", role=Role.AGENT, first_name="Camille", last_name="Dubois"
    )
    returns = Team.objects.create(name="Returns")
    team.members.add(camille)
    returns.members.add(agent, camille)
    conv = new(make_inbound)
    actions.assign_conversation(conv, assignee=camille, actor=agent)
    actions.assign_team(conv, team_id=returns.pk, actor=agent)
    actions.set_status(conv, status=Status.PENDING, actor=agent)
    actions.set_priority(conv, priority=Priority.URGENT, actor=agent)
    actions.tag_conversation(conv, tag="refund", actor=agent)
    actions.untag_conversation(conv, tag="refund", actor=agent)
    actions.set_status(conv, status=Status.RESOLVED, actor=agent)

    html = page(logged_in, f"/inbox/c/{conv.pk}/")

    for text in said:
        assert text in html.replace("&#x27;", "'"), text


def test_events_written_before_their_data_was_kept_still_read(
    logged_in: Client, agent: User, make_inbound: Build
) -> None:
    """Old rows: a status change without its previous status, an assignment with no name."""
    from comptoir.inbox.models import Event, EventKind

    conv = new(make_inbound)
    Event.objects.create(conversation=conv, kind=EventKind.STATUS_CHANGED, data={"status": "open"})
    Event.objects.create(conversation=conv, kind=EventKind.ASSIGNED, data={}, actor=agent)
    Event.objects.create(conversation=conv, kind=EventKind.PRIORITY_CHANGED, data=[])
    Event.objects.create(
        conversation=conv, kind=EventKind.TAGGED, actor_label="rule:7", data={"tag": "vip"}
    )

    html = page(logged_in, f"/inbox/c/{conv.pk}/")

    assert "Status changed to Open" in html
    assert 'Assigned <span class="by">by Marie</span> · <time datetime="' in html
    assert "Priority changed · <time" in html
    assert 'Tagged “vip” <span class="by">by a rule</span> · <time' in html


@pytest.mark.parametrize(
    ("language", "rule"),
    [
        ("en", "Amazon: answer buyer messages within 24 hours, every day"),
        ("fr", "Amazon : répondre aux messages des acheteurs sous 24 heures, tous les jours"),
    ],
)
def test_the_conversation_header_names_the_policy_that_set_the_deadline(
    logged_in: Client, agent: User, make_inbound: Build, language: str, rule: str
) -> None:
    speak(agent, language)
    conv = new(make_inbound)
    due(conv, timedelta(hours=3), SLAState.OK)

    html = page(logged_in, f"/inbox/c/{conv.pk}/")

    assert f'<span class="sla-policy">{escape(rule)}</span>' in html
