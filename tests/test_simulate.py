"""The demo's simulated marketplaces, and orders fetched for the conversations that name them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from comptoir.connectors.demo import demo_for
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.demo.buyers import Buyers
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.inbox.tasks import poll_channel
from comptoir.lib import http
from comptoir.orders.models import Order
from comptoir.orders.tasks import refresh_open_orders, sync_order

POLL = "comptoir.inbox.tasks.poll_channel"
SYNC_ORDERS = "comptoir.orders.tasks.sync_orders"


@pytest.fixture
def darty(shop: Shop, team: Any, monkeypatch: pytest.MonkeyPatch) -> Channel:
    monkeypatch.setattr(http, "sleep", lambda seconds: None)
    return Channel.objects.create(
        shop=shop, kind="mirakl", marketplace="darty", name="Darty via Mirakl", team=team
    )


@pytest.fixture
def market(darty: Channel) -> Iterator[Any]:
    simulated = demo_for(darty, seed=3)
    assert simulated is not None
    simulated.simulator.start()
    darty.set_settings(simulated.settings())
    darty.save()
    yield simulated
    simulated.simulator.stop()


def test_demo_buyers_write_new_questions_and_follow_ups() -> None:
    buyers = Buyers("DRT", seed=5)
    written = [buyers.write() for _ in range(40)]

    assert all(w.text and w.subject and w.order_id.startswith("DRT-") for w in written)
    assert any(w.follow_up for w in written)
    follow = next(w for w in written if w.follow_up)
    assert follow.order_id in {w.order_id for w in written if not w.follow_up}


def test_a_simulated_buyer_message_arrives_and_its_order_is_fetched(
    darty: Channel, market: Any, django_capture_on_commit_callbacks: Any
) -> None:
    written = Buyers("DRT", seed=1).write()
    market.buyer_writes(written)

    with django_capture_on_commit_callbacks(execute=True):
        poll_channel.call(darty.pk)

    conv = Conversation.objects.get()
    assert conv.order_number == written.order_id
    (task,) = DBTaskResult.objects.filter(task_path=SYNC_ORDERS)
    assert task.args_kwargs["args"] == [darty.pk, [written.order_id]]
    assert sync_order.call(darty.pk, written.order_id) == "stored"
    conv.refresh_from_db()
    assert conv.order is not None
    assert conv.order.items[0]["title"] == "Lampe"


def test_open_conversations_get_their_orders_refreshed(
    darty: Channel, market: Any, django_capture_on_commit_callbacks: Any
) -> None:
    market.buyer_writes(Buyers("DRT", seed=2).write())
    poll_channel.call(darty.pk)
    conv = Conversation.objects.get()
    sync_order.call(darty.pk, conv.order_number)
    assert refresh_open_orders.call() == 0  # just read: fresh

    Order.objects.update(synced_at=None)
    assert refresh_open_orders.call() == 1

    assert sync_order.call(darty.pk, "UNKNOWN-1") == "unknown to the marketplace"


def test_simulate_points_each_marketplace_channel_at_its_simulator(
    darty: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    real = Channel.objects.create(shop=darty.shop, kind="fnac", name="Fnac, set up for real")
    real.set_settings({"partner_id": "x", "shop_id": "y", "key": "secret"})
    real.save()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("simulate", messages=3, every=0, verbosity=0)

    darty.refresh_from_db()
    assert darty.get_settings()["base_url"].startswith("http://127.0.0.1:")
    assert darty.get_settings()["simulated"] is True
    assert darty.is_healthy
    polls = DBTaskResult.objects.filter(task_path=POLL)
    assert [p.args_kwargs["args"] for p in polls] == [[darty.pk]] * 3
    real.refresh_from_db()
    assert real.get_settings()["key"] == "secret"  # a channel set up for real is left alone


def test_the_simulator_is_a_real_mirakl_for_the_connector(market: Any) -> None:
    assert isinstance(market.simulator, MiraklSimulator)
    assert market.settings()["api_key"] in market.simulator.api_keys


@pytest.mark.parametrize(
    ("kind", "marketplace"),
    [
        ("mirakl", "darty"),
        ("ebay", "ebay"),
        ("cdiscount", "cdiscount"),
        ("fnac", "fnac"),
        ("rakuten", "rakuten"),
        ("email", "amazon"),  # Amazon's relay to the shop's mailbox
        ("email", "spartoo"),  # Spartoo's mail about its buyers' messages
        ("email", "shop"),
    ],
)
def test_each_demo_marketplace_brings_buyers_in_and_takes_answers_out(
    kind: str,
    marketplace: str,
    shop: Shop,
    team: Any,
    agent: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from comptoir.inbox import actions
    from comptoir.inbox.models import DeliveryState
    from comptoir.inbox.tasks import send_message

    monkeypatch.setattr(http, "sleep", lambda seconds: None)
    channel = Channel.objects.create(
        shop=shop, kind=kind, marketplace=marketplace, name=kind, team=team
    )
    market = demo_for(channel, seed=4)
    assert market is not None
    market.simulator.start()
    try:
        channel.set_settings(market.settings())
        channel.save()
        buyers = Buyers(kind[:3].upper(), seed=4)
        for _ in range(3):
            market.buyer_writes(buyers.write())

        poll_channel.call(channel.pk)

        channel.refresh_from_db()
        assert channel.is_healthy, channel.last_error
        conv = Conversation.objects.filter(channel=channel).order_by("id").first()
        assert conv is not None
        assert conv.needs_reply
        if marketplace == "amazon":  # the relay: tagged, and the Amazon order recognised
            assert [tag.name for tag in conv.tags.all()] == ["amazon"]
            assert len(conv.order_number) == 19
        if marketplace == "spartoo":  # Spartoo's wrapping off, the order from the mail
            assert [tag.name for tag in conv.tags.all()] == ["spartoo"]
            assert len(conv.order_number) == 8
            assert not conv.messages.filter(text__contains="Spartoo Marketplace").exists()
        reply = actions.reply(conv, actor=agent, text="Merci, nous regardons cela.")
        send_message.call(reply.pk)
        reply.refresh_from_db()
        assert reply.delivery_state == DeliveryState.SENT, reply.delivery_error
        assert market.simulator.violations == []
        if kind == "email":  # the answer left by the mailbox's SMTP server
            assert len(market.simulator.received) == 1
    finally:
        market.simulator.stop()


def test_an_amazon_mail_gets_its_order_from_the_shops_amazon_api_channel(
    shop: Shop, team: Any, make_inbound: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from comptoir.inbox.ingest import ingest

    mailbox = Channel.objects.create(
        shop=shop, kind="email", marketplace="amazon", name="Amazon FR mailbox", team=team
    )
    api = Channel.objects.create(shop=shop, kind="amazon", marketplace="amazon", name="SP-API")
    Channel.objects.create(shop=shop, kind="email", marketplace="shop", name="Own mailbox")

    with django_capture_on_commit_callbacks(execute=True):
        ingest(make_inbound(channel_id=mailbox.pk, order_number="171-1234567-1234567"))

    (task,) = DBTaskResult.objects.filter(task_path=SYNC_ORDERS)
    assert task.args_kwargs["args"] == [api.pk, ["171-1234567-1234567"]]
