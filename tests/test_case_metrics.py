"""Case figures for analytics, on hand-built cases, with analytics' own Period and Filters."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from comptoir.analytics.period import Filters, Period
from comptoir.cases import metrics
from comptoir.cases.models import Case
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.orders.models import Order

pytestmark = pytest.mark.django_db
NOW = timezone.now()
WEEK = Period(NOW - timedelta(days=7), NOW)


@pytest.fixture
def world(shop: Shop, team: Any) -> dict[str, Any]:
    ebay = Channel.objects.create(
        shop=shop, kind="ebay", marketplace="ebay", name="eBay", team=team
    )
    fnac = Channel.objects.create(
        shop=shop, kind="fnac", marketplace="fnac", name="Fnac", team=team
    )
    for n in range(40):
        Order.objects.create(
            shop=shop, channel=ebay, external_id=f"E{n}", ordered_at=NOW - timedelta(days=2)
        )
    for n in range(10):
        Order.objects.create(
            shop=shop, channel=fnac, external_id=f"F{n}", ordered_at=NOW - timedelta(days=2)
        )
    return {"ebay": ebay, "fnac": fnac}


def case(channel: Channel, *, days_ago: float, **fields: Any) -> Case:
    conv = Conversation.objects.create(shop=channel.shop, channel=channel)
    return Case.objects.create(
        conversation=conv,
        channel=channel,
        kind=fields.pop("kind", "damaged"),
        opened_by=fields.pop("opened_by", "marketplace"),
        opened_at=NOW - timedelta(days=days_ago),
        **fields,
    )


def test_case_figures_over_a_period(world: dict[str, Any]) -> None:
    ebay, fnac = world["ebay"], world["fnac"]
    opened = NOW - timedelta(days=3)
    case(
        ebay,
        days_ago=3,
        stage="resolved",
        resolved_at=opened + timedelta(hours=10),
        outcome="partial_refund",
        refund_amount=Decimal("25.00"),
        currency="EUR",
    )
    case(
        ebay,
        days_ago=3,
        stage="resolved",
        resolved_at=opened + timedelta(hours=30),
        outcome="rejected",
    )
    case(ebay, days_ago=1, kind="return", opened_by="agent")
    case(
        fnac,
        days_ago=2,
        outcome="full_refund",
        refund_amount=Decimal("10.50"),
        currency="EUR",
    )
    case(fnac, days_ago=20, outcome="full_refund", refund_amount=Decimal("99"), currency="EUR")

    everything = Filters()
    assert metrics.opened(WEEK, everything) == 4
    assert metrics.opened(WEEK, everything, disputes_only=True) == 3
    assert metrics.opened(WEEK, Filters(marketplace="fnac")) == 1
    # 3 disputes over 50 orders; eBay alone: 2 over 40.
    assert metrics.per_100_orders(WEEK, everything) == pytest.approx(6.0)
    assert metrics.per_100_orders(WEEK, Filters(marketplace="ebay")) == pytest.approx(5.0)
    assert (
        metrics.per_100_orders(
            Period(NOW - timedelta(days=90), NOW - timedelta(days=60)), everything
        )
        is None
    )
    times = metrics.time_to_resolve(WEEK, everything)
    assert (times.count, times.median, times.still_open) == (2, pytest.approx(20.0), 2)
    assert metrics.refunded_amounts(WEEK, everything) == {"EUR": Decimal("35.50")}
    assert metrics.outcomes_by_marketplace(WEEK, everything) == {
        "ebay": {"partial_refund": 1, "rejected": 1, "": 1},
        "fnac": {"full_refund": 1},
    }
    assert metrics.outcomes_by_kind(WEEK, Filters(channel_id=ebay.pk)) == {
        "damaged": {"partial_refund": 1, "rejected": 1},
        "return": {"": 1},
    }


def test_the_disputes_kpis_are_the_cases_a_marketplace_opened(world: dict[str, Any]) -> None:
    from comptoir.analytics import kpis

    everything = Filters()
    assert kpis.disputes(WEEK, everything) == 0
    case(world["ebay"], days_ago=1)
    case(world["ebay"], days_ago=1, opened_by="agent")  # the seller's own case: not a dispute
    assert kpis.disputes(WEEK, everything) == 1
    assert kpis.disputes_per_100_orders(WEEK, everything) == pytest.approx(100 / 50)
