"""The desk's keyboard and locale: single-key shortcuts a user can turn off, j/k moving the focus
between the inbox's rows, the composer's language and spell check, days typed in the page's
language's order (dd/mm/yyyy in French) and counts grouped as the language groups them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from comptoir.accounts.models import User
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation
from comptoir.lib.dates import format_day, parse_day, parse_moment
from comptoir.web.templatetags.locale_fields import number
from tests.test_inbox_bar_browser import four, log_in  # noqa: F401


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("01/12/2026", date(2026, 12, 1)),
        ("1/12/2026", date(2026, 12, 1)),
        (" 31.01.2027 ", date(2027, 1, 31)),
    ],
)
def test_a_day_is_read_in_either_form(text: str, day: date) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize("text", ["12/31/2026", "2026-13-01", "demain", "", "01/12/26"])
def test_what_is_not_a_day_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"month must be|Invalid isoformat"):
        parse_day(text)


def test_a_day_is_written_in_the_languages_order() -> None:
    assert format_day(date(2026, 12, 1), "fr") == "01/12/2026"
    assert format_day("2026-12-01", "fr-FR") == "01/12/2026"
    assert format_day("01/12/2026", "en") == "2026-12-01"
    assert format_day("not a day", "fr") == "not a day"


def test_counts_are_grouped_as_the_language_groups_them() -> None:
    with translation.override("fr"):
        assert number(12345) == "12\xa0345"
    with translation.override("en"):
        assert number(12345) == "12,345"
    assert number("99+") == "99+"


def test_the_inbox_reads_a_french_day_and_shows_it_back(
    client: Client, agent: User, make_inbound: Any
) -> None:
    conv_id = ingest(make_inbound(subject="Colis")).conversation_id
    agent.language = "fr"
    agent.save()
    client.force_login(agent)
    today = timezone.localdate()
    typed = today.strftime("%d/%m/%Y")
    page = client.get("/inbox/", {"view": "all", "from": typed})
    assert page.status_code == 200
    assert f'data-href="/inbox/c/{conv_id}/"' in page.text
    assert f'name="from" value="{typed}" placeholder="jj/mm/aaaa"' in page.text
    assert 'type="date"' not in page.text
    later = (today + timedelta(days=2)).strftime("%d/%m/%Y")
    assert f"/inbox/c/{conv_id}/" not in client.get("/inbox/", {"view": "all", "from": later}).text
    # A link or a saved view holding ISO shows in the French order too.
    iso = client.get("/inbox/", {"view": "all", "from": today.isoformat()})
    assert f'name="from" value="{typed}"' in iso.text


def test_the_analytics_period_reads_a_french_day(client: Client, supervisor: User) -> None:
    supervisor.language = "fr"
    supervisor.save()
    client.force_login(supervisor)
    page = client.get("/analytics/", {"from": "01/11/2026", "to": "30/11/2026"})
    assert page.status_code == 200
    assert 'name="from" value="01/11/2026"' in page.text


def test_shortcuts_are_a_preference_of_the_profile(client: Client, agent: User) -> None:
    client.force_login(agent)
    assert 'data-shortcuts="off"' not in client.get("/inbox/").text
    assert 'name="keyboard_shortcuts" checked' in client.get("/profile/").text
    client.post("/profile/", {"language": "", "timezone": "Europe/Paris"})
    agent.refresh_from_db()
    assert agent.keyboard_shortcuts is False
    assert 'data-shortcuts="off"' in client.get("/inbox/").text
    client.post(
        "/profile/", {"language": "", "timezone": "Europe/Paris", "keyboard_shortcuts": "on"}
    )
    agent.refresh_from_db()
    assert agent.keyboard_shortcuts is True


def test_the_composer_speaks_the_conversations_language(
    client: Client, agent: User, make_inbound: Any
) -> None:
    conv = Conversation.objects.get(pk=ingest(make_inbound(subject="Paket")).conversation_id)
    conv.language = "de"
    conv.save(update_fields=["language"])
    client.force_login(agent)
    page = client.get(f"/inbox/c/{conv.pk}/").text
    assert 'id="composer" name="text" rows="5" lang="de" spellcheck="true"' in page


def test_j_and_k_move_the_focus_and_can_be_turned_off(
    page: Any,
    live_server: Any,
    agent: User,
    four: list[Conversation],  # noqa: F811
) -> None:
    log_in(page, live_server.url, agent)
    rows = page.locator("tr.row")
    assert rows.count() == 4
    page.keyboard.press("j")
    first = rows.nth(0).locator("td a[href]").first
    assert first.evaluate("a => a === document.activeElement")
    page.keyboard.press("j")
    second = rows.nth(1).locator("td a[href]").first
    assert second.evaluate("a => a === document.activeElement")
    page.keyboard.press("k")
    assert first.evaluate("a => a === document.activeElement")
    # Enter on the focused row opens it.
    href = rows.nth(0).get_attribute("data-href")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{href}")

    agent.keyboard_shortcuts = False
    agent.save()
    page.goto(f"{live_server.url}/inbox/")
    page.keyboard.press("j")
    assert page.locator("tr.row.selected").count() == 0
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible() is False
    assert page.csp_errors == []


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-08T09:30",
        "2026-12-08 09:30",
        "08/12/2026 09:30",
        "8/12/2026 à 9h30",
        "08/12/2026, 09:30",
    ],
)
def test_a_day_and_time_is_read_in_either_form(text: str) -> None:
    assert parse_moment(text) == datetime(2026, 12, 8, 9, 30)


@pytest.mark.parametrize("text", ["08/12/2026", "2026-12-08", "12/31/2026 09:30", "demain"])
def test_a_day_without_its_time_is_not_a_moment(text: str) -> None:
    with pytest.raises(ValueError, match=r"no time|month must be|Invalid isoformat"):
        parse_moment(text)


def test_a_snooze_is_typed_in_french(client: Client, agent: User, make_inbound: Any) -> None:
    conv = Conversation.objects.get(pk=ingest(make_inbound(subject="Colis")).conversation_id)
    agent.language = "fr"
    agent.save()
    client.force_login(agent)
    page = client.get(f"/inbox/c/{conv.pk}/").text
    assert 'placeholder="jj/mm/aaaa hh:mm"' in page
    assert 'type="datetime-local"' not in page
    later = timezone.localtime() + timedelta(days=3)
    typed = later.strftime("%d/%m/%Y") + " 14:30"
    assert 'name="until" value="' in page
    client.post(f"/inbox/c/{conv.pk}/snooze", {"until": typed})
    conv.refresh_from_db()
    assert conv.snoozed_until is not None
    back = timezone.localtime(conv.snoozed_until)
    assert (back.date(), back.hour, back.minute) == (later.date(), 14, 30)
