"""Parts of the pages kept per process (`{% fragment %}`: the inbox's filter bar, the header's
links, the shortcuts list) show what a fresh rendering would for each user, language, role,
search and set of choices; a repeated presence is not written again within seconds."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import Role, Team, User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Presence, Priority, Shop
from comptoir.web.templatetags import fragments

Build = Callable[..., InboundMessage]


def page(client: Client, url: str = "/inbox/", language: str = "en") -> str:
    client.cookies["django_language"] = language
    response = client.get(url)
    assert response.status_code == 200
    # The csrf token is masked anew for each response; the snooze times follow the clock.
    html = re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "csrf", response.content.decode())
    return re.sub(r'value="\d{4}-\d\d-\d\dT\d\d:\d\d"', "time", html)


def test_a_kept_part_is_the_page_a_fresh_rendering_gives(client: Client, agent: User) -> None:
    client.force_login(agent)
    for language in ("en", "fr"):
        for url in ("/inbox/", "/inbox/?view=all&status=open&q=colis"):
            fragments.clear()
            fresh = page(client, url, language)
            assert page(client, url, language) == fresh


def test_each_language_has_its_own_parts(client: Client, agent: User) -> None:
    client.force_login(agent)
    fragments.clear()

    assert "Plus de filtres" in page(client, language="fr")
    english = page(client, language="en")

    assert "More filters" in english
    assert "Plus de filtres" not in english
    assert "Keyboard shortcuts" in english
    assert "Notifications" in english


def test_the_search_words_are_the_request_s_own_and_escaped(client: Client, agent: User) -> None:
    client.force_login(agent)

    first = page(client, "/inbox/?view=all&q=colis")
    second = page(client, "/inbox/?view=all&q=%3Cb%3E%22lampe")

    assert 'name="q" value="colis"' in first
    assert 'name="q" value="&lt;b&gt;&quot;lampe"' in second
    assert "colis" not in second
    assert "<b>" not in second
    assert "fragmentslot" not in first + second


def test_the_filter_bar_lists_each_user_s_choices_and_a_new_one_once_they_are_read_again(
    client: Client, agent: User, outsider: User, team: Team, channel: Channel
) -> None:
    client.force_login(agent)
    assert ">Amazon FR (API)</option>" in page(client)
    client.force_login(outsider)  # another team: none of the agent's channels
    assert ">Amazon FR (API)</option>" not in page(client)

    client.force_login(agent)
    Channel.objects.create(
        shop=channel.shop, kind="api", marketplace="fnac", name="Fnac", team=team
    )
    cache.clear()  # the choices' minute is over

    assert ">Fnac</option>" in page(client)


def test_the_filter_bar_shows_the_filters_of_the_request(
    client: Client, agent: User, channel: Channel
) -> None:
    client.force_login(agent)
    Shop.objects.create(name="Second shop", slug="second")

    assert " selected>" not in page(client, "/inbox/?view=all")
    chosen = page(client, f"/inbox/?view=all&channel={channel.pk}")

    assert f'<option value="{channel.pk}" selected>Amazon FR (API)</option>' in chosen
    assert '<input type="hidden" name="view" value="all">' in chosen


def test_the_header_links_follow_the_role(client: Client, agent: User, db: None) -> None:
    admin = User.objects.create_user("adele", "adele@example.com", "pw", role=Role.ADMIN)
    client.force_login(agent)
    assert 'href="/settings/"' not in page(client)
    client.force_login(admin)
    assert 'href="/settings/"' in page(client)
    User.objects.filter(pk=admin.pk).update(role=Role.AGENT)
    assert 'href="/settings/"' not in page(client)


def test_a_repeated_presence_is_written_once_a_change_or_an_old_one_at_once(
    agent: User, make_inbound: Build, django_assert_num_queries: Any
) -> None:
    conv = Conversation.objects.get(pk=ingest(make_inbound()).conversation_id)

    with django_assert_num_queries(1):  # a new row: one statement, as for a kept one
        actions.mark_presence(conv, user=agent, state="viewing")
    first = Presence.objects.get(user=agent).seen_at
    with django_assert_num_queries(1):
        actions.mark_presence(conv, user=agent, state="viewing")
    assert Presence.objects.get(user=agent).seen_at == first  # within seconds: not written

    actions.mark_presence(conv, user=agent, state="replying")
    assert Presence.objects.get(user=agent).state == "replying"

    old = timezone.now() - timedelta(seconds=actions.PRESENCE_WRITE_SECONDS + 1)
    Presence.objects.update(seen_at=old)
    actions.mark_presence(conv, user=agent, state="replying")
    assert Presence.objects.get(user=agent).seen_at > old
    assert Presence.objects.count() == 1


def test_a_kept_deadline_is_written_in_each_language(
    client: Client, agent: User, make_inbound: Build
) -> None:
    conv = Conversation.objects.get(pk=ingest(make_inbound()).conversation_id)
    due = timezone.now().replace(year=timezone.now().year + 2, month=1, day=15, hour=12)
    Conversation.objects.filter(pk=conv.pk).update(respond_by=due, needs_reply=True)
    client.force_login(agent)

    english = page(client, "/inbox/?view=all", "en")
    assert "Jan. 15" in english, english[english.find("<time") :][:300]
    assert "15 janvier" in page(client, "/inbox/?view=all", "fr")


def _count(html: str, view: str) -> int:
    found = re.search(rf'data-view="{view}">[^<]*<span class="count">(\d+)</span>', html)
    assert found is not None
    return int(found[1])


def test_the_kept_nav_shows_the_counts_and_the_view_of_the_moment(
    client: Client, agent: User, make_inbound: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.inbox import queries

    now = [1_000_000.0]
    monkeypatch.setattr(queries, "_clock", lambda: now[0])
    client.force_login(agent)
    ingest(make_inbound())
    before = page(client, "/inbox/?view=all")
    assert 'class="current" data-view="all"' in before

    other = {"identity_kind": "email", "identity_value": "paul@example.com", "name": "Paul"}
    ingest(make_inbound(sender=other | {"email": "paul@example.com"}, subject="Another one"))
    now[0] += queries.COUNTS_MIN_SECONDS  # the counts are recounted at most this often
    after = page(client, "/inbox/?view=all")

    assert _count(after, "needs_reply") == _count(before, "needs_reply") + 1
    mine = page(client, "/inbox/?view=mine")
    assert 'class="current" data-view="mine"' in mine
    assert 'class="current" data-view="all"' not in mine


def test_the_kept_bulk_bar_lists_a_new_colleague_once_the_choices_are_read_again(
    client: Client, agent: User, team: Team
) -> None:
    client.force_login(agent)
    assert "Zoé Newcomer" not in page(client)

    User.objects.create_user("zoe", "zoe@example.com", "pw", first_name="Zoé", last_name="Newcomer")
    cache.clear()  # the choices' minute is over

    assert 'name="assignee" value="' in page(client)
    assert ">Zoé Newcomer</button>" in page(client)


def test_a_kept_conversation_page_is_the_page_a_fresh_rendering_gives(
    client: Client, agent: User, make_inbound: Build
) -> None:
    conv = Conversation.objects.get(pk=ingest(make_inbound()).conversation_id)
    client.force_login(agent)
    for language in ("en", "fr"):
        fragments.clear()
        fresh = page(client, f"/inbox/c/{conv.pk}/", language)
        assert page(client, f"/inbox/c/{conv.pk}/", language) == fresh
    assert 'id="action-bar"' in fresh
    assert f'action="/inbox/c/{conv.pk}/assign"' in fresh


def test_kept_conversation_parts_carry_each_conversation_s_links_and_each_session_s_token(
    agent: User, make_inbound: Build
) -> None:
    first = Conversation.objects.get(pk=ingest(make_inbound()).conversation_id)
    other = make_inbound(sender={"identity_kind": "email", "identity_value": "b@example.com"})
    second = Conversation.objects.get(pk=ingest(other).conversation_id)
    assert first.pk != second.pk
    fragments.clear()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(agent)
    browser.get(f"/inbox/c/{first.pk}/")
    html = browser.get(f"/inbox/c/{second.pk}/").content.decode()

    assert f'action="/inbox/c/{second.pk}/status"' in html
    assert f"/inbox/c/{first.pk}/" not in html
    assert "fragmentslot" not in html
    assert fragments._NUMBER not in html
    token = re.search(r'name="csrfmiddlewaretoken" value="(\w+)"', html)
    assert token is not None
    # The token kept parts write is this session's: a form posted with it is accepted.
    answer = browser.post(
        f"/inbox/c/{second.pk}/priority",
        {"priority": str(Priority.HIGH), "csrfmiddlewaretoken": token[1]},
    )
    assert answer.status_code in (302, 204, 200)
    assert Conversation.objects.get(pk=second.pk).priority == Priority.HIGH
    stranger = Client(enforce_csrf_checks=True)
    stranger.force_login(agent)
    low = {"priority": str(Priority.LOW), "csrfmiddlewaretoken": token[1]}
    refused = stranger.post(f"/inbox/c/{second.pk}/priority", low)
    assert refused.status_code == 403


def test_the_conversation_page_writes_its_presence_once_within_seconds(
    client: Client, agent: User, make_inbound: Build
) -> None:
    conv = Conversation.objects.get(pk=ingest(make_inbound()).conversation_id)
    client.force_login(agent)

    client.get(f"/inbox/c/{conv.pk}/")
    seen = Presence.objects.get(user=agent, conversation=conv).seen_at
    client.get(f"/inbox/c/{conv.pk}/")
    assert Presence.objects.get(user=agent, conversation=conv).seen_at == seen

    Presence.objects.update(state="replying")  # the page says viewing again at once
    client.get(f"/inbox/c/{conv.pk}/")
    assert Presence.objects.get(user=agent, conversation=conv).state == "viewing"
