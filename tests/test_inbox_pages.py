"""The inbox's filters, saved views, nav, presence, drafts, merge/archive/delete and the buyer
panel, through Django's test client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounts.models import Role, Team, User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.live import _sync_stream
from comptoir.inbox.models import (
    Channel,
    ComposerDraft,
    Conversation,
    Presence,
    SavedView,
    Shop,
    Status,
)
from comptoir.orders.models import Order

Build = Callable[..., InboundMessage]


def new(make_inbound: Build, **overrides: Any) -> Conversation:
    return Conversation.objects.get(pk=ingest(make_inbound(**overrides)).conversation_id)


def buyer(email: str, name: str = "Buyer") -> dict[str, str]:
    return {"identity_kind": "email", "identity_value": email, "email": email, "name": name}


@pytest.fixture
def logged_in(client: Client, agent: User) -> Client:
    client.force_login(agent)
    return client


@pytest.fixture
def karim(team: Team) -> User:
    user = User.objects.create_user(
        "karim", "karim@example.com", "pw", role=Role.AGENT, first_name="Karim"
    )
    team.members.add(user)
    return user


def subjects(client: Client, query: str) -> str:
    response = client.get(f"/inbox/?{query}")
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def test_each_filter_narrows_the_list_and_they_combine(
    logged_in: Client, make_inbound: Build, channel: Channel, team: Team
) -> None:
    other_shop = Shop.objects.create(name="Second shop", slug="second")
    second = Channel.objects.create(
        shop=other_shop, kind="api", marketplace="fnac", name="Fnac 2", team=team
    )
    english = new(make_inbound, subject="Where is it", sender=buyer("en@x.com"), language="en")
    french = new(make_inbound, subject="Ou est le colis", sender=buyer("fr@x.fr"), language="fr")
    elsewhere = new(
        make_inbound, subject="Other shop", channel_id=second.pk, sender=buyer("o@x.fr")
    )
    Conversation.objects.filter(pk=english.pk).update(intent="order_tracking")
    Conversation.objects.filter(pk=french.pk).update(order_number="A-1")
    now = timezone.now()
    # The states the SLA sweep would have set.
    Conversation.objects.filter(pk=english.pk).update(sla_state="breached")
    Conversation.objects.filter(pk=french.pk).update(sla_state="at_risk")
    Conversation.objects.filter(pk=elsewhere.pk).update(
        sla_state="ok", created_at=now - timedelta(days=40)
    )

    def shown(query: str) -> set[str]:
        html = subjects(logged_in, f"view=all&{query}")
        return {s for s in ("Where is it", "Ou est le colis", "Other shop") if s in html}

    assert shown(f"shop={other_shop.pk}") == {"Other shop"}
    assert shown("language=en") == {"Where is it"}
    assert shown("intent=order_tracking") == {"Where is it"}
    assert shown("sla=breached") == {"Where is it"}
    assert shown("sla=at_risk") == {"Ou est le colis"}
    assert shown("sla=ok") == {"Other shop"}
    assert shown("has_order=yes") == {"Ou est le colis"}
    assert shown("has_order=no&language=en") == {"Where is it"}
    # Days are the agent's (Europe/Paris), not UTC's.
    day = (now - timedelta(days=40)).astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
    assert shown(f"from={day}&to={day}") == {"Other shop"}
    assert shown(f"team={team.pk}&language=fr") == {"Ou est le colis"}
    assert shown("assignee=none&shop=" + str(other_shop.pk)) == {"Other shop"}


def test_a_malformed_filter_is_a_clear_400(logged_in: Client) -> None:
    for query in ("from=yesterday", "sla=soonish", "has_order=maybe", "shop=abc"):
        response = logged_in.get(f"/inbox/?{query}")
        assert response.status_code == 400
        assert b'role="alert"' in response.content


def test_a_saved_view_keeps_the_filters_and_belongs_to_its_user(
    logged_in: Client, agent: User, karim: User, make_inbound: Build
) -> None:
    new(make_inbound, subject="Anglais", language="en", sender=buyer("en@x.com"))
    new(make_inbound, subject="Francais", language="fr", sender=buyer("fr@x.fr"))

    response = logged_in.post(
        "/inbox/views/save",
        {"name": "English", "query": "view=all&language=en&cursor=abc&evil=1"},
    )

    view = SavedView.objects.get(user=agent)
    assert view.query == "view=all&language=en"  # no cursor, nothing foreign
    assert response["Location"] == "/inbox/?view=all&language=en"
    html = subjects(logged_in, view.query)
    assert "Anglais" in html
    assert "Francais" not in html
    assert ">English</a>" in html
    other = Client()
    other.force_login(karim)
    assert ">English</a>" not in subjects(other, "")
    other.post(f"/inbox/views/{view.pk}/delete")  # not hers: nothing happens
    assert SavedView.objects.filter(pk=view.pk).exists()
    logged_in.post(f"/inbox/views/{view.pk}/delete")
    assert not SavedView.objects.exists()


def test_the_nav_counts_what_needs_a_reply_per_marketplace_and_channel(
    logged_in: Client, make_inbound: Build, channel: Channel, shop: Shop, team: Team
) -> None:
    fnac = Channel.objects.create(shop=shop, kind="api", marketplace="fnac", name="Fnac", team=team)
    new(make_inbound, sender=buyer("a@x.fr"))
    new(make_inbound, channel_id=fnac.pk, sender=buyer("b@x.fr"))
    new(make_inbound, channel_id=fnac.pk, sender=buyer("c@x.fr"))

    html = subjects(logged_in, "")

    assert 'data-marketplace="fnac">Fnac <span class="count">2</span>' in html
    assert f'?view=needs_reply&amp;channel={fnac.pk}" class="">Fnac <span class="count">2' in html


def test_archived_conversations_leave_the_views_for_their_own(
    logged_in: Client, make_inbound: Build
) -> None:
    conv = new(make_inbound, subject="Vieux dossier")

    logged_in.post(f"/inbox/c/{conv.pk}/archive", {"archived": "1"})

    assert "Vieux dossier" not in subjects(logged_in, "view=all")
    assert "Vieux dossier" not in subjects(logged_in, "view=needs_reply")
    assert "Vieux dossier" in subjects(logged_in, "view=archived")
    logged_in.post(f"/inbox/c/{conv.pk}/archive", {"archived": "0"})
    assert "Vieux dossier" in subjects(logged_in, "view=all")


def test_bulk_archive_from_the_inbox(logged_in: Client, make_inbound: Build) -> None:
    a = new(make_inbound, sender=buyer("a@x.fr"))
    b = new(make_inbound, sender=buyer("b@x.fr"))

    logged_in.post("/inbox/bulk", {"action": "archive", "ids": [a.pk, b.pk]})

    assert Conversation.objects.filter(archived=True).count() == 2


def test_delete_hides_the_conversation_and_merge_moves_it(
    logged_in: Client, outsider: User, make_inbound: Build, other_team: Team, shop: Shop
) -> None:
    doomed = new(make_inbound, subject="Spam", sender=buyer("s@x.fr"))
    source = new(make_inbound, subject="Second mail", sender=buyer("m@x.fr"))
    target = new(make_inbound, subject="First mail", sender=buyer("m@x.fr"))
    theirs_channel = Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Theirs", team=other_team
    )
    theirs = new(make_inbound, channel_id=theirs_channel.pk, sender=buyer("t@x.fr"))

    assert logged_in.post(f"/inbox/c/{doomed.pk}/delete").status_code == 302
    refused = logged_in.post(f"/inbox/c/{source.pk}/merge", {"into": str(theirs.pk)})
    response = logged_in.post(f"/inbox/c/{source.pk}/merge", {"into": f"#{target.pk}"})

    assert logged_in.get(f"/inbox/c/{doomed.pk}/").status_code == 404
    assert refused.status_code == 404  # another team's conversation is not there to merge into
    assert response["Location"] == f"/inbox/c/{target.pk}/"
    assert target.messages.count() == 2
    source.refresh_from_db()
    assert source.merged_into_id == target.pk


def test_the_buyer_panel_shows_identities_past_conversations_and_orders_in_scope(
    logged_in: Client, make_inbound: Build, channel: Channel, shop: Shop, other_team: Team
) -> None:
    first = new(make_inbound, subject="Premier échange", thread_id="t1")
    conv = new(make_inbound, subject="Deuxième échange", thread_id="t2")
    hidden_channel = Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Hidden", team=other_team
    )
    hidden = new(make_inbound, subject="Autre équipe", channel_id=hidden_channel.pk, thread_id="t3")
    assert first.customer_id == conv.customer_id == hidden.customer_id
    Order.objects.create(
        shop=shop,
        channel=channel,
        customer_id=conv.customer_id,
        external_id="CMD-77",
        status="shipped",
        tracking_url="https://track.example/77",
    )
    Order.objects.create(
        shop=shop, channel=hidden_channel, customer_id=conv.customer_id, external_id="CMD-99"
    )

    html = logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()

    # The identity's kind named, its address breakable after "@" and dots.
    assert '<span class="identity-kind">Email</span>' in html
    assert "buyer@<wbr>example.<wbr>com" in html
    assert "Premier échange" in html
    assert "Autre équipe" not in html
    assert "#CMD-77" in html
    assert "https://track.example/77" in html
    assert "CMD-99" not in html


def test_the_conversation_page_costs_the_same_queries_for_a_long_history(
    logged_in: Client, make_inbound: Build
) -> None:
    def queries_for(conv: Conversation) -> int:
        cache.clear()  # cold: the cached choices are read each time
        with CaptureQueriesContext(connection) as ctx:
            assert logged_in.get(f"/inbox/c/{conv.pk}/").status_code == 200
        return len(ctx)

    short = new(make_inbound, sender=buyer("short@x.fr"), thread_id="s")
    long = new(make_inbound, sender=buyer("long@x.fr"), thread_id="l0")
    for n in range(1, 8):
        new(make_inbound, sender=buyer("long@x.fr"), thread_id=f"l{n}")
        ingest(make_inbound(sender=buyer("long@x.fr"), thread_id="l0"))

    assert queries_for(short) == queries_for(long)


def test_presence_shows_who_else_is_viewing_or_replying(
    client: Client, agent: User, karim: User, outsider: User, make_inbound: Build
) -> None:
    conv = new(make_inbound)
    as_karim = Client()
    as_karim.force_login(karim)

    as_karim.get(f"/inbox/c/{conv.pk}/")  # opening it says she is viewing
    client.force_login(agent)
    assert "Karim is viewing" in client.get(f"/inbox/c/{conv.pk}/").content.decode()

    as_karim.post(f"/inbox/c/{conv.pk}/draft", {"text": "Bonjour Jeanne,", "mode": "reply"})
    assert "Karim is replying" in client.get(f"/inbox/c/{conv.pk}/").content.decode()

    outsider_client = Client()
    outsider_client.force_login(outsider)
    assert (
        outsider_client.post(f"/inbox/c/{conv.pk}/presence", {"state": "viewing"}).status_code
        == 404
    )
    assert client.post(f"/inbox/c/{conv.pk}/presence", {"state": "dancing"}).status_code == 400

    as_karim.post(f"/inbox/c/{conv.pk}/presence", {"state": "left"})
    assert "Karim is" not in client.get(f"/inbox/c/{conv.pk}/").content.decode()


def test_presence_older_than_the_heartbeat_is_ignored(
    client: Client, agent: User, karim: User, make_inbound: Build
) -> None:
    conv = new(make_inbound)
    actions.mark_presence(conv, user=karim, state="replying")
    Presence.objects.update(seen_at=timezone.now() - timedelta(minutes=5))
    client.force_login(agent)

    assert "Karim is" not in client.get(f"/inbox/c/{conv.pk}/").content.decode()


def test_the_live_stream_of_a_conversation_says_who_is_there(
    agent: User, karim: User, make_inbound: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.inbox import live

    conv = new(make_inbound)
    clock = {"now": 0.0, "pauses": 0}
    monkeypatch.setattr(live, "monotonic", lambda: clock["now"])

    def sleep(seconds: float) -> None:
        # Between the stream's checks Karim starts writing, then leaves.
        clock["now"] += seconds
        clock["pauses"] += 1
        if clock["pauses"] == 1:
            actions.mark_presence(conv, user=karim, state="replying")
        elif clock["pauses"] == 3:
            actions.leave_conversation(conv, user=karim)

    monkeypatch.setattr(live, "sleep", sleep)
    frames = [
        frame
        for frame in _sync_stream(agent, 10**9, 6, 1, conv.pk)
        if frame.startswith("event: presence")
    ]

    # The first check states who is there (nobody), then each change follows, once.
    assert len(frames) == 3
    assert frames[0] == "event: presence\ndata: []\n\n"
    assert frames[1] == 'event: presence\ndata: [{"name": "Karim", "state": "replying"}]\n\n'
    assert frames[-1] == "event: presence\ndata: []\n\n"


def test_a_draft_is_kept_restored_and_gone_once_sent(
    logged_in: Client, agent: User, make_inbound: Build
) -> None:
    conv = new(make_inbound)

    logged_in.post(f"/inbox/c/{conv.pk}/draft", {"text": "Bonjour, votre colis", "mode": "reply"})

    assert ComposerDraft.objects.get(user=agent).text == "Bonjour, votre colis"
    assert (
        ">Bonjour, votre colis</textarea>" in logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()
    )
    logged_in.post(f"/inbox/c/{conv.pk}/reply", {"text": "Bonjour, votre colis arrive."})
    assert not ComposerDraft.objects.exists()
    assert Presence.objects.get(user=agent).state == "viewing"


def _draft_url(client: Client, conv: Any) -> str:
    page = client.get(f"/inbox/c/{conv.pk}/").content.decode()
    start = page.index('data-draft="') + len('data-draft="')
    return page[start : page.index('"', start)].replace("&amp;", "&")


def test_an_autosave_from_before_the_send_does_not_bring_the_answer_back(
    logged_in: Client, agent: User, karim: User, make_inbound: Build
) -> None:
    conv = new(make_inbound)
    old_page = _draft_url(logged_in, conv)
    assert "?after=" in old_page  # the page's newest event goes with each save
    logged_in.post(old_page, {"text": "Bonjour, votre colis"})
    logged_in.post(f"/inbox/c/{conv.pk}/reply", {"text": "Bonjour, votre colis arrive."})
    assert not ComposerDraft.objects.exists()

    # The old page's last save reaches the server after the send: dropped.
    assert logged_in.post(old_page, {"text": "Bonjour, votre colis arrive."}).status_code == 204
    assert not ComposerDraft.objects.exists()
    assert Presence.objects.get(user=agent).state == "viewing"
    assert "arrive.</textarea>" not in logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()

    # The page drawn after the send saves as ever, and so does a page drawn before someone
    # else's reply (only the user's own send makes a page's answer stale).
    new_page = _draft_url(logged_in, conv)
    assert new_page != old_page
    logged_in.post(new_page, {"text": "Autre chose"})
    assert ComposerDraft.objects.get(user=agent).text == "Autre chose"
    actions.reply(conv, text="Karim répond.", actor=karim)
    logged_in.post(new_page, {"text": "Autre chose encore"})
    assert ComposerDraft.objects.get(user=agent).text == "Autre chose encore"
    # A malformed or outsized mark is no mark: the save is kept (no error).
    for mark in ("x", "9" * 40):
        assert (
            logged_in.post(f"/inbox/c/{conv.pk}/draft?after={mark}", {"text": mark}).status_code
            == 204
        )
        assert ComposerDraft.objects.get(user=agent).text == mark
    # A note sent is a send too.
    logged_in.post(f"/inbox/c/{conv.pk}/reply", {"text": "Pour mémoire", "mode": "note"})
    logged_in.post(new_page, {"text": "Pour mémoire"})
    assert not ComposerDraft.objects.exists()


def test_an_analyst_leaves_no_presence_and_cannot_archive(
    client: Client, analyst: User, make_inbound: Build
) -> None:
    conv = new(make_inbound)
    client.force_login(analyst)

    assert client.get(f"/inbox/c/{conv.pk}/").status_code == 200
    assert not Presence.objects.exists()
    assert client.post(f"/inbox/c/{conv.pk}/archive").status_code == 403
    assert client.post(f"/inbox/c/{conv.pk}/draft", {"text": "x"}).status_code == 403
    conv.refresh_from_db()
    assert not conv.archived
    assert conv.status == Status.OPEN


def test_send_and_snooze_answers_then_puts_the_conversation_away_until_then(
    logged_in: Client, agent: User, make_inbound: Build
) -> None:
    agent.timezone = "Europe/Paris"
    agent.save()
    conv = new(make_inbound)
    later = (timezone.now() + timedelta(days=2)).astimezone(ZoneInfo("Europe/Paris"))
    local = later.strftime("%Y-%m-%dT%H:%M")

    past = logged_in.post(
        f"/inbox/c/{conv.pk}/reply",
        {"text": "Je vérifie.", "then": "snooze", "snooze_until": "2001-01-01T09:00"},
    )
    done = logged_in.post(
        f"/inbox/c/{conv.pk}/reply",
        {"text": "Je vérifie et reviens vers vous.", "then": "snooze", "snooze_until": local},
    )

    assert past.status_code == 400
    assert done.status_code == 302
    conv.refresh_from_db()
    assert conv.status == Status.SNOOZED
    assert conv.snoozed_until == later.replace(second=0, microsecond=0)
    # Refused as a whole: the first answer was not sent either.
    assert list(conv.messages.filter(direction="out").values_list("text", flat=True)) == [
        "Je vérifie et reviens vers vous."
    ]


def test_files_go_with_a_reply_and_come_back_only_as_downloads(
    logged_in: Client, client: Client, outsider: User, make_inbound: Build
) -> None:
    conv = new(make_inbound)
    # A file that claims to be HTML.
    upload = SimpleUploadedFile("notice.txt", b"<script>alert(1)</script>", "text/html")

    response = logged_in.post(
        f"/inbox/c/{conv.pk}/reply", {"text": "Voici la facture.", "attachments": [upload]}
    )

    assert response.status_code == 302
    sent = conv.messages.get(direction="out")
    (file,) = sent.attachments.all()
    page = logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()
    assert f'href="/inbox/a/{file.pk}"' in page
    download = logged_in.get(f"/inbox/a/{file.pk}")
    assert download.content == b"<script>alert(1)</script>"
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    stranger = Client()
    stranger.force_login(outsider)
    assert stranger.get(f"/inbox/a/{file.pk}").status_code == 404


def test_too_many_files_are_refused_with_a_reason(logged_in: Client, make_inbound: Build) -> None:
    conv = new(make_inbound)
    uploads = [SimpleUploadedFile(f"f{n}.txt", b"x") for n in range(11)]

    response = logged_in.post(f"/inbox/c/{conv.pk}/reply", {"text": "Trop", "attachments": uploads})

    assert response.status_code == 400
    assert "at most 10 files" in response.content.decode()
    assert not conv.messages.filter(direction="out").exists()


def test_inbound_html_is_framed_sandboxed_and_its_remote_images_wait(
    logged_in: Client, outsider: User, make_inbound: Build
) -> None:
    conv = new(
        make_inbound,
        html='<p>Photo du colis</p><img src="https://tracker.example/pixel.gif"><script>x()</script>',
    )
    message = conv.messages.get()

    page = logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()
    frame = logged_in.get(f"/inbox/m/{message.pk}/html")
    shown = logged_in.get(f"/inbox/m/{message.pk}/html/images")

    assert f'src="/inbox/m/{message.pk}/html"' in page
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page
    assert "Show remote images" in page
    body = frame.content.decode()
    assert "Photo du colis" in body
    assert "<script>" not in body
    assert ' src="https://tracker.example' not in body
    csp = frame["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "sandbox" in csp
    assert "https:" not in csp
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    assert 'src="https://tracker.example/pixel.gif"' in shown.content.decode()
    assert "https:" in shown["Content-Security-Policy"]
    stranger = Client()
    stranger.force_login(outsider)
    assert stranger.get(f"/inbox/m/{message.pk}/html").status_code == 404


def test_the_original_email_is_downloadable(logged_in: Client, make_inbound: Build) -> None:
    from comptoir.inbox import files

    raw = b"From: a@x.fr\r\nSubject: Colis\r\n\r\nBonjour\r\n"
    conv = new(make_inbound, source_sha256=files.store_bytes(raw))
    message = conv.messages.get()

    response = logged_in.get(f"/inbox/m/{message.pk}/source")

    assert response.content == raw
    assert response["Content-Type"] == "message/rfc822"
    assert "Original (.eml)" in logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()


def test_a_conversation_is_given_to_a_colleague_or_a_team_who_would_see_it(
    client: Client,
    logged_in: Client,
    karim: User,
    outsider: User,
    supervisor: User,
    team: Team,
    other_team: Team,
    make_inbound: Build,
) -> None:
    conv = new(make_inbound)

    page = logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()
    to_karim = logged_in.post(f"/inbox/c/{conv.pk}/assign", {"assignee": str(karim.pk)})
    to_outsider = logged_in.post(f"/inbox/c/{conv.pk}/assign", {"assignee": str(outsider.pk)})
    # An agent gives it to their own teams only; a supervisor to any.
    to_their_team = logged_in.post(f"/inbox/c/{conv.pk}/assign", {"team": str(other_team.pk)})

    # The action bar's assignee and team menus.
    assert f'name="assignee" value="{karim.pk}">Karim</button>' in page
    assert "olga" not in page  # another team's agent would not see it
    assert f'name="team" value="{other_team.pk}"' not in page  # nor another team, to an agent
    assert f">{team.name}</button>" in page
    assert to_karim.status_code == 302
    assert to_outsider.status_code == 403
    assert to_their_team.status_code == 403
    conv.refresh_from_db()
    assert conv.assignee == karim
    assert conv.team == team
    client.force_login(supervisor)
    client.post(f"/inbox/c/{conv.pk}/assign", {"team": str(other_team.pk)})
    conv.refresh_from_db()
    assert conv.team == other_team


def test_a_long_history_shows_its_newest_part_and_the_rest_on_demand(
    logged_in: Client, make_inbound: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.inbox import views

    monkeypatch.setattr(views, "TIMELINE_LIMIT", 3)
    start = timezone.now() - timedelta(hours=1)
    conv = new(make_inbound, text="message 0", thread_id="long", sent_at=start)
    for n in range(1, 6):
        ingest(
            make_inbound(
                text=f"message {n}", thread_id="long", sent_at=start + timedelta(minutes=n)
            )
        )

    recent = logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()
    everything = logged_in.get(f"/inbox/c/{conv.pk}/?all=1").content.decode()

    assert "message 5" in recent
    assert "message 3" in recent
    assert "message 0" not in recent
    assert "Show the earlier messages" in recent
    assert all(f"message {n}" in everything for n in range(6))
    assert "Show the earlier messages" not in everything
