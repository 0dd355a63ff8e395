"""SLA: policies and their defaults, respond-by through the conversation's life, the sweep,
the marketplaces' late-response rates, and a weekend of simulated time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from comptoir.inbox.models import Channel, Shop
from comptoir.sla import policies
from comptoir.sla.models import BusinessCalendar, Mode, SLAPolicy

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _fresh_policies() -> None:
    policies.clear_cache()


def make_channel(shop: Shop, marketplace: str, kind: str = "api") -> Channel:
    return Channel.objects.create(shop=shop, kind=kind, marketplace=marketplace, name=marketplace)


# -- policies and defaults ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marketplace", "hours"),
    [("amazon", 24), ("cdiscount", 48), ("fnac", 48), ("darty", 24), ("ebay", 24), ("rakuten", 24)],
)
def test_marketplace_channels_default_to_the_published_calendar_hours(
    shop: Shop, marketplace: str, hours: int
) -> None:
    channel = make_channel(shop, marketplace)
    friday_evening = paris(2026, 11, 20, 19)
    assert policies.respond_by_for(channel.pk, friday_evening) == friday_evening + timedelta(
        hours=hours
    )


def test_the_own_shop_defaults_to_24_business_hours_in_the_shops_timezone(shop: Shop) -> None:
    email = make_channel(shop, "shop", kind="email")
    # Friday 19:00 is closed: Monday 9 h, Tuesday 9 h, Wednesday 6 h → Wednesday 15:00.
    assert policies.respond_by_for(email.pk, paris(2026, 11, 20, 19)) == paris(2026, 11, 25, 15)
    assert not policies.is_business_hours(email.pk, paris(2026, 11, 21, 11))
    assert policies.is_business_hours(email.pk, paris(2026, 11, 23, 11))
    assert policies.next_opening(email.pk, paris(2026, 11, 20, 19)) == paris(2026, 11, 23, 9)


def test_the_shops_country_holidays_close_the_default_calendar(shop: Shop) -> None:
    email = make_channel(shop, "shop", kind="email")
    christmas = paris(2026, 12, 25, 11)  # a Friday
    assert not policies.is_business_hours(email.pk, christmas)
    assert policies.next_opening(email.pk, christmas) == paris(2026, 12, 28, 9)


def test_a_channel_policy_overrides_the_default_and_the_cache_sees_it(shop: Shop) -> None:
    amazon = make_channel(shop, "amazon")
    start = paris(2026, 11, 20, 19)
    assert policies.respond_by_for(amazon.pk, start) == start + timedelta(hours=24)
    calendar = BusinessCalendar.objects.create(
        shop=shop, name="Weekdays", hours={str(d): [["08:00", "20:00"]] for d in range(5)}
    )
    SLAPolicy.objects.create(
        channel=amazon,
        first_response_minutes=12 * 60,
        next_response_minutes=6 * 60,
        mode=Mode.BUSINESS,
        calendar=calendar,
        at_risk_percent=50,
    )
    # Friday 19:00 → 1 h on Friday, 11 h on Monday → Monday 19:00; at risk after 6 h: Monday 13:00.
    assert policies.deadlines_for(amazon.pk, start, first=True) == (
        paris(2026, 11, 23, 19),
        paris(2026, 11, 23, 13),
    )
    assert policies.respond_by_for(amazon.pk, start, first=False) == paris(2026, 11, 23, 13)


def test_at_risk_defaults_to_three_quarters_of_the_target(shop: Shop) -> None:
    amazon = make_channel(shop, "amazon")
    start = datetime(2026, 11, 20, 18, tzinfo=UTC)
    assert policies.deadlines_for(amazon.pk, start)[1] == start + timedelta(hours=18)
