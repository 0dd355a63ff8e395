"""The at-risk detector on orders built for each situation, and the ones that are not at risk;
then the periodic sweep that keeps one row per order and reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from comptoir.care import detector, sweep
from comptoir.care.models import AtRisk, Reason
from comptoir.connectors.base import OrderData
from comptoir.inbox.models import Channel, Conversation, Status
from comptoir.orders.actions import store_order
from comptoir.orders.models import Order

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def order(**fields: Any) -> Order:
    """An unsaved order: the detector reads fields only."""
    return Order(external_id="O-1", ordered_at=NOW - 10 * DAY, **fields)


def reasons(o: Order, **kwargs: Any) -> list[Reason]:
    return [f.reason for f in detector.reasons_for(o, now=NOW, stall_days=4, **kwargs)]


def test_an_order_not_shipped_by_its_ship_by_date_is_at_risk_with_that_deadline() -> None:
    o = order(status="accepted", ship_by=NOW - 2 * DAY)
    (finding,) = detector.reasons_for(o, now=NOW, stall_days=4)
    assert finding == detector.Finding(Reason.NOT_SHIPPED, NOW - 2 * DAY)


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "accepted", "ship_by": NOW + DAY},  # still in time
        {"status": "shipped", "ship_by": NOW - DAY, "shipped_at": NOW - 2 * DAY},
        {"status": "accepted", "ship_by": NOW - DAY, "shipped_at": NOW - 2 * DAY},
        {"status": "cancelled", "ship_by": NOW - DAY},
        {"status": "accepted"},  # no ship-by date known
    ],
)
def test_orders_shipped_in_time_cancelled_or_undated_are_not_late_to_ship(
    fields: dict[str, Any],
) -> None:
    assert Reason.NOT_SHIPPED not in reasons(order(**fields))


def test_a_parcel_whose_tracking_has_not_moved_for_n_days_is_at_risk() -> None:
    o = order(
        status="shipped",
        shipped_at=NOW - 9 * DAY,
        tracking_changed_at=NOW - 5 * DAY,
        expected_delivery_at=NOW + DAY,
    )
    assert reasons(o) == [Reason.TRACKING_STALLED]
    # N is the setting: six days of patience and it is not at risk yet.
    assert detector.reasons_for(o, now=NOW, stall_days=6) == []


def test_tracking_moved_recently_or_never_recorded_counts_from_the_shipping() -> None:
    moving = order(status="shipped", shipped_at=NOW - 9 * DAY, tracking_changed_at=NOW - DAY)
    assert reasons(moving) == []
    unrecorded = order(status="shipped", shipped_at=NOW - 5 * DAY)
    assert reasons(unrecorded) == [Reason.TRACKING_STALLED]
    fresh = order(status="shipped", shipped_at=NOW - 2 * DAY)
    assert reasons(fresh) == []


def test_a_delivered_or_returned_parcel_is_not_stalled() -> None:
    delivered = order(status="delivered", shipped_at=NOW - 9 * DAY, delivered_at=NOW - 8 * DAY)
    returned = order(status="returned", shipped_at=NOW - 9 * DAY)
    assert reasons(delivered) == reasons(returned) == []


def test_a_missed_delivery_date_is_at_risk_and_a_stalled_one_is_both() -> None:
    missed = order(
        status="shipped",
        shipped_at=NOW - 6 * DAY,
        tracking_changed_at=NOW - DAY,
        expected_delivery_at=NOW - DAY,
    )
    assert detector.reasons_for(missed, now=NOW, stall_days=4) == [
        detector.Finding(Reason.DELIVERY_MISSED, NOW - DAY)
    ]
    stalled = order(status="shipped", shipped_at=NOW - 6 * DAY, expected_delivery_at=NOW - DAY)
    assert reasons(stalled) == [Reason.TRACKING_STALLED, Reason.DELIVERY_MISSED]


def test_a_delivery_date_still_ahead_or_met_is_not_missed() -> None:
    ahead = order(status="shipped", shipped_at=NOW - DAY, expected_delivery_at=NOW + DAY)
    met = order(
        status="delivered",
        shipped_at=NOW - 3 * DAY,
        expected_delivery_at=NOW - DAY,
        delivered_at=NOW - 2 * DAY,
    )
    assert reasons(ahead) == reasons(met) == []


def test_delivered_while_the_buyer_s_conversation_is_open() -> None:
    o = order(status="delivered", shipped_at=NOW - 4 * DAY, delivered_at=NOW - DAY)
    due = NOW + DAY
    assert detector.reasons_for(
        o, now=NOW, stall_days=4, open_since=NOW - 2 * DAY, respond_by=due
    ) == [detector.Finding(Reason.DELIVERED_OPEN, due)]
    # No conversation open, or one opened after the delivery (about something else): no risk.
    assert reasons(o) == []
    assert reasons(o, open_since=NOW - DAY / 2) == []


# -- the sweep, on stored orders -------------------------------------------------------------


@pytest.fixture
def mirakl(shop: Any, team: Any) -> Channel:
    return Channel.objects.create(
        shop=shop, kind="mirakl", marketplace="darty", name="Darty", team=team
    )


def stored(channel: Channel, number: str, **fields: Any) -> Order:
    return Order.objects.create(
        shop=channel.shop, channel=channel, external_id=number, ordered_at=NOW - 10 * DAY, **fields
    )


def open_rows() -> set[tuple[str, str]]:
    return set(
        AtRisk.objects.filter(resolved_at__isnull=True).values_list("order__external_id", "reason")
    )


@pytest.mark.django_db
def test_the_sweep_stores_each_situation_once_and_resolves_what_no_longer_holds(
    mirakl: Channel,
) -> None:
    late = stored(mirakl, "LATE", status="accepted", ship_by=NOW - DAY)
    stored(
        mirakl,
        "STALL",
        status="shipped",
        shipped_at=NOW - 9 * DAY,
        tracking_changed_at=NOW - 6 * DAY,
    )
    stored(
        mirakl,
        "MISSED",
        status="shipped",
        shipped_at=NOW - 3 * DAY,
        tracking_changed_at=NOW - DAY,
        expected_delivery_at=NOW - DAY,
    )
    arrived = stored(
        mirakl, "ARRIVED", status="delivered", shipped_at=NOW - 4 * DAY, delivered_at=NOW - DAY
    )
    Conversation.objects.create(
        shop=mirakl.shop,
        channel=mirakl,
        order=arrived,
        order_number="ARRIVED",
        created_at=NOW - 3 * DAY,
    )
    stored(mirakl, "FINE", status="shipped", shipped_at=NOW - DAY, expected_delivery_at=NOW + DAY)

    assert sweep.detect(NOW, stall_days=4) == {"opened": 4, "resolved": 0}
    assert open_rows() == {
        ("LATE", Reason.NOT_SHIPPED),
        ("STALL", Reason.TRACKING_STALLED),
        ("MISSED", Reason.DELIVERY_MISSED),
        ("ARRIVED", Reason.DELIVERED_OPEN),
    }
    assert AtRisk.objects.get(order=late).deadline == NOW - DAY
    # Run again: nothing new.
    assert sweep.detect(NOW, stall_days=4) == {"opened": 0, "resolved": 0}

    # The late order ships and the open conversation is resolved: both rows resolve.
    Order.objects.filter(pk=late.pk).update(status="shipped", shipped_at=NOW)
    Conversation.objects.filter(order=arrived).update(status=Status.RESOLVED)
    assert sweep.detect(NOW + timedelta(hours=1), stall_days=4) == {"opened": 0, "resolved": 2}
    assert open_rows() == {("STALL", Reason.TRACKING_STALLED), ("MISSED", Reason.DELIVERY_MISSED)}
    assert AtRisk.objects.count() == 4  # kept, resolved: the figures count them


@pytest.mark.django_db
def test_orders_placed_long_ago_are_history_not_care(mirakl: Channel) -> None:
    stored(mirakl, "OLD", status="accepted", ship_by=NOW - 80 * DAY)
    Order.objects.filter(external_id="OLD").update(ordered_at=NOW - 90 * DAY)
    assert sweep.detect(NOW, stall_days=4) == {"opened": 0, "resolved": 0}


@pytest.mark.django_db
def test_order_sync_records_when_the_tracking_last_moved(mirakl: Channel) -> None:
    data = OrderData(
        external_id="T-1",
        status="shipped",
        shipped_at=NOW - 5 * DAY,
        carrier="Colissimo",
        tracking_number="6A1",
    )
    first = store_order(mirakl, data)
    assert first.tracking_changed_at is not None
    Order.objects.filter(pk=first.pk).update(tracking_changed_at=NOW - 5 * DAY)

    same = store_order(mirakl, data)  # the same again: the parcel did not move
    assert same.tracking_changed_at == NOW - 5 * DAY

    moved = store_order(mirakl, data.model_copy(update={"tracking_number": "6A2"}))
    assert moved.tracking_changed_at is not None
    assert moved.tracking_changed_at > NOW - DAY
