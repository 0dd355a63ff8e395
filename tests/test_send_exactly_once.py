"""One test for every marketplace connector's send path, against its simulator: a reply whose
text equals earlier shop messages in the thread reaches the buyer exactly once, and shows as
sent as the right message with the right date, whatever goes wrong on the way (a 500 after the
marketplace stored it, a marketplace slower than the client's timeout, a worker killed while
the request is in flight). And a marketplace's refusal of one reply fails that reply only.

Each `Market` drives one simulator the same way: a buyer writes, the shop has already written
the same template twice (10 minutes ago, imported; 2 hours ago, not yet imported), and the
agent answers with that template again. Time passes by `settle_time_passes`, never by waiting.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
from django.utils import timezone

from comptoir.accounts.models import Team, User
from comptoir.connectors import registry
from comptoir.connectors.base import CLOCK_SKEW, Connector, OutboundMessage, SentCandidate
from comptoir.connectors.cdiscount.simulator import CdiscountSimulator
from comptoir.connectors.ebay import connector as ebay_connector
from comptoir.connectors.ebay.simulator import EbaySimulator
from comptoir.connectors.fnac import connector as fnac_connector
from comptoir.connectors.fnac import simulator as fnac_simulator
from comptoir.connectors.fnac.simulator import FnacSimulator
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.connectors.rakuten.common import PARIS
from comptoir.connectors.rakuten.simulator import RakutenSimulator
from comptoir.connectors.rakuten.simulator import SimMessage as RakutenMessage
from comptoir.connectors.simulator import Simulator
from comptoir.inbox import actions
from comptoir.inbox.models import (
    Channel,
    Conversation,
    DeliveryState,
    Event,
    EventKind,
    Message,
    Shop,
)
from comptoir.inbox.tasks import poll_channel, send_message, sweep_stuck_sends
from tests.fault_support import Killed
from tests.send_support import settle_time_passes

TEMPLATE = "Merci pour votre message, nous revenons vers vous très vite."
# The simulators hold a "slow" request longer than this; 0.3 s timed out plain requests under load.
CLIENT_TIMEOUT = 1.0  # seconds
SLOW = 1.4


class Market(ABC):
    """What the test needs of one marketplace's simulator."""

    kind: ClassVar[str]
    reply_request: ClassVar[tuple[str, str]]  # method and path regex of the posted reply
    sim: Any

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    @classmethod
    @abstractmethod
    def simulator(cls) -> Simulator: ...

    @abstractmethod
    def settings(self) -> dict[str, Any]: ...

    @abstractmethod
    def buyer_writes(self, text: str, conv: Conversation | None = None) -> None:
        """A buyer message: a new thread, or in `conv`'s."""

    @abstractmethod
    def shop_wrote(self, conv: Conversation, text: str, at: datetime) -> str:
        """The shop wrote `text` in the thread outside this reply (the marketplace's back
        office, an earlier answer), dated `at`; returns its id as the connector reads it."""

    @abstractmethod
    def copies(self, conv: Conversation, text: str) -> list[tuple[str, datetime]]:
        """The shop's messages with this text in the thread: (id as the connector reads it,
        the marketplace's date)."""

    @abstractmethod
    def forget_thread(self, conv: Conversation) -> None:
        """The marketplace no longer knows the thread (or the message it answers)."""


class Mirakl(Market):
    kind = "mirakl"
    reply_request = ("POST", r"/message$")
    sim: MiraklSimulator

    @classmethod
    def simulator(cls) -> Simulator:
        return MiraklSimulator(seed=7)

    def settings(self) -> dict[str, Any]:
        return {"base_url": self.sim.url, "api_key": "sim-key", "shop_id": self.sim.shop_id}

    def buyer_writes(self, text: str, conv: Conversation | None = None) -> None:
        if conv is None:
            self.sim.buyer_writes(text, order_id="DRT-1")
        else:
            self.sim.buyer_writes(text, thread_id=conv.external_thread_id)

    def shop_wrote(self, conv: Conversation, text: str, at: datetime) -> str:
        return self.sim.seller_writes(conv.external_thread_id, text, at=at)

    def copies(self, conv: Conversation, text: str) -> list[tuple[str, datetime]]:
        return [
            (m.id, m.date_created)
            for thread_id, m in self.sim.seller_messages()
            if thread_id == conv.external_thread_id and m.body == text
        ]

    def forget_thread(self, conv: Conversation) -> None:
        del self.sim.threads[conv.external_thread_id]


