"""The SLA settings page's changes through the API (calendars, their closures, a channel's
policy), with the page's rules: owners and admins only (403 for an agent), 404 for a calendar,
closure or channel that is not there or not visible; a naive time is the calendar's wall-clock
time, as on the page."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from comptoir.accounts.models import User
from comptoir.inbox.models import Channel, Shop
from comptoir.sla import policies
from comptoir.sla.models import BusinessCalendar
from tests.test_api_tags import bearer, call

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("admin-sla", "a@x.fr", "x", role="admin")


@pytest.fixture
def calendar(shop: Shop) -> BusinessCalendar:
    return BusinessCalendar.objects.create(shop=shop, name="Atelier", timezone="Europe/Paris")


def test_an_admin_adds_lists_and_removes_a_closure(
    client: Client, admin: User, calendar: BusinessCalendar
) -> None:
    h = bearer(admin)
    url = f"/sla/calendars/{calendar.pk}/closures"
    body = {"starts_at": "2026-11-23T14:00", "ends_at": "2026-11-23T16:00", "reason": "Inventaire"}
    created = call(client, "post", url, h, body)
    assert created.status_code == 201, created.content
    closure = calendar.closures.get()
    assert closure.starts_at == datetime(2026, 11, 23, 14, tzinfo=PARIS)
    listed = call(client, "get", url, h).json()
    assert [c["reason"] for c in listed] == ["Inventaire"]
    assert call(client, "delete", f"/sla/closures/{closure.pk}", h).status_code == 204
    assert not calendar.closures.exists()


def test_an_end_before_the_start_is_refused_and_nothing_is_saved(
    client: Client, admin: User, calendar: BusinessCalendar
) -> None:
    body = {"starts_at": "2026-11-23T16:00+01:00", "ends_at": "2026-11-23T14:00+01:00"}
    answer = call(client, "post", f"/sla/calendars/{calendar.pk}/closures", bearer(admin), body)
    assert 400 <= answer.status_code < 500
    assert not calendar.closures.exists()


def test_an_agent_gets_403_and_a_missing_calendar_404(
    client: Client, agent: User, admin: User, calendar: BusinessCalendar
) -> None:
    body = {"starts_at": "2026-11-23T14:00", "ends_at": "2026-11-23T16:00"}
    url = f"/sla/calendars/{calendar.pk}/closures"
    assert call(client, "post", url, bearer(agent), body).status_code == 403
    assert call(client, "get", url, bearer(agent)).status_code == 403
    assert not calendar.closures.exists()
    missing = f"/sla/calendars/{calendar.pk + 99}/closures"
    assert call(client, "get", missing, bearer(admin)).status_code == 404
    assert call(client, "delete", "/sla/closures/999", bearer(admin)).status_code == 404


def test_an_admin_creates_and_changes_a_calendar_and_a_bad_one_is_refused(
    client: Client, admin: User, agent: User, shop: Shop
) -> None:
    h = bearer(admin)
    body = {"shop_id": shop.pk, "name": "Atelier", "hours": {"0": [["09:00", "12:00"]]}}
    created = call(client, "post", "/sla/calendars", h, body)
    assert created.status_code == 201, created.content
    cal = BusinessCalendar.objects.get(pk=created.json()["id"])
    assert cal.hours == {"0": [["09:00", "12:00"]]}
    body = {"name": "Atelier", "timezone": "Europe/Paris", "hours": {"1": [["10:00", "18:00"]]}}
    assert call(client, "put", f"/sla/calendars/{cal.pk}", h, body).status_code == 200
    cal.refresh_from_db()
    assert cal.hours == {"1": [["10:00", "18:00"]]}
    bad = {**body, "timezone": "Mars/Olympus"}
    assert call(client, "put", f"/sla/calendars/{cal.pk}", h, bad).status_code in (400, 422)
    cal.refresh_from_db()
    assert cal.timezone == "Europe/Paris"
    assert call(client, "put", f"/sla/calendars/{cal.pk}", bearer(agent), body).status_code == 403
    assert [c["name"] for c in call(client, "get", "/sla/calendars", h).json()] == ["Atelier"]


def test_an_admin_sets_and_resets_a_channels_policy(
    client: Client, admin: User, agent: User, channel: Channel
) -> None:
    h = bearer(admin)
    url = f"/sla/channels/{channel.pk}/policy"
    body = {"first_response_minutes": 240, "next_response_minutes": 120, "mode": "calendar"}
    assert call(client, "put", url, bearer(agent), body).status_code == 403
    answer = call(client, "put", url, h, body)
    assert answer.status_code == 200, answer.content
    assert answer.json()["first_response_minutes"] == 240
    assert policies.policy_for(channel.pk).first_response == timedelta(hours=4)
    wrong = {**body, "mode": "lunar"}
    assert call(client, "put", url, h, wrong).status_code in (400, 422)
    assert call(client, "delete", url, h).status_code == 204
    assert policies.policy_for(channel.pk).is_default
    missing = f"/sla/channels/{channel.pk + 99}/policy"
    assert call(client, "put", missing, h, body).status_code == 404
