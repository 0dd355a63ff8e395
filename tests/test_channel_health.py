"""A marketplace channel's health as its polls find it: an unreachable marketplace escalates
after repeated failures and tells the admins once, a good poll clears the errors, and a long
Retry-After holds the next poll (against the Mirakl simulator; simulated time)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.connectors.amazon import connector as amazon_connector
from comptoir.connectors.amazon.simulator import AmazonSimulator
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox.models import Channel, Event, Shop
from comptoir.inbox.tasks import poll_channel, poll_channels
from comptoir.lib import http
from comptoir.orders.tasks import sync_orders
from tests.notify_helpers import run_notification_tasks


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """Simulated time: `clock[0]` is now for everything that asks Django."""
    now = [timezone.now()]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    return now


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("owner", "owner@maison-lumiere.fr", "x", role="owner")


def point_at(channel: Channel, base_url: str) -> None:
    channel.set_settings({**channel.get_settings(), "base_url": base_url})
    channel.save()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def poll(channel: Channel) -> None:
    poll_channel.call(channel.pk)
    channel.refresh_from_db()


def test_an_unreachable_marketplace_marks_the_channel_failing_and_tells_the_admins_once(
    sim: MiraklSimulator,
    darty: Channel,
    owner: User,
    clock: list[datetime],
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    point_at(darty, f"http://127.0.0.1:{closed_port()}")

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):  # four minutes: a short outage is no news
            poll(darty)
            clock[0] += timedelta(minutes=1)
        assert (darty.health, darty.failure_count) == ("working", 4)
        clock[0] += timedelta(minutes=7)
        poll(darty)  # the fifth failure in a row, over eleven minutes
        assert darty.health == "failing"
        clock[0] += timedelta(minutes=1)
        poll(darty)  # failing the same way: nobody is told twice
    run_notification_tasks()

    assert darty.is_healthy  # still polled: it comes back by itself
    assert [m.to for m in mailoutbox] == [["owner@maison-lumiere.fr"]]
    assert "Darty" in mailoutbox[0].subject
    assert "cannot connect" in mailoutbox[0].body
    assert "6 failed attempts" not in mailoutbox[0].body
    assert "5 failed attempts" in mailoutbox[0].body
    assert poll_channels.call() == 1

    point_at(darty, sim.url)  # the marketplace is back
    sim.buyer_writes("Bonjour")
    poll(darty)

    assert (darty.health, darty.failure_count, darty.last_error) == ("working", 0, "")
    kinds = list(Event.objects.filter(conversation=None).values_list("kind", flat=True))
    assert kinds == ["channel_failing", "channel_recovered"]


def test_the_channels_page_says_failing_then_working_again(
    sim: MiraklSimulator, darty: Channel, owner: User, clock: list[datetime], client: Client
) -> None:
    client.force_login(owner)
    point_at(darty, f"http://127.0.0.1:{closed_port()}")
    for _ in range(6):
        poll(darty)
        clock[0] += timedelta(minutes=3)

    page = client.get(reverse("settings:channels")).content.decode()
    assert "failing" in page
    assert "cannot connect" in page

    point_at(darty, sim.url)
    poll(darty)

    page = client.get(reverse("settings:channels")).content.decode()
    assert "cannot connect" not in page
    assert "working" in page


def test_a_good_poll_clears_the_last_error_from_the_channel(
    sim: MiraklSimulator, darty: Channel
) -> None:
    sim.faults.add("error500", path="/api/inbox/threads$", times=5)
    poll(darty)
    assert "server error 500" in darty.last_error
    assert darty.last_error_at is not None

    poll(darty)

    assert (darty.last_error, darty.last_error_at, darty.failure_count) == ("", None, 0)
    assert darty.last_sync_at is not None


def test_a_long_retry_after_holds_the_channels_next_poll(
    sim: MiraklSimulator, darty: Channel, clock: list[datetime], sleeps: list[float]
) -> None:
    sim.faults.add("rate_limit", path="/api/inbox/threads$", retry_after=300)
    poll(darty)
    assert "rate limited" in darty.last_error
    assert sleeps == []  # too long to wait inside the poll

    clock[0] += timedelta(seconds=61)
    assert poll_channels.call() == 0  # the next scheduled poll waits as asked
    clock[0] += timedelta(seconds=240)
    assert poll_channels.call() == 1

    poll(darty)
    assert darty.poll_after is None
    assert poll_channels.call() == 1


@pytest.fixture
def amazon_sim() -> Iterator[AmazonSimulator]:
    simulator = AmazonSimulator(seed=4)
    with simulator:
        yield simulator


def amazon_settings(sim: AmazonSimulator, url: str) -> dict[str, Any]:
    return {
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "refresh_token": sim.refresh_token,
        "seller_id": sim.seller_id,
        "marketplace_id": sim.marketplace_id,
        "shop_name": "Maison Lumière",
        "endpoint": url,
        "token_url": f"{url}/auth/o2/token",
        "timeout_seconds": 2,
    }


def test_a_channel_read_only_for_orders_is_escalated_by_its_lookups(
    shop: Shop,
    team: Any,
    amazon_sim: AmazonSimulator,
    owner: User,
    clock: list[datetime],
    sleeps: list[float],
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http, "_buckets", {})
    monkeypatch.setattr(amazon_connector, "_tokens", {})
    api = Channel(shop=shop, kind="amazon", marketplace="amazon", name="Amazon SP-API", team=team)
    api.set_settings(amazon_settings(amazon_sim, f"http://127.0.0.1:{closed_port()}"))
    api.save()
    order_id = "171-1234567-1234567"
    amazon_sim.add_order(order_id)

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):  # no poll watches it: its order look-ups do
            assert sync_orders.call(api.pk, [order_id]).startswith("failed")
            clock[0] += timedelta(minutes=3)
    run_notification_tasks()
    api.refresh_from_db()

    assert api.health == "failing"
    assert [m.to for m in mailoutbox] == [["owner@maison-lumiere.fr"]]

    api.set_settings(amazon_settings(amazon_sim, amazon_sim.url))
    api.save()
    assert sync_orders.call(api.pk, [order_id]) == "1 stored, 0 unknown to the marketplace"
    api.refresh_from_db()
    assert (api.health, api.last_error) == ("working", "")
