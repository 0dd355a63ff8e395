"""The SLA closures' day and time fields follow the page's language (jj/mm/aaaa hh:mm in French)
as the other day fields do, not the browser's picker; ISO stays accepted."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from comptoir.accounts.models import User
from comptoir.inbox.models import Shop
from comptoir.sla.models import BusinessCalendar

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def admin_fr(db: None) -> User:
    return User.objects.create_user("admin-fr", "a@x.fr", "x", role="admin", language="fr")


@pytest.fixture
def calendar(shop: Shop) -> BusinessCalendar:
    return BusinessCalendar.objects.create(
        shop=shop, name="Atelier", timezone="Europe/Paris", hours={"0": [["09:00", "18:00"]]}
    )


def _post(
    client: Client, calendar: BusinessCalendar, start: str, end: str, *, status: int = 200
) -> str:
    p = f"closure{calendar.pk}"
    response = client.post(
        f"/settings/sla/calendars/{calendar.pk}/closures/",
        {f"{p}-starts_at": start, f"{p}-ends_at": end, f"{p}-reason": "Inventaire"},
        follow=True,
    )
    assert response.status_code == status
    return response.content.decode()


def test_the_closure_fields_are_text_fields_with_the_french_pattern(
    client: Client, admin_fr: User, calendar: BusinessCalendar
) -> None:
    client.force_login(admin_fr)
    html = client.get("/settings/sla/").content.decode()
    assert f'name="closure{calendar.pk}-starts_at"' in html
    assert 'type="datetime-local"' not in html
    assert 'placeholder="jj/mm/aaaa hh:mm"' in html


def test_a_closure_typed_in_french_order_is_saved_in_the_calendars_time(
    client: Client, admin_fr: User, calendar: BusinessCalendar
) -> None:
    client.force_login(admin_fr)
    _post(client, calendar, "23/11/2026 14:00", "23/11/2026 16h30")
    closure = calendar.closures.get()
    assert closure.starts_at == datetime(2026, 11, 23, 14, tzinfo=PARIS)
    assert closure.ends_at == datetime(2026, 11, 23, 16, 30, tzinfo=PARIS)


def test_iso_is_still_read(client: Client, admin_fr: User, calendar: BusinessCalendar) -> None:
    client.force_login(admin_fr)
    _post(client, calendar, "2026-11-23T14:00", "2026-11-23 15:00")
    assert calendar.closures.get().ends_at == datetime(2026, 11, 23, 15, tzinfo=PARIS)


def test_an_american_date_is_refused_with_the_pattern_and_kept_in_the_field(
    client: Client, admin_fr: User, calendar: BusinessCalendar
) -> None:
    client.force_login(admin_fr)
    html = _post(client, calendar, "11/23/2026 14:00", "23/11/2026 16:00", status=400)
    assert not calendar.closures.exists()
    assert "jj/mm/aaaa hh:mm" in html
    assert 'value="11/23/2026 14:00"' in html