class Cdiscount(Market):
    kind = "cdiscount"
    reply_request = ("POST", r"/discussions/[^/]+/messages$")
    sim: CdiscountSimulator

    @classmethod
    def simulator(cls) -> Simulator:
        return CdiscountSimulator(seed=7)

    def settings(self) -> dict[str, Any]:
        return {
            "client_id": self.sim.client_id,
            "client_secret": self.sim.client_secret,
            "seller_id": self.sim.seller_id,
            "base_url": f"{self.sim.url}/seller/v2",
            "auth_url": self.sim.url,
        }

    def buyer_writes(self, text: str, conv: Conversation | None = None) -> None:
        if conv is None:
            self.sim.buyer_writes(order_id="S1", text=text)
        else:
            self.sim.buyer_writes(order_id="S1", text=text, discussion_id=conv.external_thread_id)

    def shop_wrote(self, conv: Conversation, text: str, at: datetime) -> str:
        message_id = self.sim.seller_writes_on_portal(conv.external_thread_id, text)
        with self.sim.lock:
            (message,) = [m for m in self.sim.all_messages() if m.message_id == message_id]
            message.created_at = at
        return message_id

    def copies(self, conv: Conversation, text: str) -> list[tuple[str, datetime]]:
        return [
            (m.message_id, m.created_at)
            for m in self.sim.seller_messages()
            if m.discussion_id == conv.external_thread_id and m.body == text
        ]

    def forget_thread(self, conv: Conversation) -> None:
        del self.sim.discussions[conv.external_thread_id]


class Fnac(Market):
    kind = "fnac"
    reply_request = ("POST", r"messages_update$")
    sim: FnacSimulator

    @classmethod
    def simulator(cls) -> Simulator:
        fnac_connector.forget_tokens()
        sim = FnacSimulator(seed=11)
        sim.catch_up()  # buyers write now, not on the backlog's clock
        return sim

    def settings(self) -> dict[str, Any]:
        return {
            "partner_id": self.sim.partner_id,
            "shop_id": self.sim.shop_id,
            "key": self.sim.key,
            "base_url": self.sim.base_url,
        }

    def buyer_writes(self, text: str, conv: Conversation | None = None) -> None:
        self.sim.catch_up()
        self.sim.buyer_writes(order_id=self._order(conv) if conv else "FNAC00000001A", text=text)

    def _order(self, conv: Conversation) -> str:
        return conv.external_thread_id.partition(":")[2]

    def shop_wrote(self, conv: Conversation, text: str, at: datetime) -> str:
        with self.sim.lock:
            message = fnac_simulator.SimMessage(
                message_id=self.sim.new_id(),
                referer_type="ORDER",
                referer=self._order(conv),
                from_type="SELLER",
                from_name="Maison Lumière",
                subject="order_information",
                description=text,
                created_at=at,
                updated_at=at,
                state="READ",
                to="CLIENT",
            )
            self.sim.messages.append(message)
        return message.message_id

    def copies(self, conv: Conversation, text: str) -> list[tuple[str, datetime]]:
        return [
            (m.message_id, m.created_at)
            for m in self.sim.seller_messages()
            if m.referer == self._order(conv) and m.description == text
        ]

    def forget_thread(self, conv: Conversation) -> None:
        with self.sim.lock:
            self.sim.messages[:] = [m for m in self.sim.messages if m.referer != self._order(conv)]


