"""The proactive message about an order at risk reaches the marketplace simulator exactly once,
whatever the faults, through the ordinary send path: Mirakl (a first message opens a thread on
the order, OR43), eBay (a first message opens a conversation with the buyer about the listing)
and Amazon (a typed Messaging API message, `unexpectedProblem`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from comptoir.accounts.models import Team, User
from comptoir.automation.models import Template, TemplateVersion
from comptoir.care import actions
from comptoir.care.models import AtRisk, Reason
from comptoir.connectors.amazon import connector as amazon_connector
from comptoir.connectors.amazon.simulator import AmazonSimulator
from comptoir.connectors.ebay.simulator import EbaySimulator
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox.models import Channel, Conversation, Customer, DeliveryState, Message, Shop
from comptoir.inbox.tasks import poll_channel, send_message
from comptoir.lib import http
from comptoir.orders.models import Order
from tests.ebay_support import channel_settings, running_simulator
from tests.send_support import settle_time_passes

LATE = "Bonjour {{ customer_first_name }}, votre commande {{ order_number }} a du retard."


@pytest.fixture
def template(shop: Shop) -> Template:
    t = Template.objects.create(name="Retard", shop=shop)
    TemplateVersion.objects.create(template=t, language="fr", subject="", body=LATE)
    return t


def at_risk(order: Order, reason: Reason = Reason.NOT_SHIPPED) -> AtRisk:
    return AtRisk.objects.create(
        order=order,
        shop_id=order.shop_id,
        channel_id=order.channel_id,
        reason=reason,
        deadline=timezone.now() - timedelta(days=1),
    )


def send(message: Message, attempt: int = 1) -> Message:
    send_message.call(message.pk, attempt=attempt)
    return Message.objects.get(pk=message.pk)


def late_order(channel: Channel, number: str, name: str = "Paul Martin") -> Order:
    customer = Customer.objects.create(name=name, email="")
    return Order.objects.create(
        shop=channel.shop,
        channel=channel,
        customer=customer,
        external_id=number,
        status="accepted",
        ship_by=timezone.now() - timedelta(days=1),
    )


# -- Mirakl: a thread opened on the order ----------------------------------------------------


def test_a_mirakl_buyer_gets_one_thread_on_the_order_when_the_answer_is_lost(
    sim: MiraklSimulator, darty: Channel, agent: User, template: Template
) -> None:
    sim.add_order("DRT-90", customer_id="c-90", customer_name="Paul Martin")
    risk = at_risk(late_order(darty, "DRT-90"))
    sim.faults.add("lose_response", method="POST", path="/threads$")

    message = actions.contact(risk, actor=agent, what=actions.Proactive(template=template))

    assert send(message).delivery_state == DeliveryState.QUEUED  # unknown outcome: retried
    sent = send(message, attempt=2)
    assert sent.delivery_state == DeliveryState.SENT
    (thread,) = [t for t in sim.threads.values() if t.order_id == "DRT-90"]
    assert [m.body for m in thread.messages] == ["Bonjour Paul, votre commande DRT-90 a du retard."]
    conv = Conversation.objects.get(pk=sent.conversation_id)
    assert conv.external_thread_id == thread.id
    assert (conv.order_id, conv.subject) == (risk.order_id, "About your order DRT-90")
    risk.refresh_from_db()
    assert risk.contacted_at is not None
    assert (risk.message_id, risk.contacted_by_id) == (sent.pk, agent.pk)
    assert sim.violations == []


def test_a_mirakl_order_with_a_buyer_thread_is_answered_in_it(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    sim.add_order("DRT-91", customer_id="c-91", customer_name="Léa")
    sim.buyer_writes(
        "Où est ma commande ?", order_id="DRT-91", customer_id="c-91", customer_name="Léa"
    )
    poll_channel.call(darty.pk)
    buyer_conv = Conversation.objects.get()
    order = late_order(darty, "DRT-91", name="Léa")
    Conversation.objects.filter(pk=buyer_conv.pk).update(order=order)
    risk = at_risk(order)
    sim.faults.add("error500", method="POST")

    message = actions.contact(risk, actor=agent, what=actions.Proactive(text="Elle part demain."))

    assert message.conversation_id == buyer_conv.pk
    send(message)
    settle_time_passes()  # its post was refused: nothing of it can land later
    assert send(message, attempt=2).delivery_state == DeliveryState.SENT
    (thread,) = [t for t in sim.threads.values() if t.order_id == "DRT-91"]
    assert [m.body for m in thread.messages][-1] == "Elle part demain."
    assert sum(m.body == "Elle part demain." for m in thread.messages) == 1
    assert Conversation.objects.count() == 1


def test_a_bulk_send_writes_once_per_order_and_reports_each_refusal(
    sim: MiraklSimulator,
    darty: Channel,
    agent: User,
    template: Template,
    shop: Shop,
    team: Team,
) -> None:
    sim.add_order("DRT-92")
    order = late_order(darty, "DRT-92")
    both = [at_risk(order), at_risk(order, Reason.DELIVERY_MISSED)]
    fnac = Channel.objects.create(
        shop=shop, kind="fnac", marketplace="fnac", name="Fnac", team=team
    )
    no_thread = at_risk(late_order(fnac, "FN-1"))

    outcome = actions.contact_many(
        [*both, no_thread], actor=agent, what=actions.Proactive(template=template)
    )

    assert len(outcome.sent) == 1
    assert [pk for pk, _ in outcome.failed] == [no_thread.pk]
    assert "only in a conversation the buyer started" in outcome.failed[0][1]
    assert AtRisk.objects.filter(contacted_at__isnull=False).count() == 2  # both reasons
    assert not AtRisk.objects.get(pk=no_thread.pk).contacted_at


def test_a_template_missing_a_value_stores_nothing(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    t = Template.objects.create(name="Suivi")
    TemplateVersion.objects.create(template=t, language="fr", body="Suivi : {{ tracking_number }}")
    risk = at_risk(late_order(darty, "DRT-93"))

    with pytest.raises(ValidationError):
        actions.contact(risk, actor=agent, what=actions.Proactive(template=t))

    assert Conversation.objects.count() == 0
    assert AtRisk.objects.get(pk=risk.pk).contacted_at is None


# -- eBay: a first message opens a conversation about the order's listing --------------------


@pytest.fixture
def ebay_sim(sleeps: list[float], monkeypatch: pytest.MonkeyPatch) -> Iterator[EbaySimulator]:
    yield from running_simulator(monkeypatch)


@pytest.fixture
def ebay(shop: Shop, team: Team, ebay_sim: EbaySimulator) -> Channel:
    channel = Channel(shop=shop, kind="ebay", marketplace="ebay", name="eBay", team=team)
    channel.set_settings({**channel_settings(ebay_sim), "claims": False})
    channel.save()
    return channel


EBAY_ORDER = "12-11111-22222"


@pytest.mark.parametrize(
    "fault", [None, "lose_response", "error500_after", "error500", "rate_limit"]
)
def test_an_ebay_buyer_who_never_wrote_gets_one_message_whatever_the_faults(
    ebay_sim: EbaySimulator, ebay: Channel, agent: User, fault: str | None
) -> None:
    ebay_sim.add_order(EBAY_ORDER, buyer="paul_m13")
    listing = ebay_sim.orders[EBAY_ORDER]["lineItems"][0]["legacyItemId"]
    risk = at_risk(late_order(ebay, EBAY_ORDER))
    if fault:
        ebay_sim.faults.add(fault, method="POST", path="/send_message$")

    message = actions.contact(risk, actor=agent, what=actions.Proactive(text="Elle part demain."))
    for attempt in range(1, 4):
        if send(message, attempt).delivery_state == DeliveryState.SENT:
            break
        settle_time_passes()  # a refused post cannot land later; a lost one is found

    sent = Message.objects.get(pk=message.pk)
    assert sent.delivery_state == DeliveryState.SENT
    (on_ebay,) = ebay_sim.seller_messages()
    assert (on_ebay["messageBody"], on_ebay["recipientUsername"]) == (
        "Elle part demain.",
        "paul_m13",
    )
    eb_conv = ebay_sim.conversations[on_ebay["conversationId"]]
    assert (eb_conv.conversation_type, eb_conv.reference_id) == ("FROM_MEMBERS", listing)
    conv = Conversation.objects.get(pk=sent.conversation_id)
    assert conv.external_thread_id == eb_conv.conversation_id
    assert sent.external_id == on_ebay["messageId"]
    assert AtRisk.objects.get(pk=risk.pk).message_id == sent.pk
    assert ebay_sim.violations == []
    if fault:
        assert ebay_sim.faults.injected == {fault: 1}
    # Posted again only when eBay said it stored nothing.
    posts = 2 if fault in ("error500", "rate_limit") else 1
    assert ebay_sim.calls["POST /commerce/message/v1/send_message"] == posts


def test_an_ebay_first_message_whose_conversation_cannot_be_read_back_is_not_posted_twice(
    ebay_sim: EbaySimulator, ebay: Channel, agent: User
) -> None:
    ebay_sim.add_order(EBAY_ORDER, buyer="paul_m13")
    message = actions.contact(
        at_risk(late_order(ebay, EBAY_ORDER)),
        actor=agent,
        what=actions.Proactive(text="Elle part demain."),
    )
    # Reading the new conversation back fails until the call gives up.
    ebay_sim.faults.add("error500", method="GET", path="/conversation$", times=5)

    assert send(message).delivery_state == DeliveryState.QUEUED
    assert send(message, attempt=2).delivery_state == DeliveryState.SENT

    (on_ebay,) = ebay_sim.seller_messages()
    conv = Conversation.objects.get()
    assert conv.external_thread_id == on_ebay["conversationId"]
    assert ebay_sim.calls["POST /commerce/message/v1/send_message"] == 1


def test_the_ebay_buyers_answer_threads_into_the_conversation_the_first_message_opened(
    ebay_sim: EbaySimulator, ebay: Channel, agent: User
) -> None:
    ebay_sim.add_order(EBAY_ORDER, buyer="paul_m13")
    listing = ebay_sim.orders[EBAY_ORDER]["lineItems"][0]["legacyItemId"]
    message = actions.contact(
        at_risk(late_order(ebay, EBAY_ORDER)),
        actor=agent,
        what=actions.Proactive(text="Elle part demain."),
    )
    send(message)

    ebay_sim.buyer_writes("Merci, j'attends.", buyer="paul_m13", listing_id=listing)
    poll_channel.call(ebay.pk)

    conv = Conversation.objects.get()
    assert list(conv.messages.order_by("pk").values_list("direction", "text")) == [
        ("out", "Elle part demain."),
        ("in", "Merci, j'attends."),
    ]
    assert len(ebay_sim.conversations) == 1


# -- Amazon: a typed Messaging API message ---------------------------------------------------


class Clock:
    """`http.monotonic`/`http.sleep` (the simulator's rate limits read the same clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def amazon_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[AmazonSimulator]:
    clock = Clock()
    monkeypatch.setattr(http, "monotonic", clock.monotonic)
    monkeypatch.setattr(http, "sleep", clock.sleep)
    monkeypatch.setattr(http, "_buckets", {})
    monkeypatch.setattr(amazon_connector, "_tokens", {})
    simulator = AmazonSimulator(seed=7)
    simulator.faults.hang_seconds = 1.6
    with simulator:
        yield simulator


@pytest.fixture
def amazon(shop: Shop, team: Team, amazon_sim: AmazonSimulator) -> Channel:
    channel = Channel(shop=shop, kind="amazon", marketplace="amazon", name="Amazon FR", team=team)
    channel.set_settings(
        {
            "client_id": amazon_sim.client_id,
            "client_secret": amazon_sim.client_secret,
            "refresh_token": amazon_sim.refresh_token,
            "seller_id": amazon_sim.seller_id,
            "marketplace_id": amazon_sim.marketplace_id,
            "endpoint": amazon_sim.url,
            "token_url": f"{amazon_sim.url}/auth/o2/token",
            "timeout_seconds": 1.2,
        }
    )
    channel.save()
    return channel


MESSAGES = r"/messaging/v1/orders/[^/]+/messages/"


@pytest.mark.parametrize(
    ("fault", "copies", "state"),
    [
        # Throttled: waited for, then sent.
        ("rate_limit", 1, DeliveryState.SENT),
        # A 500 or a lost answer on a POST may hide a stored message, and Amazon offers no way
        # to read sent messages: never posted again (at most once), failed with the reason.
        ("error500", 0, DeliveryState.FAILED),
        ("error500_after", 1, DeliveryState.FAILED),
        ("lose_response", 1, DeliveryState.FAILED),
    ],
)
def test_an_amazon_unexpected_problem_message_is_never_sent_twice(
    amazon_sim: AmazonSimulator,
    amazon: Channel,
    agent: User,
    template: Template,
    fault: str,
    copies: int,
    state: str,
) -> None:
    order_id = amazon_sim.add_order(status="Unshipped")
    risk = at_risk(late_order(amazon, order_id))
    amazon_sim.faults.add(fault, method="POST", path=MESSAGES)

    message = actions.contact(risk, actor=agent, what=actions.Proactive(template=template))
    final = send(message)
    if final.delivery_state == DeliveryState.QUEUED:
        settle_time_passes()
        final = send(message, attempt=2)

    text = f"Bonjour Paul, votre commande {order_id} a du retard."
    sent = [(m.kind, m.text) for m in amazon_sim.seller_messages(order_id)]
    assert sent == [("unexpectedProblem", text)] * copies
    assert final.delivery_state == state
    if state == DeliveryState.SENT:
        assert final.external_id.startswith(f"{order_id}/unexpectedProblem/")
    else:
        assert "may have delivered" in final.delivery_error
    assert final.marketplace_reason == "unexpectedProblem"
    # A retry by the worker sends nothing more.
    send_message.call(message.pk, attempt=3)
    assert len(amazon_sim.seller_messages(order_id)) == copies


def test_an_amazon_message_type_the_agent_picks_is_the_one_sent(
    amazon_sim: AmazonSimulator, amazon: Channel, agent: User
) -> None:
    order_id = amazon_sim.add_order(status="Shipped")
    risk = at_risk(late_order(amazon, order_id), Reason.TRACKING_STALLED)

    message = actions.contact(
        risk,
        actor=agent,
        what=actions.Proactive(
            text="Livraison confirmée mardi.", message_type="confirmDeliveryDetails"
        ),
    )
    assert send(message).delivery_state == DeliveryState.SENT
    assert [m.kind for m in amazon_sim.seller_messages(order_id)] == ["confirmDeliveryDetails"]
    with pytest.raises(ValidationError):
        actions.contact(risk, actor=agent, what=actions.Proactive(text="x", message_type="invoice"))


def test_an_analyst_cannot_write_first(
    sim: MiraklSimulator, darty: Channel, analyst: User, template: Template
) -> None:
    from django.core.exceptions import PermissionDenied

    risk = at_risk(late_order(darty, "DRT-94"))
    with pytest.raises(PermissionDenied):
        actions.contact(risk, actor=analyst, what=actions.Proactive(template=template))
    assert Conversation.objects.count() == 0


# -- the own shop: a mail to the buyer -------------------------------------------------------


def test_an_own_shop_buyer_gets_a_mail_in_a_new_conversation_on_the_order(
    shop: Shop, team: Team, agent: User, template: Template
) -> None:
    from comptoir.inbox.tasks import _outbound

    mailbox = Channel.objects.create(
        shop=shop, kind="email", marketplace="shop", name="Shop mailbox", team=team
    )
    order = late_order(mailbox, "WEB-1001")
    Customer.objects.filter(orders=order).update(email="paul@example.net")
    risk = at_risk(order)

    message = actions.contact(risk, actor=agent, what=actions.Proactive(template=template))

    conv = message.conversation
    assert (conv.channel_id, conv.order_id, conv.customer_id) == (
        mailbox.pk,
        order.pk,
        order.customer_id,
    )
    assert message.delivery_state == DeliveryState.QUEUED
    outbound = _outbound(Message.objects.get(pk=message.pk))
    assert outbound.to == "paul@example.net"
    assert outbound.subject == "About your order WEB-1001"
    assert outbound.text == "Bonjour Paul, votre commande WEB-1001 a du retard."
    assert outbound.message_type == ""
    # Without an address there is nobody to write to: refused, nothing stored.
    other = at_risk(late_order(mailbox, "WEB-1002", name="Anne"))
    with pytest.raises(ValidationError, match="no email address"):
        actions.contact(other, actor=agent, what=actions.Proactive(template=template))
    assert Conversation.objects.filter(order__external_id="WEB-1002").count() == 0
