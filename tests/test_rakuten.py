"""Rakuten France: the connector against its local simulator, with the real database."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.connectors.base import ConnectorError, OutboundMessage
from comptoir.connectors.rakuten.connector import RakutenConnector, parse_xml
from comptoir.connectors.rakuten.simulator import RakutenSimulator
from comptoir.inbox import actions, tasks
from comptoir.inbox.actions import NewAttachment
from comptoir.inbox.models import (
    Channel,
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Shop,
)
from comptoir.inbox.tasks import poll_channel, send_message, sweep_stuck_sends
from comptoir.lib import http
from comptoir.orders.actions import store_order
from tests.fault_support import (
    Killed,
    poll_killed_after,
    reply_to_waiting,
    send_all_queued,
)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    return waits


@pytest.fixture(scope="module")
def server() -> Iterator[RakutenSimulator]:
    simulator = RakutenSimulator(seed=11, page_size=4).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim(server: RakutenSimulator) -> RakutenSimulator:
    server.reset()
    server.faults.hang_seconds = 1.4
    return server


def make_channel(shop: Shop, team: Any, sim: RakutenSimulator, **settings: Any) -> Channel:
    channel = Channel(
        shop=shop, kind="rakuten", marketplace="rakuten", name="Rakuten France", team=team
    )
    channel.set_settings(
        {
            "login": sim.login,
            "token": sim.token,
            "base_url": sim.url,
            "timeout_seconds": 1.0,
            **settings,
        }
    )
    channel.save()
    return channel


@pytest.fixture
def rakuten(shop: Shop, team: Any, sim: RakutenSimulator, slept: list[float]) -> Channel:
    return make_channel(shop, team, sim)


def reload(channel: Channel) -> Channel:
    return Channel.objects.get(pk=channel.pk)


def connector(channel: Channel) -> RakutenConnector:
    return RakutenConnector(reload(channel))


def outbound_for(message: Message) -> OutboundMessage:
    return tasks._outbound(Message.objects.select_related("conversation").get(pk=message.pk))


# -- reading ----------------------------------------------------------------------------------


def test_a_buyer_message_is_a_conversation_with_the_buyer_the_order_and_needs_reply(
    rakuten: Channel, sim: RakutenSimulator
) -> None:
    sale = sim.add_sale(buyer="jeanne75", purchaseid="943796258")
    message_id = sim.buyer_writes(order_id="943796258", text="Bonjour, où est mon colis ?")

    assert poll_channel.call(rakuten.pk) == 1

    conv = Conversation.objects.get(channel=rakuten)
    assert conv.external_thread_id == sale.items[0].itemid
    assert conv.order_number == "943796258"
    assert conv.needs_reply is True
    assert conv.subject == sale.items[0].headline
    assert conv.customer is not None
    assert conv.customer.name == "jeanne75"
    message = Message.objects.get(conversation=conv)
    assert (message.external_id, message.direction) == (message_id, Direction.IN)
    assert message.text == "Bonjour, où est mon colis ?"
    assert reload(rakuten).is_healthy
    assert sim.violations == []


def test_a_claim_is_read_with_its_type_and_the_seller_answer_is_outbound(
    rakuten: Channel, sim: RakutenSimulator
) -> None:
    sale = sim.add_sale(buyer="paul")
    item = sale.items[0].itemid
    sim.open_claim(item, type="DAMAGED", comment="Article abîmé, pouvez-vous le remplacer ?")
    sim.buyer_writes(item_id=item, text="Merci d'avance")
    messages = list(connector(rakuten).fetch({"synced": True}))

    claim = next(m for m in messages if m.meta.get("claim"))
    assert claim.meta["claim_type"] == "DAMAGED"
    assert claim.text == "Article abîmé, pouvez-vous le remplacer ?"
    assert all(m.needs_reply for m in messages)
    assert {m.thread_id for m in messages} == {item}
    assert {m.external_id for m in messages} == set(sim.message_ids())


def test_customer_service_mails_are_shown_without_asking_for_a_reply(
    rakuten: Channel, sim: RakutenSimulator
) -> None:
    sale = sim.add_sale(buyer="paul")
    item = sale.items[0].itemid
    poll_channel.call(rakuten.pk)
    assert connector(rakuten).todo_list() == {}
    mail = sim.service_writes(item, text="L'acheteur dit ne pas avoir reçu son colis.")
    assert connector(rakuten).todo_list() == {item: ["UNREAD_MESSAGE_FROM_CUSTOMER_SERVICE"]}

    poll_channel.call(rakuten.pk)

    message = Message.objects.get(channel=rakuten, external_id=mail)
    assert message.is_auto
    assert message.text == "L'acheteur dit ne pas avoir reçu son colis."
    assert message.conversation.external_thread_id == item
    assert message.conversation.needs_reply is False
    assert connector(rakuten).todo_list() == {}


def test_the_demo_shop_is_the_same_for_the_same_seed() -> None:
    now = timezone.now()
    first = RakutenSimulator(seed=5, clock=lambda: now)
    second = RakutenSimulator(seed=5, clock=lambda: now)
    ids = first.populate(sales=6, messages=9)

    assert second.populate(sales=6, messages=9) == ids
    assert [s.items[0].price for s in first.sales.values()] == [
        s.items[0].price for s in second.sales.values()
    ]
    assert len(set(first.message_ids())) == 9 + 1  # the questions and a claim


def test_sales_are_followed_page_after_page_on_the_first_sync(
    rakuten: Channel, sim: RakutenSimulator
) -> None:
    sales = [sim.add_sale(buyer=f"buyer{n}") for n in range(11)]  # three pages of four
    sim.buyer_writes(item_id=sales[-1].items[0].itemid, text="Le dernier de la liste")
    sim.buyer_writes(item_id=sales[0].items[0].itemid, text="Le premier")

    poll_channel.call(rakuten.pk)

    assert sim.calls["GET /sales_ws/getcurrentsales"] == 3
    # The first sync reads every item of the recent sales, not only the todo list's.
    assert sim.calls["GET /sales_ws/getiteminfos"] == 11
    by_order = dict(
        Conversation.objects.filter(channel=rakuten).values_list("order_number", "subject")
    )
    assert set(by_order) == {sales[0].purchaseid, sales[-1].purchaseid}
    assert reload(rakuten).cursor["synced"] is True
    assert reload(rakuten).cursor["pending"] == {}


def test_an_incremental_poll_reads_only_the_items_with_news(
    rakuten: Channel, sim: RakutenSimulator
) -> None:
    sales = [sim.add_sale() for _ in range(5)]
    for sale in sales:
        sim.buyer_writes(item_id=sale.items[0].itemid, text=f"Question {sale.purchaseid}")
    poll_channel.call(rakuten.pk)
    assert Message.objects.filter(channel=rakuten).count() == 5
    reads = sim.calls["GET /sales_ws/getiteminfos"]

    assert poll_channel.call(rakuten.pk) == 0  # nothing new, nothing read
    assert sim.calls["GET /sales_ws/getiteminfos"] == reads

    new = sim.buyer_writes(item_id=sales[2].items[0].itemid, text="Et alors ?")
    poll_channel.call(rakuten.pk)
    assert sim.calls["GET /sales_ws/getiteminfos"] == reads + 1
    assert Message.objects.filter(channel=rakuten).count() == 6
    assert Message.objects.filter(channel=rakuten, external_id=new).exists()


def test_a_full_resync_from_an_empty_cursor_duplicates_nothing(
    rakuten: Channel, sim: RakutenSimulator
) -> None:
    for n in range(3):
        sim.buyer_writes(text=f"Message {n}")
    poll_channel.call(rakuten.pk)
    Channel.objects.filter(pk=rakuten.pk).update(cursor={})

    poll_channel.call(rakuten.pk)
    assert sim.calls["GET /sales_ws/getiteminfos"] == 6  # read again, stored once
    assert Message.objects.filter(channel=rakuten).count() == 3


def test_a_worker_killed_mid_poll_loses_no_message_the_todo_list_has_dropped(
    rakuten: Channel, sim: RakutenSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    poll_channel.call(rakuten.pk)
    ids = [sim.buyer_writes(text=f"Question {n}") for n in range(6)]
    poll_killed_after(monkeypatch, rakuten, 2)
    # The three items read before the kill are off the todo list, their messages unstored.
    assert len(connector(rakuten).todo_list()) == 3
    assert not Message.objects.filter(channel=rakuten).exists()
    poll_channel.call(rakuten.pk)

    stored = set(Message.objects.filter(channel=rakuten).values_list("external_id", flat=True))
    assert stored == set(ids)


# -- errors -----------------------------------------------------------------------------------


def test_test_connection_names_the_shop(rakuten: Channel, sim: RakutenSimulator) -> None:
    assert connector(rakuten).test_connection().startswith(f"connected as shop {sim.login}")


def test_500s_and_429s_are_retried_honouring_retry_after(
    rakuten: Channel, sim: RakutenSimulator, slept: list[float]
) -> None:
    sim.buyer_writes(text="Bonjour")
    sim.faults.add("error500", path="getitemtodolist", times=2)
    sim.faults.add("rate_limit", path="getiteminfos", retry_after=7)

    poll_channel.call(rakuten.pk)
    assert Message.objects.filter(channel=rakuten).count() == 1
    assert 7.0 in slept
    assert sim.calls["GET /sales_ws/getitemtodolist"] == 3
    assert reload(rakuten).is_healthy


def test_a_bad_token_marks_the_channel_unhealthy_with_a_readable_error(
    shop: Shop, team: Any, sim: RakutenSimulator, slept: list[float]
) -> None:
    channel = make_channel(shop, team, sim, token="wrong")

    assert poll_channel.call(channel.pk) == 0

    channel = reload(channel)
    assert not channel.is_healthy
    assert "refused the login 'maison-lumiere' (HTTP 401: Invalid login or token.)" in (
        channel.last_error
    )
    assert "wrong" not in channel.last_error
    with pytest.raises(ConnectorError) as error:
        connector(channel).test_connection()
    assert error.value.permanent


def test_a_401_from_the_service_is_permanent_there_is_no_token_to_refresh(
    rakuten: Channel, sim: RakutenSimulator
) -> None:
    sim.faults.add("expired_token", path="getitemtodolist")
    poll_channel.call(rakuten.pk)
    assert not reload(rakuten).is_healthy
    assert "check the login and the web-services token" in reload(rakuten).last_error


def test_missing_settings_say_what_is_missing(shop: Shop, team: Any) -> None:
    channel = Channel.objects.create(shop=shop, kind="rakuten", name="Rakuten France", team=team)

    assert poll_channel.call(channel.pk) == 0

    channel = reload(channel)
    assert not channel.is_healthy
    assert "settings are incomplete or wrong (login: Field required; token: Field required)" in (
        channel.last_error
    )


def test_past_the_hourly_quota_the_poll_waits_and_the_channel_stays_healthy(
    rakuten: Channel, sim: RakutenSimulator
) -> None:
    sim.buyer_writes(text="Bonjour")
    sim.quota = 2  # the sales and the todo list, then refused

    assert poll_channel.call(rakuten.pk) == 0
    channel = reload(rakuten)
    assert channel.is_healthy
    assert "Quota exceeded. (hourly call quota); trying again later" in channel.last_error

    sim.quota = None
    poll_channel.call(rakuten.pk)
    assert Message.objects.filter(channel=rakuten).count() == 1


def test_a_wrong_parameter_is_caught_by_the_simulator(
    rakuten: Channel, sim: RakutenSimulator
) -> None:
    client = connector(rakuten)
    with pytest.raises(ConnectorError) as error:
        client.call("getiteminfos", {"itemid": "abc"})
    assert error.value.permanent
    assert error.value.status == 400
    with pytest.raises(ConnectorError):
        client.call("getitemtodolist", {"itemid": "1"})
    assert sim.violations == [
        "itemid must be a number, got 'abc'",
        "getitemtodolist: unknown parameter 'itemid'",
    ]


def test_xml_with_a_doctype_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>'
    with pytest.raises(ConnectorError, match="DOCTYPE"):
        parse_xml(bomb, "getitemtodolist")
    ok = parse_xml(b'<r xmlns="http://x"><a>1</a></r>', "getitemtodolist")
    assert ok.findtext("a") == "1"


# -- sending ----------------------------------------------------------------------------------


@pytest.fixture
def conv(rakuten: Channel, sim: RakutenSimulator) -> Conversation:
    sim.buyer_writes(order_id="943796258", text="Bonjour, où est mon colis ?", buyer="jeanne75")
    poll_channel.call(rakuten.pk)
    return Conversation.objects.get(channel=rakuten)


def test_a_reply_reaches_the_buyer_once_and_its_id_is_the_fetched_one(
    conv: Conversation, agent: User, rakuten: Channel, sim: RakutenSimulator
) -> None:
    reply = actions.reply(conv, actor=agent, text="Il part demain. Bonne journée !")

    assert send_message.call(reply.pk) == "sent"

    assert sim.seller_messages() == [(conv.external_thread_id, reply.text)]
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert reply.external_id in sim.message_ids()
    # The buyer answers: the poll brings our reply back too, as the same message.
    sim.buyer_writes(item_id=conv.external_thread_id, text="Merci !")
    poll_channel.call(rakuten.pk)
    assert Message.objects.filter(conversation=conv).count() == 3
    assert sim.violations == []


def test_limits_are_refused_before_anything_is_sent(
    conv: Conversation, agent: User, sim: RakutenSimulator
) -> None:
    photo = NewAttachment("photo.jpg", "image/jpeg", b"\xff\xd8jpeg")
    with_photo = actions.reply(conv, actor=agent, text="Voici la photo", attachments=[photo])
    too_long = actions.reply(conv, actor=agent, text="x" * 4001)

    assert send_message.call(with_photo.pk).startswith("failed")
    assert send_message.call(too_long.pk).startswith("failed")

    with_photo.refresh_from_db()
    too_long.refresh_from_db()
    assert with_photo.delivery_state == DeliveryState.FAILED
    assert "cannot carry attachments" in with_photo.delivery_error
    assert "4001 characters long; Rakuten France takes at most 4000" in too_long.delivery_error
    assert sim.calls["GET /sales_ws/contactuseraboutitem"] == 0
    assert sim.seller_messages() == []


def test_a_reply_whose_answer_was_lost_is_delivered_exactly_once(
    conv: Conversation, agent: User, sim: RakutenSimulator
) -> None:
    reply = actions.reply(conv, actor=agent, text="Votre colis arrive demain.")
    sim.faults.add("lose_response", path="contactuseraboutitem")

    assert send_message.call(reply.pk).startswith("failed")
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.QUEUED
    assert send_message.call(reply.pk) == "sent"

    assert sim.seller_messages() == [(conv.external_thread_id, "Votre colis arrive demain.")]
    assert sim.calls["GET /sales_ws/contactuseraboutitem"] == 1
    reply.refresh_from_db()
    assert reply.external_id in sim.message_ids()


def test_a_buyer_message_read_while_sending_is_stored_not_lost(
    conv: Conversation, agent: User, rakuten: Channel, sim: RakutenSimulator
) -> None:
    late = sim.buyer_writes(item_id=conv.external_thread_id, text="Vous êtes là ?")
    reply = actions.reply(conv, actor=agent, text="Oui, il est parti.")

    assert send_message.call(reply.pk) == "sent"

    assert connector(rakuten).todo_list() == {}  # the send read the item
    assert Message.objects.filter(conversation=conv, external_id=late).exists()


def test_find_sent_skips_a_message_another_reply_already_claims(
    conv: Conversation, agent: User, sim: RakutenSimulator
) -> None:
    first = actions.reply(conv, actor=agent, text="Merci")
    assert send_message.call(first.pk) == "sent"
    second = actions.reply(conv, actor=agent, text="Merci")

    assert connector(conv.channel).find_sent(outbound_for(second)) is None

    assert send_message.call(second.pk) == "sent"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.external_id != second.external_id
    assert sorted([first.external_id, second.external_id]) == sorted(sim.message_ids()[1:])


# -- orders -----------------------------------------------------------------------------------


def test_fetch_order_reads_the_sale(rakuten: Channel, sim: RakutenSimulator) -> None:
    for _ in range(6):
        sim.add_sale()
    sale = sim.add_sale(buyer="jeanne75", items=2, shippingtype="Mondial Relay")

    order = connector(rakuten).fetch_order(sale.purchaseid)

    assert order is not None
    assert order.external_id == sale.purchaseid
    assert order.status == "accepted"
    assert [i.sku for i in order.items] == [i.sku for i in sale.items]
    assert order.total == str(sum(i.price for i in sale.items))
    assert order.carrier == "Mondial Relay"
    assert order.buyer is not None
    assert order.buyer.identity_value == "jeanne75"
    assert store_order(rakuten, order).external_id == sale.purchaseid
    assert connector(rakuten).fetch_order("1") is None


def test_many_orders_are_read_in_one_walk_of_the_sales(
    rakuten: Channel, sim: RakutenSimulator
) -> None:
    sales = [sim.add_sale() for _ in range(12)]
    list(connector(rakuten).current_sales())
    one_walk = sim.calls["GET /sales_ws/getcurrentsales"]

    found = connector(rakuten).fetch_orders([s.purchaseid for s in sales[:5]] + ["1"])

    assert sorted(found) == sorted(s.purchaseid for s in sales[:5])
    # One walk of the pages for the five, not one per order.
    assert sim.calls["GET /sales_ws/getcurrentsales"] - one_walk <= one_walk < 5


# -- the proof --------------------------------------------------------------------------------


def test_fault_injection_everything_arrives_once_and_every_reply_once(
    shop: Shop,
    team: Any,
    agent: User,
    slept: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = RakutenSimulator(seed=2026, page_size=25)
    sim.faults.hang_seconds = 0.8
    sim.faults.retry_after = 0.5
    with sim:
        channel = make_channel(shop, team, sim, timeout_seconds=0.5)
        rng = random.Random(7)
        sales = [sim.add_sale(items=rng.choice([1, 1, 2])) for _ in range(150)]
        items = [item.itemid for sale in sales for item in sale.items]
        sim.faults.rates.update(
            {
                "error500": 0.04,
                "rate_limit": 0.04,
                "timeout": 0.01,
                "lose_response": 0.04,
                "duplicate_page": 0.2,
                "reorder_page": 0.2,
            }
        )
        replies: list[str] = []
        for round_ in range(10):
            for n in range(100):
                sim.buyer_writes(item_id=rng.choice(items), text=f"r{round_} m{n}: où en est-on ?")
            sim.service_writes(rng.choice(items), text=f"Service client, tour {round_}")
            sim.open_claim(items[round_], comment=f"Article abîmé ({round_})")
            if round_ in (2, 6):
                poll_killed_after(monkeypatch, channel, 37 + round_)
            poll_channel.call(channel.pk)
            reply_to_waiting(channel, agent, replies, round_, most=25)
            if round_ == 4:
                kill_next_send(monkeypatch)
            send_all_queued(channel)

        # Until quiet: polls, sends, and the sweep of sends a dead worker left.
        sim.faults.rates.update({"timeout": 0.0})
        swept = 0
        for _ in range(40):
            Message.objects.filter(delivery_state=DeliveryState.SENDING).update(
                delivery_claimed_at=timezone.now() - timedelta(hours=1)
            )
            swept += sweep_stuck_sends.call()
            send_all_queued(channel)
            poll_channel.call(channel.pk)
            unsent = Message.objects.filter(
                channel=channel, delivery_state__in=[DeliveryState.QUEUED, DeliveryState.SENDING]
            )
            quiet = not unsent.exists() and not reload(channel).cursor.get("pending")
            if quiet and not connector(channel).todo_list():
                break
        sim.faults.clear()
        poll_channel.call(channel.pk)

        stored = list(Message.objects.filter(channel=channel).values_list("external_id", flat=True))
        expected = sim.message_ids()
        assert len(expected) == 1000 + 10 + 10 + len(replies)
        assert Counter(stored) == Counter(expected)
        sent = Counter(text for _, text in sim.seller_messages())
        assert sent == Counter(replies)
        assert not Message.objects.filter(channel=channel, direction=Direction.OUT).exclude(
            delivery_state=DeliveryState.SENT
        )
        assert swept == 1  # the send whose worker died, found there rather than sent again
        assert sum(sim.faults.injected.values()) > 100
        assert sim.violations == []


def kill_next_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies right after the marketplace took the message: it stays "sending"."""
    real = RakutenConnector.call
    state = {"armed": True}

    def dying(self: RakutenConnector, action: str, *args: Any, **kwargs: Any) -> Any:
        result = real(self, action, *args, **kwargs)
        if action == "contactuseraboutitem" and state["armed"]:
            state["armed"] = False
            monkeypatch.setattr(RakutenConnector, "call", real)
            raise Killed
        return result

    monkeypatch.setattr(RakutenConnector, "call", dying)
