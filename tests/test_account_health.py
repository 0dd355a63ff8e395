"""Marketplace account health: each metric on hand-built orders, messages and claims, the
threshold states, the warning sent once per crossing, the page in English and French, the CSV
and the REST API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import APIToken, Role, User
from comptoir.cases.models import Case
from comptoir.health import metrics, report, thresholds, warnings
from comptoir.health.actions import set_threshold
from comptoir.health.models import HealthAlert
from comptoir.health.thresholds import Metric
from comptoir.inbox.models import Channel, Conversation, Direction, Message, Shop
from comptoir.jobs.periodic import REGISTRY, autodiscover
from comptoir.notifications.models import Notification
from comptoir.orders.models import Order

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
_n = iter(range(1, 100000))


def order(channel: Channel, *, days_ago: float, **fields: Any) -> Order:
    ordered = NOW - timedelta(days=days_ago)
    return Order.objects.create(
        shop=channel.shop,
        channel=channel,
        external_id=f"o-{next(_n)}",
        ordered_at=ordered,
        **fields,
    )


def claim(channel: Channel, *, days_ago: float, by: str = "marketplace") -> Case:
    conv = Conversation.objects.create(shop=channel.shop, channel=channel)
    return Case.objects.create(
        conversation=conv,
        channel=channel,
        kind="not_received",
        opened_by=by,
        opened_at=NOW - timedelta(days=days_ago),
    )


def buyer_message(channel: Channel, *, days_ago: float, answered_after: float | None) -> None:
    conv = Conversation.objects.create(shop=channel.shop, channel=channel)
    at = NOW - timedelta(days=days_ago)
    Message.objects.create(
        conversation=conv, channel=channel, direction=Direction.IN, created_at=at, text="?"
    )
    if answered_after is not None:
        Message.objects.create(
            conversation=conv,
            channel=channel,
            direction=Direction.OUT,
            created_at=at + timedelta(hours=answered_after),
            text="!",
            delivery_state="sent",
        )


def card(channel: Channel, metric: Metric, now: datetime = NOW) -> report.Card:
    (health,) = report.build([channel], now, trend=False)
    return next(c for c in health.cards if c.metric == metric)


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("olivia", "olivia@example.com", "pw", role=Role.OWNER)


@pytest.fixture
def amazon(channel: Channel) -> Channel:
    return channel  # the shared fixture's channel is Amazon's


def test_late_shipment_counts_orders_by_their_ship_by_date(amazon: Channel) -> None:
    day = timedelta(days=1)
    order(amazon, days_ago=5, ship_by=NOW - 3 * day, shipped_at=NOW - 4 * day)  # on time
    order(amazon, days_ago=5, ship_by=NOW - 3 * day, shipped_at=NOW - 2 * day)  # late
    order(amazon, days_ago=5, ship_by=NOW - 3 * day)  # not shipped, past due: late
    order(amazon, days_ago=1, ship_by=NOW + day)  # not due yet: not counted
    order(amazon, days_ago=5, ship_by=NOW - 3 * day, status="cancelled")  # cancelled: not counted
    order(amazon, days_ago=40, ship_by=NOW - 38 * day)  # before Amazon's 30 days
    c = card(amazon, Metric.LATE_SHIPMENT)
    assert (c.measure.bad, c.measure.whole) == (2, 3)  # type: ignore[union-attr]
    assert c.state == "breached"


def test_cancellation_counts_orders_cancelled_before_shipping(amazon: Channel) -> None:
    for _ in range(37):
        order(amazon, days_ago=2)
    order(amazon, days_ago=3, status="cancelled")
    order(amazon, days_ago=3, status="cancelled", shipped_at=NOW - timedelta(days=2))
    order(amazon, days_ago=9, status="cancelled")  # outside Amazon's 7 days
    c = card(amazon, Metric.CANCELLATION)
    assert (c.measure.bad, c.measure.whole) == (1, 39)  # type: ignore[union-attr]
    assert c.value == pytest.approx(1 / 39)
    # 2.56 % against "under 2.5 %": breached; 2 % of 2.5 % is past 80 %: a warning.
    assert c.state == "breached"
    order(amazon, days_ago=1)
    assert card(amazon, Metric.CANCELLATION).state == "warning"  # 1 / 40 = 2.5 %: at the line


def test_valid_tracking_is_the_tracked_share_and_unknown_without_any(amazon: Channel) -> None:
    shipped = NOW - timedelta(days=3)
    for _ in range(19):
        order(amazon, days_ago=5, shipped_at=shipped)
    assert card(amazon, Metric.VALID_TRACKING).measure is None  # no tracking ever: not known
    assert card(amazon, Metric.VALID_TRACKING).state == "no_data"
    Order.objects.filter(channel=amazon).update(tracking_number="6A123")
    order(amazon, days_ago=5, shipped_at=shipped)  # one without
    c = card(amazon, Metric.VALID_TRACKING)
    assert c.value == pytest.approx(0.95)
    assert c.threshold == pytest.approx(0.95)
    assert c.good_above
    assert c.state == "warning"  # 5 % untracked: at the line, not past it


def test_claims_are_the_marketplaces_cases_per_order(amazon: Channel) -> None:
    for _ in range(200):
        order(amazon, days_ago=10)
    claim(amazon, days_ago=5)
    claim(amazon, days_ago=6, by="agent")  # the seller's own case is no claim
    claim(amazon, days_ago=70)  # outside Amazon's 60 days
    c = card(amazon, Metric.CLAIMS)
    assert (c.measure.bad, c.measure.whole) == (1, 200)  # type: ignore[union-attr]
    assert c.state == "ok"  # 0.5 % of "under 1 %"
    claim(amazon, days_ago=1)
    assert card(amazon, Metric.CLAIMS).state == "warning"  # 1 % is not past "under 1 %"


def test_late_responses_come_from_the_sla_count(amazon: Channel) -> None:
    buyer_message(amazon, days_ago=10, answered_after=2)
    buyer_message(amazon, days_ago=11, answered_after=30)  # past Amazon's 24 hours
    buyer_message(amazon, days_ago=100, answered_after=30)  # outside the 90 days
    c = card(amazon, Metric.LATE_RESPONSE)
    assert (c.measure.bad, c.measure.whole) == (1, 2)  # type: ignore[union-attr]
    assert c.rule.window_days == 90
    assert c.state == "breached"


def test_each_marketplace_has_its_own_rules_and_the_own_shop_none(shop: Shop) -> None:
    ebay = Channel.objects.create(shop=shop, kind="ebay", marketplace="ebay", name="eBay")
    darty = Channel.objects.create(shop=shop, kind="mirakl", marketplace="darty", name="Darty")
    mail = Channel.objects.create(shop=shop, kind="email", marketplace="shop", name="Mail")
    built = {h.marketplace: h for h in report.build([ebay, darty, mail], NOW, trend=False)}
    assert set(built) == {"ebay", "darty"}
    ebay_late = next(c for c in built["ebay"].cards if c.metric == Metric.LATE_SHIPMENT)
    assert ebay_late.rule.limit == 0.07
    assert ebay_late.rule.window_days == 90
    assert ebay_late.rule.published
    assert ebay_late.rule.source_url.startswith("https://")
    assert all(not c.rule.published for c in built["darty"].cards)
    # Every rule names its source or says there is none.
    for rules in [*thresholds.RULES.values(), thresholds.MIRAKL]:
        for rule in rules:
            assert rule.source_note
            assert not rule.published or rule.source_url.startswith("https://")
            assert rule.metric != Metric.LATE_RESPONSE or rule.window_days in (7, 30, 90)


def test_states_at_the_warning_share() -> None:
    assert report.state_of(None, 0.04, 0.8) == "no_data"
    assert report.state_of(0.0, 0.04, 0.8) == "ok"
    assert report.state_of(0.031, 0.04, 0.8) == "ok"
    assert report.state_of(0.032, 0.04, 0.8) == "warning"
    assert report.state_of(0.04, 0.04, 0.8) == "warning"
    assert report.state_of(0.041, 0.04, 0.8) == "breached"
    assert report.state_of(0.025, 0.04, 0.6) == "warning"


def test_the_trend_has_weekly_points_over_90_days(amazon: Channel) -> None:
    for weeks_ago in range(13):
        ship_by = NOW - timedelta(days=7 * weeks_ago, hours=1)
        order(amazon, days_ago=7 * weeks_ago + 1, ship_by=ship_by)
    (health,) = report.build([amazon], NOW)
    late = next(c for c in health.cards if c.metric == Metric.LATE_SHIPMENT)
    assert len(late.trend) == metrics.WEEKS == 13
    assert late.trend[-1][0] == NOW
    assert late.trend[0][0] == NOW - timedelta(weeks=12)
    assert all(v == 1.0 for _at, v in late.trend)  # none shipped: all late


def test_a_warning_is_sent_once_per_crossing_to_owners_and_admins(
    amazon: Channel, owner: User, agent: User, supervisor: User, settings: Any
) -> None:
    admin = User.objects.create_user("adam", "adam@example.com", "pw", role=Role.ADMIN)
    for _ in range(96):
        order(amazon, days_ago=3)
    for _ in range(2):
        order(amazon, days_ago=3, status="cancelled")  # 2 of 98: 2.04 %, a warning

    def told(user: User) -> list[str]:
        return list(
            Notification.objects.filter(user=user, kind="account_health").values_list(
                "text", flat=True
            )
        )

    assert warnings.check(NOW) == 1
    assert warnings.check(NOW) == 0  # the next run says nothing new
    (text,) = told(owner)
    assert "Amazon FR (API)" in text
    assert "Cancellation" in text
    assert "nearing" in text
    assert len(told(admin)) == 1
    assert told(agent) == []
    assert told(supervisor) == []

    order(amazon, days_ago=2, status="cancelled")  # 3 of 99: past 2.5 %
    assert warnings.check(NOW) == 1
    assert "past the threshold" in told(owner)[0] or "past the threshold" in told(owner)[1]
    assert warnings.check(NOW) == 0

    # Back under the warning share: the alerts are forgotten; crossing again warns again.
    for _ in range(200):
        order(amazon, days_ago=1)
    assert warnings.check(NOW) == 0
    assert not HealthAlert.objects.filter(metric="cancellation").exists()
    for _ in range(6):
        order(amazon, days_ago=1, status="cancelled")  # 9 of 305: 2.95 %
    assert warnings.check(NOW) == 1
    assert len(told(owner)) == 3


def test_the_warning_share_is_a_setting(amazon: Channel, owner: User, settings: Any) -> None:
    for _ in range(99):
        order(amazon, days_ago=3)
    order(amazon, days_ago=3, status="cancelled")  # 1 %: 40 % of the 2.5 % threshold
    assert card(amazon, Metric.CANCELLATION).state == "ok"
    settings.HEALTH_WARNING_PERCENT = 40
    assert card(amazon, Metric.CANCELLATION).state == "warning"


def test_the_check_runs_as_a_periodic_job() -> None:
    autodiscover()
    assert REGISTRY["health.check"].every == timedelta(hours=1)


def test_the_seller_sets_a_threshold_where_none_is_published(
    shop: Shop, owner: User, agent: User
) -> None:
    darty = Channel.objects.create(shop=shop, kind="mirakl", marketplace="darty", name="Darty")
    set_threshold("darty", "claims", 0.02, actor=owner)
    (health,) = report.build([darty], NOW, trend=False)
    claims = next(c for c in health.cards if c.metric == Metric.CLAIMS)
    assert claims.rule.limit == 0.02
    assert not claims.rule.published
    set_threshold("darty", "claims", None, actor=owner)
    (health,) = report.build([darty], NOW, trend=False)
    assert next(c for c in health.cards if c.metric == Metric.CLAIMS).rule.limit == 0.05
    with pytest.raises(Exception, match="owners and admins"):
        set_threshold("darty", "claims", 0.02, actor=agent)


def _world(amazon: Channel) -> None:
    now = timezone.now()
    for _ in range(40):
        Order.objects.create(
            shop=amazon.shop,
            channel=amazon,
            external_id=f"w-{next(_n)}",
            ordered_at=now - timedelta(days=3),
            ship_by=now - timedelta(days=2),
            shipped_at=now - timedelta(days=2, hours=1),
            tracking_number="6A1",
        )
    Order.objects.create(
        shop=amazon.shop,
        channel=amazon,
        external_id="w-late",
        ordered_at=now - timedelta(days=3),
        ship_by=now - timedelta(days=2),
    )


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Account health", "Late shipment rate", "Threshold: under 4", "Source", "OK"]),
        ("fr", ["Santé du compte", "Taux d\u2019expédition", "Seuil : moins de 4", "Source"]),
    ],
)
def test_the_page_in_english_and_french(
    client: Client, amazon: Channel, owner: User, language: str, words: list[str]
) -> None:
    _world(amazon)
    client.force_login(owner)
    client.cookies["django_language"] = language
    response = client.get("/account-health/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    body = response.content.decode()
    for word in words:
        assert word in body, word
    assert "<svg" in body
    assert 'data-metric="late_shipment"' in body
    assert "sellercentral" in body or "amazowl" in body


def test_who_sees_the_page(
    client: Client, amazon: Channel, agent: User, analyst: User, supervisor: User
) -> None:
    client.force_login(agent)
    assert client.get("/account-health/").status_code == 403
    for user in (analyst, supervisor):
        client.force_login(user)
        assert client.get("/account-health/").status_code == 200


def test_the_csv(client: Client, amazon: Channel, owner: User) -> None:
    _world(amazon)
    client.force_login(owner)
    response = client.get("/account-health/?format=csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    late = next(r for r in rows if r["metric"] == "late_shipment")
    assert (late["bad"], late["counted"], late["state"]) == ("1", "41", "ok")
    assert late["threshold"] == "0.04"
    assert late["source"].startswith("https://")


def _bearer(user: User) -> dict[str, str]:
    _token, raw = APIToken.issue(user, "tests")
    return {"Authorization": f"Bearer {raw}"}


def test_the_api(client: Client, amazon: Channel, owner: User, agent: User) -> None:
    _world(amazon)
    response = client.get("/api/v1/account-health", headers=_bearer(owner))
    assert response.status_code == 200
    (channel,) = response.json()
    assert channel["channel_id"] == amazon.pk
    assert channel["marketplace"] == "amazon"
    late = next(m for m in channel["metrics"] if m["metric"] == "late_shipment")
    assert (late["bad"], late["counted"], late["threshold"]) == (1, 41, 0.04)
    assert late["state"] == "ok"
    assert late["published"] is True
    assert len(late["trend"]) == 13
    tracking = next(m for m in channel["metrics"] if m["metric"] == "valid_tracking")
    assert tracking["threshold_is_minimum"] is True
    assert client.get("/api/v1/account-health", headers=_bearer(agent)).status_code == 403

    put = client.put(
        "/api/v1/account-health/thresholds/amazon/late_shipment",
        data={"limit": 0.02},
        content_type="application/json",
        headers=_bearer(owner),
    )
    assert put.status_code == 204
    again = client.get("/api/v1/account-health?trend=false", headers=_bearer(owner)).json()
    late = next(m for m in again[0]["metrics"] if m["metric"] == "late_shipment")
    assert late["threshold"] == 0.02
    assert late["published"] is False
    assert late["trend"] == []
    refused = client.put(
        "/api/v1/account-health/thresholds/shop/claims",
        data={"limit": 0.02},
        content_type="application/json",
        headers=_bearer(owner),
    )
    assert refused.status_code == 422


def test_the_openapi_document_has_the_endpoints(client: Client, db: None) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/account-health" in paths
    assert "/api/v1/account-health/thresholds/{marketplace}/{metric}" in paths


def test_the_demo_puts_fnac_in_the_warning_band_and_tracks_the_parcels(
    shop: Shop, owner: User
) -> None:
    from comptoir.demo import health as demo_health

    fnac = Channel.objects.create(shop=shop, kind="fnac", marketplace="fnac", name="Fnac")
    for k in range(100):
        ship_by = NOW - timedelta(days=3 + k % 20)
        order(fnac, days_ago=5 + k % 20, ship_by=ship_by, shipped_at=ship_by - timedelta(hours=3))
    said = demo_health.seed(now=NOW)
    assert "1 warning" in said
    (health,) = report.build([fnac], NOW, trend=False)
    assert health.state == "warning"
    late = next(c for c in health.cards if c.metric == Metric.LATE_SHIPMENT)
    assert late.measure == metrics.Measure(4, 100)  # 4 % of "at most 5 %"
    assert Order.objects.filter(channel=fnac).exclude(tracking_number="").count() >= 98
    assert Notification.objects.filter(user=owner, kind="account_health").count() == 1


def test_an_owner_changes_a_threshold_on_the_page(
    client: Client, shop: Shop, owner: User, supervisor: User
) -> None:
    darty = Channel.objects.create(shop=shop, kind="mirakl", marketplace="darty", name="Darty")
    client.force_login(owner)
    body = client.get("/account-health/").content.decode()
    assert "Default threshold (not published)" in body
    assert 'name="percent"' in body
    form = {"marketplace": "darty", "metric": "claims", "percent": "2,5"}
    assert client.post("/account-health/threshold/", form).status_code == 302
    (health,) = report.build([darty], NOW, trend=False)
    claims = next(c for c in health.cards if c.metric == Metric.CLAIMS)
    assert claims.rule.limit == pytest.approx(0.025)
    # "Above 97 %" for valid tracking is 3 % untracked allowed.
    amazon = {"marketplace": "amazon", "metric": "valid_tracking", "percent": "97"}
    client.post("/account-health/threshold/", amazon)
    assert report.overrides()[("amazon", "valid_tracking")] == pytest.approx(0.03)
    bad = client.post("/account-health/threshold/", {**form, "percent": "lots"}, follow=True)
    assert "A threshold is a percentage" in bad.content.decode()
    client.post("/account-health/threshold/", {**form, "reset": "1"})
    assert ("darty", "claims") not in report.overrides()
    # A supervisor reads the page but sets nothing.
    client.force_login(supervisor)
    assert 'name="percent"' not in client.get("/account-health/").content.decode()
    assert client.post("/account-health/threshold/", form).status_code == 403


def test_spartoo_has_its_own_rules_all_defaults(shop: Shop) -> None:
    spartoo = Channel.objects.create(
        shop=shop, kind="spartoo", marketplace="spartoo", name="Spartoo"
    )
    built = report.build([spartoo], NOW, trend=False)
    assert [h.marketplace for h in built] == ["spartoo"]
    rules = {c.metric: c.rule for c in built[0].cards}
    assert rules[Metric.LATE_SHIPMENT].limit == 0.05
    assert rules[Metric.CLAIMS].limit == 0.03  # not Mirakl's 5 %: Spartoo's own guess
    assert not any(rule.published for rule in rules.values())


def test_each_recipient_reads_the_warning_in_their_own_language(
    amazon: Channel, owner: User
) -> None:
    admin = User.objects.create_user(
        "amelie", "amelie@example.com", "pw", role=Role.ADMIN, language="fr"
    )
    for _ in range(96):
        order(amazon, days_ago=3)
    for _ in range(2):
        order(amazon, days_ago=3, status="cancelled")  # 2 of 98: a warning

    assert warnings.check(NOW) == 1

    def told(user: User) -> str:
        (text,) = Notification.objects.filter(user=user, kind="account_health").values_list(
            "text", flat=True
        )
        return text

    assert "nearing the threshold" in told(owner)  # no language chosen: the site's
    assert "2.0 %" in told(owner)
    assert "proche du seuil" in told(admin)
    assert "2,0 %" in told(admin)