class Ebay(Market):
    kind = "ebay"
    reply_request = ("POST", r"/send_message$")
    sim: EbaySimulator

    @classmethod
    def simulator(cls) -> Simulator:
        ebay_connector._tokens.clear()
        return EbaySimulator(seed=11)

    def settings(self) -> dict[str, Any]:
        return {
            "client_id": self.sim.client_id,
            "client_secret": self.sim.client_secret,
            "refresh_token": self.sim.refresh_token,
            "api_url": self.sim.url,
            "apiz_url": self.sim.url,
            "requests_per_second": 0,
            "claims": False,
        }

    def buyer_writes(self, text: str, conv: Conversation | None = None) -> None:
        self.sim.buyer_writes(text, conversation_id=conv.external_thread_id if conv else "")

    def shop_wrote(self, conv: Conversation, text: str, at: datetime) -> str:
        with self.sim.lock:
            thread = self.sim.conversations[conv.external_thread_id]
            message_id: str = self.sim._add_message(
                thread, self.sim.seller, thread.other_party, text, thread.title, []
            )
            (message,) = [m for m in thread.messages if m.message_id == message_id]
            message.created = at.replace(microsecond=at.microsecond // 1000 * 1000)
        return message_id

    def copies(self, conv: Conversation, text: str) -> list[tuple[str, datetime]]:
        return [
            (m["messageId"], datetime.fromisoformat(m["createdDate"].replace("Z", "+00:00")))
            for m in self.sim.seller_messages(conv.external_thread_id)
            if m["messageBody"] == text
        ]

    def forget_thread(self, conv: Conversation) -> None:
        del self.sim.conversations[conv.external_thread_id]


class Rakuten(Market):
    kind = "rakuten"
    reply_request = ("GET", r"contactuseraboutitem$")
    sim: RakutenSimulator

    @classmethod
    def simulator(cls) -> Simulator:
        return RakutenSimulator(seed=11, page_size=4)

    def settings(self) -> dict[str, Any]:
        return {"login": self.sim.login, "token": self.sim.token, "base_url": self.sim.url}

    def buyer_writes(self, text: str, conv: Conversation | None = None) -> None:
        if conv is None:
            self.sim.buyer_writes(order_id="943796258", text=text, buyer="jeanne75")
        else:
            self.sim.buyer_writes(item_id=conv.external_thread_id, text=text)

    def shop_wrote(self, conv: Conversation, text: str, at: datetime) -> str:
        with self.sim.lock:
            item = self.sim.items[conv.external_thread_id]
            # The service keeps minutes only, in Paris time.
            when = at.astimezone(PARIS).replace(second=0, microsecond=0)
            item.messages.append(RakutenMessage(self.sim.login, "jeanne75", when, text, "SENT"))
            return str(self.sim._id_of(item, len(item.messages) - 1))

    def copies(self, conv: Conversation, text: str) -> list[tuple[str, datetime]]:
        with self.sim.lock:
            item = self.sim.items[conv.external_thread_id]
            return [
                (self.sim._id_of(item, n), m.senddate)
                for n, m in enumerate(item.messages)
                if m.sender == self.sim.login and m.content == text
            ]

    def forget_thread(self, conv: Conversation) -> None:
        del self.sim.items[conv.external_thread_id]


MARKETS = [Mirakl, Cdiscount, Fnac, Ebay, Rakuten]


@pytest.fixture(params=MARKETS, ids=[m.kind for m in MARKETS])
def market(
    request: pytest.FixtureRequest, shop: Shop, team: Team, sleeps: list[float]
) -> Iterator[Market]:
    cls: type[Market] = request.param
    sim = cls.simulator()
    sim.faults.hang_seconds = SLOW
    sim.start()
    channel = Channel(shop=shop, kind=cls.kind, marketplace=cls.kind, name=cls.kind, team=team)
    market = cls(channel)
    market.sim = sim
    channel.set_settings({**market.settings(), "timeout_seconds": CLIENT_TIMEOUT})
    channel.save()
    try:
        yield market
    finally:
        sim.stop()


def poll(market: Market) -> None:
    poll_channel.call(market.channel.pk)


@pytest.fixture
def conv(market: Market) -> Conversation:
    """A buyer asked twice; the shop answered the first time with the template (imported
    since), and once more from the back office long ago (not imported yet)."""
    market.buyer_writes("Bonjour, où en est ma commande ?")
    poll(market)
    conv = Conversation.objects.get(channel=market.channel)
    market.shop_wrote(conv, TEMPLATE, timezone.now() - timedelta(minutes=10))
    market.buyer_writes("Toujours rien reçu…", conv)
    poll(market)
    market.shop_wrote(conv, TEMPLATE, timezone.now() - timedelta(hours=2))
    conv.refresh_from_db()
    assert conv.needs_reply
    return conv


def attempt(message: Message) -> str:
    """The worker runs the message's next attempt, as the queue would."""
    message.refresh_from_db()
    outcome: str = send_message.call(message.pk, attempt=message.delivery_attempts + 1)
    message.refresh_from_db()
    return outcome


def sent_exactly_once(market: Market, conv: Conversation, reply: Message, before: set[str]) -> None:
    """One new copy in the marketplace, and the reply shows as that copy, with its date."""
    new = [(i, at) for i, at in market.copies(conv, TEMPLATE) if i not in before]
    assert len(new) == 1, f"{len(new)} copies of the reply reached the marketplace"
    ((copy_id, copy_at),) = new
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT, reply.delivery_error
    assert reply.external_id == copy_id
    assert reply.sent_at is not None
    # The copy's own date (or, where the answer names none, the moment of sending).
    assert abs(reply.sent_at - copy_at) < timedelta(minutes=1), (reply.sent_at, copy_at)
    # The next poll brings the earlier shop messages in beside it, not in its place.
    poll(market)
    ours = Message.objects.filter(conversation=conv, direction="out", text=TEMPLATE)
    assert reply.pk in set(ours.values_list("pk", flat=True))
    assert ours.count() >= 2
    assert Message.objects.filter(external_id=copy_id).count() == 1
    assert not market.sim.violations


@pytest.mark.parametrize(
    "fault", ["error500_after", "error500", "store_late", "timeout"], ids=lambda f: f
)
def test_a_reply_with_the_text_of_earlier_shop_messages_reaches_the_buyer_once(
    market: Market, conv: Conversation, agent: User, fault: str
) -> None:
    before = {i for i, _ in market.copies(conv, TEMPLATE)}
    assert len(before) == 2
    method, path = market.reply_request
    market.sim.faults.add(fault, method=method, path=path)
    reply = actions.reply(conv, actor=agent, text=TEMPLATE)

    assert attempt(reply).startswith("failed")
    assert reply.delivery_state == DeliveryState.QUEUED
    if fault in ("store_late", "timeout", "error500"):
        # Not there (yet): the retry looks, and does not post while the first may land.
        assert attempt(reply) == "looking"
        assert [i for i, _ in market.copies(conv, TEMPLATE) if i not in before] == []
    if fault == "store_late":
        assert market.sim.run_late() == 1  # the marketplace finishes the first request
    else:
        settle_time_passes()
    attempt(reply)

    sent_exactly_once(market, conv, reply, before)


def test_a_worker_killed_while_the_reply_is_in_flight_sends_it_once(
    market: Market, conv: Conversation, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {i for i, _ in market.copies(conv, TEMPLATE)}
    reply = actions.reply(conv, actor=agent, text=TEMPLATE)
    connector = registry.connector_class(market.kind)
    real_send = connector.send

    def send_then_die(self: Any, outbound: Any) -> Any:
        real_send(self, outbound)  # the marketplace has it
        raise Killed()

    monkeypatch.setattr(connector, "send", send_then_die)
    with pytest.raises(Killed):
        attempt(reply)
    monkeypatch.setattr(connector, "send", real_send)
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENDING
    # The sweep finds it once its claim is old, and the retry asks before sending.
    Message.objects.filter(pk=reply.pk).update(
        delivery_claimed_at=timezone.now() - timedelta(hours=1)
    )
    assert sweep_stuck_sends.call() == 1
    attempt(reply)

    sent_exactly_once(market, conv, reply, before)


def test_a_worker_killed_before_the_marketplace_got_the_reply_sends_it_once(
    market: Market, conv: Conversation, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {i for i, _ in market.copies(conv, TEMPLATE)}
    reply = actions.reply(conv, actor=agent, text=TEMPLATE)
    connector = registry.connector_class(market.kind)
    real_send = connector.send

    def die(self: Any, outbound: Any) -> Any:
        raise Killed()

    monkeypatch.setattr(connector, "send", die)
    with pytest.raises(Killed):
        attempt(reply)
    monkeypatch.setattr(connector, "send", real_send)
    Message.objects.filter(pk=reply.pk).update(
        delivery_claimed_at=timezone.now() - timedelta(hours=1)
    )
    settle_time_passes()
    assert sweep_stuck_sends.call() == 1
    attempt(reply)

    sent_exactly_once(market, conv, reply, before)


def test_a_reply_the_marketplace_refuses_fails_alone_and_the_channel_keeps_working(
    market: Market, conv: Conversation, agent: User
) -> None:
    market.forget_thread(conv)
    reply = actions.reply(conv, actor=agent, text="Voici le suivi de votre colis.")

    with contextlib.suppress(Exception):
        for _ in range(8):  # transient errors are retried; a refusal ends it
            if attempt(reply).startswith(("sent", "crashed")) or (
                reply.delivery_state == DeliveryState.FAILED
            ):
                break

    assert reply.delivery_state == DeliveryState.FAILED
    assert reply.delivery_error  # the marketplace's reason, shown on the message
    channel = Channel.objects.get(pk=market.channel.pk)
    assert channel.is_healthy, channel.last_error
    assert not Event.objects.filter(kind=EventKind.CHANNEL_UNHEALTHY).exists()


def test_the_look_up_allows_a_marketplace_clock_a_little_behind_ours_and_no_more(
    channel: Channel,
) -> None:
    start = timezone.now()
    outbound = OutboundMessage(
        message_id=0,
        idempotency_key="comptoir-0",
        conversation_thread_id="T-1",
        to="",
        subject="",
        text="Merci, c'est noté.",
        attempt_started_at=start,
    )
    old = SentCandidate("old", "Merci, c'est noté.", start - CLOCK_SKEW - timedelta(seconds=1))
    undated = SentCandidate("undated", "Merci, c'est noté.", None)
    other = SentCandidate("other", "Merci.", start)
    behind = SentCandidate("behind", "Merci,  c'est\nnoté. ", start - timedelta(seconds=30))
    connector = Connector(channel)

    assert connector.pick_sent(outbound, [old, undated, other]) is None
    found = connector.pick_sent(outbound, [old, undated, other, behind])
    assert found is not None
    assert (found.external_id, found.sent_at) == ("behind", behind.created_at)
