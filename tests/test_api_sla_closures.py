"""A calendar's exceptional closures through the API, with the SLA page's rules: owners and
admins only (403 for an agent), 404 for a calendar or closure that is not there; a naive time
is the calendar's wall-clock time, as on the page."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from comptoir.accounts.models import User
from comptoir.inbox.models import Shop
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
