"""Mirakl incidents (claims on order lines, read from OR11) open their case through the real
path: the simulator, a poll, the after-ingest hook, the queued task; re-reads never open a
second case, and the operator closing the incident resolves it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django_tasks_db.models import DBTaskResult

from comptoir.cases.models import Case
from comptoir.cases.tasks import sync_claims
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox.models import Channel, Message, Shop
from comptoir.inbox.tasks import poll_channel

SYNC = "comptoir.cases.tasks.sync_claims"


@pytest.fixture
def sim() -> Iterator[MiraklSimulator]:
    simulator = MiraklSimulator(seed=11)
    simulator.start()
    yield simulator
    simulator.stop()


def _channel(shop: Shop, team: Any, sim: MiraklSimulator, **extra: Any) -> Channel:
    channel = Channel(shop=shop, kind="mirakl", marketplace="darty", name="Darty", team=team)
    channel.set_settings(
        {
            "base_url": sim.url,
            "api_key": "sim-key",
            "timeout_seconds": 2,
            "incident_poll_minutes": 0,
            **extra,
        }
    )
    channel.save()
    return channel


@pytest.fixture
def darty(shop: Shop, team: Any, sim: MiraklSimulator, sleeps: list[float]) -> Channel:
    return _channel(shop, team, sim, incident_response_hours=48)


def poll(channel: Channel, capture: Any) -> list[int]:
    """Poll with the after-commit hooks run, then the queued claim syncs."""
    with capture(execute=True):
        poll_channel.call(channel.pk)
    done = []
    for row in DBTaskResult.objects.filter(task_path=SYNC).order_by("enqueued_at"):
        done.append(sync_claims.call(*row.args_kwargs["args"]))
        row.delete()
    return done


def test_an_incident_opens_one_case_on_the_buyers_conversation_and_closing_resolves_it(
    sim: MiraklSimulator, darty: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    sim.add_order("ORD-1", customer_id="cust-9", customer_name="Jeanne Martin", total_price=89.5)
    sim.add_order("ORD-2", customer_id="cust-8", customer_name="Paul Durand")
    sim.buyer_writes("Bonjour, ma lampe ne marche pas.", order_id="ORD-1", customer_id="cust-9")
    line = sim.open_incident("ORD-1", reason_code="3")

    assert poll(darty, django_capture_on_commit_callbacks) == [1]

    case = Case.objects.get()
    assert (case.external_id, case.claim_kind, case.kind) == (
        f"incident:ORD-1:{line}",
        "mirakl_incident",
        "damaged",
    )
    assert (case.opened_by, case.stage, case.reason, case.marketplace_status) == (
        "marketplace",
        "open",
        "Defective item",
        "INCIDENT_OPEN",
    )
    # The incident joins the buyer's thread about that order, not a conversation of its own.
    assert case.conversation.messages.count() == 2
    assert case.conversation.external_thread_id != ""
    # Mirakl gives no deadline: the channel's operator rule (48 h) does.
    assert case.deadline is not None
    assert abs(case.deadline - case.opened_at - timedelta(hours=48)) < timedelta(seconds=5)

    # Read again (a later poll, then a full re-read from an empty cursor): still one case.
    poll(darty, django_capture_on_commit_callbacks)
    Channel.objects.filter(pk=darty.pk).update(cursor={})
    poll(darty, django_capture_on_commit_callbacks)
    assert Case.objects.count() == 1

    sim.close_incident("ORD-1")
    poll(darty, django_capture_on_commit_callbacks)
    case.refresh_from_db()
    assert (case.stage, case.marketplace_status) == ("resolved", "CLOSED")
    closed = Message.objects.get(external_id=f"incident:ORD-1:{line}:closed")
    assert closed.is_auto
    assert closed.conversation_id == case.conversation_id
    assert Case.objects.count() == 1
    assert sim.violations == []


def test_incidents_are_read_across_pages_and_through_faults(
    sim: MiraklSimulator, shop: Shop, team: Any, sleeps: list[float]
) -> None:
    channel = _channel(shop, team, sim)
    for n in range(130):
        sim.add_order(f"P-{n:03}", customer_id=f"c-{n}", customer_name=f"Client {n}")
    for n in range(0, 130, 5):  # 26 incidents, over two OR11 pages of 100
        sim.open_incident(f"P-{n:03}", reason_code="1")
    sim.faults.add("error500", path="/api/orders", times=1)
    sim.faults.add("rate_limit", path="/api/orders", times=1)
    sim.faults.add("duplicate_page", path="/api/orders", times=1)

    poll_channel.call(channel.pk)

    stored = Message.objects.filter(external_id__startswith="incident:")
    assert stored.count() == 26
    assert sync_claims.call(list(stored.values_list("pk", flat=True))) == 26
    assert Case.objects.filter(kind="not_received", claim_kind="mirakl_incident").count() == 26
    # Without an operator rule on the channel there is no deadline to invent.
    assert not Case.objects.filter(deadline__isnull=False).exists()
    assert sim.faults.injected["error500"] == 1
    assert sim.faults.injected["rate_limit"] == 1
    assert sim.violations == []


def test_incidents_are_read_at_mirakls_recommended_pace(
    sim: MiraklSimulator, shop: Shop, team: Any, sleeps: list[float]
) -> None:
    channel = _channel(shop, team, sim, incident_poll_minutes=5)
    sim.add_order("Q-1")
    poll_channel.call(channel.pk)
    sim.open_incident("Q-1")
    poll_channel.call(channel.pk)  # a minute later: the threads, not the orders
    assert sim.calls["GET /api/orders"] == 1
    assert not Message.objects.filter(external_id__startswith="incident:").exists()
    cursor = Channel.objects.get(pk=channel.pk).cursor
    cursor["incidents_read_at"] = "2026-01-01T00:00:00+00:00"
    Channel.objects.filter(pk=channel.pk).update(cursor=cursor)
    poll_channel.call(channel.pk)
    assert sim.calls["GET /api/orders"] == 2
    assert Message.objects.filter(external_id__startswith="incident:").count() == 1


def _get(sim: MiraklSimulator, **params: str) -> httpx.Response:
    return httpx.get(f"{sim.url}/api/orders", params=params, headers={"Authorization": "sim-key"})


def test_the_simulator_serves_or11_filters_and_refuses_bad_values(sim: MiraklSimulator) -> None:
    sim.add_order("A-1")
    sim.add_order("A-2")
    sim.open_incident("A-2", reason_code="2")
    found = _get(sim, has_incident="true").json()
    assert [o["order_id"] for o in found["orders"]] == ["A-2"]
    assert found["orders"][0]["has_incident"] is True
    line = found["orders"][0]["order_lines"][0]
    assert (line["order_line_state"], line["order_line_state_reason_label"]) == (
        "INCIDENT_OPEN",
        "Item not as ordered",
    )
    assert [o["order_id"] for o in _get(sim, has_incident="false").json()["orders"]] == ["A-1"]
    since = found["orders"][0]["last_updated_date"]
    assert [o["order_id"] for o in _get(sim, start_update_date=since).json()["orders"]] == ["A-2"]
    for bad in ({"has_incident": "yes"}, {"start_update_date": "yesterday"}, {"max": "500"}):
        assert _get(sim, **bad).status_code == 400
