"""The agent's pages through Django's test client: scope, filters, actions, headers, language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Message, Status

Build = Callable[..., InboundMessage]


def new_conversation(make_inbound: Build, **overrides: Any) -> Conversation:
    result = ingest(make_inbound(**overrides))
    return Conversation.objects.get(pk=result.conversation_id)


@pytest.fixture
def logged_in(client: Client, agent: User) -> Client:
    client.force_login(agent)
    return client


def test_pages_need_a_login(client: Client) -> None:
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/inbox/")
    assert client.get("/").status_code == 302


def test_the_login_page_logs_in_and_lands_on_the_inbox(client: Client, agent: User) -> None:
    agent.set_password("secret-pass")
    agent.save()

    response = client.post("/login/", {"username": agent.username, "password": "secret-pass"})

    assert response.status_code == 302
    assert response["Location"] == "/inbox/"


def test_the_inbox_shows_what_needs_a_reply_soonest_first(
    logged_in: Client, make_inbound: Build
) -> None:
    later = new_conversation(make_inbound, subject="Later", sender={"identity_value": "a@x.fr"})
    sooner = new_conversation(make_inbound, subject="Sooner", sender={"identity_value": "b@x.fr"})
    Conversation.objects.filter(pk=sooner.pk).update(respond_by=later.respond_by)
    Conversation.objects.filter(pk=later.pk).update(
        respond_by=later.respond_by.replace(year=later.respond_by.year + 1)  # type: ignore[union-attr]
    )

    html = logged_in.get("/inbox/").content.decode()

    assert html.index("Sooner") < html.index("Later")


def test_another_teams_conversations_are_nowhere(
    client: Client, outsider: User, make_inbound: Build
) -> None:
    conv = new_conversation(make_inbound, subject="Colis perdu")
    client.force_login(outsider)

    assert "Colis perdu" not in client.get("/inbox/?view=all").content.decode()
    assert client.get(f"/inbox/c/{conv.pk}/").status_code == 404
    assert client.post(f"/inbox/c/{conv.pk}/reply", {"text": "x"}).status_code == 404
    assert not Message.objects.filter(direction="out").exists()


def test_filters_combine_and_stay_in_the_url(
    logged_in: Client, make_inbound: Build, channel: Channel, shop: Any, team: Any
) -> None:
    fnac = Channel.objects.create(shop=shop, kind="api", marketplace="fnac", name="Fnac", team=team)
    new_conversation(make_inbound, subject="On the API channel")
    new_conversation(make_inbound, subject="On Fnac", channel_id=fnac.pk, order_number="FN-1")

    by_marketplace = logged_in.get("/inbox/?view=all&marketplace=fnac").content.decode()
    by_order = logged_in.get("/inbox/?view=all&q=FN-1").content.decode()
    both = logged_in.get("/inbox/?view=all&marketplace=shop&q=FN-1").content.decode()

    assert "On Fnac" in by_marketplace
    assert "On the API channel" not in by_marketplace
    assert "On Fnac" in by_order
    assert "On Fnac" not in both


def test_a_conversation_page_shows_the_timeline_and_the_order(
    logged_in: Client, make_inbound: Build
) -> None:
    conv = new_conversation(make_inbound, text="Bonjour, où est mon colis ?")

    html = logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()

    assert "Bonjour, où est mon colis ?" in html
    assert "Jeanne Martin" in html


def test_an_agent_replies_assigns_and_resolves(
    logged_in: Client, agent: User, make_inbound: Build
) -> None:
    conv = new_conversation(make_inbound)

    logged_in.post(f"/inbox/c/{conv.pk}/reply", {"text": "Il arrive demain.", "mode": "reply"})
    logged_in.post(
        f"/inbox/c/{conv.pk}/reply", {"text": "Vérifier le transporteur", "mode": "note"}
    )
    logged_in.post(f"/inbox/c/{conv.pk}/assign-me")
    logged_in.post(f"/inbox/c/{conv.pk}/status", {"status": "resolved"})

    conv.refresh_from_db()
    assert list(conv.messages.order_by("id").values_list("direction", "text"))[1:] == [
        ("out", "Il arrive demain."),
        ("note", "Vérifier le transporteur"),
    ]
    assert conv.assignee == agent
    assert conv.status == Status.RESOLVED


def test_an_analyst_reads_but_cannot_write(
    client: Client, analyst: User, make_inbound: Build
) -> None:
    conv = new_conversation(make_inbound)
    client.force_login(analyst)

    assert client.get(f"/inbox/c/{conv.pk}/").status_code == 200
    assert client.post(f"/inbox/c/{conv.pk}/reply", {"text": "x"}).status_code == 403
    assert 'name="text"' not in client.get(f"/inbox/c/{conv.pk}/").content.decode()


def test_the_inbox_costs_the_same_queries_for_3_or_30_conversations(
    logged_in: Client,
    make_inbound: Build,
    django_assert_num_queries: Any,
    django_assert_max_num_queries: Any,
) -> None:
    def fill(n: int, start: int) -> None:
        for i in range(start, start + n):
            new_conversation(make_inbound, sender={"identity_value": f"b{i}@x.fr"}, tags=["t"])

    fill(3, 0)
    cache.clear()  # both pages cold: the cached counts and choices are computed each time
    with django_assert_max_num_queries(25) as small:
        logged_in.get("/inbox/?view=all")
    fill(27, 3)
    cache.clear()
    with django_assert_num_queries(len(small.captured_queries)):
        logged_in.get("/inbox/?view=all")


def test_pages_forbid_inline_script_and_framing(logged_in: Client) -> None:
    policy = logged_in.get("/inbox/")["Content-Security-Policy"]

    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


def test_the_pages_speak_french_when_asked(logged_in: Client) -> None:
    logged_in.post("/i18n/setlang/", {"language": "fr", "next": "/inbox/"})

    html = logged_in.get("/inbox/").content.decode()

    assert "À répondre" in html
    assert 'lang="fr"' in html


def test_the_conversation_timeline_and_status_speak_french_too(
    logged_in: Client, make_inbound: Build
) -> None:
    conv = new_conversation(make_inbound)
    logged_in.post("/i18n/setlang/", {"language": "fr", "next": "/inbox/"})

    html = logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()

    assert "Conversation créée" in html  # the timeline's event
    assert f"#{conv.pk} · {conv.channel.name} · Ouverte" in html  # the status
    assert "Conversation created" not in html


def test_more_rows_come_by_keyset_pages(logged_in: Client, make_inbound: Build) -> None:
    for i in range(55):
        new_conversation(
            make_inbound, subject=f"Sujet {i:02d}", sender={"identity_value": f"{i}@x.fr"}
        )

    first = logged_in.get("/inbox/?view=all").content.decode()
    assert first.count("data-href=") == 50
    more = first.split('hx-get="')[1].split('"')[0].replace("&amp;", "&")
    rest = logged_in.get(f"/inbox/{more}", headers={"HX-Request": "true"}).content.decode()

    assert rest.count("data-href=") == 5
    assert "<html" not in rest  # only the rows, for htmx to append


def test_bulk_actions_apply_to_the_selection_within_scope(
    logged_in: Client, agent: User, make_inbound: Build, other_team: Any, shop: Any
) -> None:
    mine = [
        new_conversation(make_inbound, sender={"identity_value": f"{i}@x.fr"}) for i in range(3)
    ]
    elsewhere = Channel.objects.create(shop=shop, kind="api", name="Autre", team=other_team)
    hidden = new_conversation(make_inbound, channel_id=elsewhere.pk)
    ids = [c.pk for c in [*mine, hidden]]

    logged_in.post("/inbox/bulk", {"action": "resolve", "ids": ids, "next": "/inbox/?view=all"})
    logged_in.post("/inbox/bulk", {"action": "assign_me", "ids": ids})

    assert set(Conversation.objects.filter(pk__in=ids, status=Status.RESOLVED)) == set(mine)
    assert Conversation.objects.get(pk=hidden.pk).assignee is None
    assert Conversation.objects.filter(assignee=agent).count() == 3


def test_tags_priority_and_snooze_from_the_conversation(
    logged_in: Client, agent: User, make_inbound: Build
) -> None:
    conv = new_conversation(make_inbound)
    agent.timezone = "Europe/Paris"
    agent.save()

    logged_in.post(f"/inbox/c/{conv.pk}/tag", {"tag": "livraison"})
    logged_in.post(f"/inbox/c/{conv.pk}/priority", {"priority": "3"})
    logged_in.post(f"/inbox/c/{conv.pk}/snooze", {"until": "2099-01-02T09:30"})
    refused = logged_in.post(f"/inbox/c/{conv.pk}/snooze", {"until": "demain"})

    conv.refresh_from_db()
    assert [t.name for t in conv.tags.all()] == ["livraison"]
    assert conv.priority == 3
    assert conv.status == Status.SNOOZED
    assert conv.snoozed_until is not None
    assert conv.snoozed_until.isoformat() == "2099-01-02T08:30:00+00:00"  # 9:30 in Paris
    assert refused.status_code == 400


def test_each_view_shows_its_count(logged_in: Client, make_inbound: Build) -> None:
    for i in range(2):
        new_conversation(make_inbound, sender={"identity_value": f"{i}@x.fr"})

    html = logged_in.get("/inbox/").content.decode()

    needs = html.split('data-view="needs_reply"')[1].split("</a>")[0]
    resolved = html.split('data-view="resolved"')[1].split("</a>")[0]
    assert '<span class="count">2</span>' in needs
    assert '<span class="count">0</span>' in resolved
