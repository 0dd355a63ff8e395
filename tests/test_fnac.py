"""The Fnac channel against its simulator: real HTTP on 127.0.0.1, the real database, no waits.

Every request the connector sends is checked against Fnac's XSDs by the simulator, and every
answer the simulator gives is checked too: each test ends with both lists empty.
"""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from comptoir.accounts.models import Team, User
from comptoir.connectors.base import ConnectorError
from comptoir.connectors.fnac import connector as fnac_connector
from comptoir.connectors.fnac import dialect
from comptoir.connectors.fnac.connector import FnacConnector
from comptoir.connectors.fnac.dialect import q, sub
from comptoir.connectors.fnac.simulator import FnacSimulator
from comptoir.connectors.simulator import Response
from comptoir.inbox import actions, files
from comptoir.inbox.actions import NewAttachment
from comptoir.inbox.models import (
    Channel,
    Conversation,
    CustomerIdentity,
    DeliveryState,
    Message,
    Shop,
)
from comptoir.inbox.tasks import poll_channel, send_message, sweep_stuck_sends
from comptoir.orders.actions import store_order
from tests.conftest import require_specs
from tests.fault_support import Killed, record_sleeps, running
from tests.notify_helpers import run_notification_tasks
from tests.send_support import settle_time_passes


@pytest.fixture
def fnac_specs() -> None:
    """The XSDs are read where the project keeps its specs (`contract.specs_dir()`); without them
    the simulator checks only the attributes every request carries."""
    require_specs(*(f"fnac/{name}" for name in (*dialect.SERVICES.values(), "base.xsd")))


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return record_sleeps(monkeypatch)


@pytest.fixture
def sim() -> Iterator[FnacSimulator]:
    simulator = FnacSimulator(seed=11)
    simulator.faults.hang_seconds = 1.4
    with running(simulator, fnac_connector.forget_tokens):
        yield simulator
        assert simulator.answer_problems == []


def settings_for(sim: FnacSimulator, **overrides: Any) -> dict[str, Any]:
    return {
        "partner_id": sim.partner_id,
        "shop_id": sim.shop_id,
        "key": sim.key,
        "base_url": sim.base_url,
        "timeout_seconds": 1.0,
        **overrides,
    }


@pytest.fixture
def fnac(shop: Shop, team: Team, sim: FnacSimulator) -> Channel:
    channel = Channel(shop=shop, kind="fnac", marketplace="fnac", name="Fnac", team=team)
    channel.set_settings(settings_for(sim))
    channel.save()
    return channel


def configure(channel: Channel, **overrides: Any) -> None:
    channel.set_settings({**channel.get_settings(), **overrides})
    channel.save()


def connector(channel: Channel) -> FnacConnector:
    channel.refresh_from_db()
    return FnacConnector(channel)


def requests_to(sim: FnacSimulator, service: str) -> list[ET.Element]:
    return [r for r in sim.received if r.tag == q(service)]


# -- fetch -------------------------------------------------------------------------------------


def test_a_buyer_message_opens_a_conversation_with_the_buyer_the_order_and_needs_reply(
    sim: FnacSimulator, fnac: Channel
) -> None:
    order = sim.add_order(firstname="Jeanne", lastname="Martin")
    photo = b"\xff\xd8 colis abime"
    mid = sim.buyer_writes(
        order_id=order,
        text="Le colis est arrivé abîmé.",
        attachments=[("colis.jpg", "image/jpeg", photo)],
    )

    assert poll_channel.call(fnac.pk) == 1

    conv = Conversation.objects.get()
    assert conv.external_thread_id == f"ORDER:{order}"
    assert conv.order_number == order
    assert conv.needs_reply is True
    message = Message.objects.get()
    assert (message.external_id, message.direction) == (mid, "in")
    assert message.text == "Le colis est arrivé abîmé."
    (attachment,) = message.attachments.all()
    assert attachment.filename == "colis.jpg"
    assert files.read_bytes(attachment.sha256) == photo
    identity = CustomerIdentity.objects.get(customer=conv.customer, kind="fnac_customer")
    assert identity.value == sim.orders[order].client_id
    assert conv.customer is not None
    assert conv.customer.name == "Jeanne Martin"
    # Marked read on Fnac only once stored.
    stored = sim.message(mid)
    assert stored is not None
    assert stored.state == "READ"


def test_messages_are_marked_read_on_fnac_only_when_acknowledged(
    sim: FnacSimulator, fnac: Channel
) -> None:
    mid = sim.buyer_writes()
    fnac_side = sim.message(mid)
    assert fnac_side is not None
    reader = connector(fnac)

    assert [m.external_id for m in reader.fetch({})] == [mid]
    assert fnac_side.state == "UNREAD"

    reader.acknowledge()
    assert fnac_side.state == "READ"


def test_a_buyer_writing_on_two_orders_is_one_customer_with_two_conversations(
    sim: FnacSimulator, fnac: Channel
) -> None:
    first = sim.add_order(firstname="Hugo", lastname="Petit")
    second = sim.add_order(firstname="Hugo", lastname="Petit")
    sim.orders[second].client_id = sim.orders[first].client_id
    sim.buyer_writes(order_id=first, text="Première commande")
    sim.buyer_writes(order_id=second, text="Deuxième commande")

    assert poll_channel.call(fnac.pk) == 2

    assert Conversation.objects.count() == 2
    assert len({c.customer_id for c in Conversation.objects.all()}) == 1


def test_every_page_is_read(sim: FnacSimulator, fnac: Channel) -> None:
    configure(fnac, page_size=3)
    ids = {sim.buyer_writes(text=f"message {n}") for n in range(10)}

    assert poll_channel.call(fnac.pk) == 10

    assert set(Message.objects.values_list("external_id", flat=True)) == ids
    pages = [r.findtext(q("paging")) for r in requests_to(sim, "messages_query")]
    assert pages == ["1", "2", "3", "4"]


def test_a_second_poll_asks_only_for_what_is_new(sim: FnacSimulator, fnac: Channel) -> None:
    old = [sim.buyer_writes(text=f"ancien {n}") for n in range(5)]
    poll_channel.call(fnac.pk)
    fnac.refresh_from_db()
    last = sim.message(old[-1])
    assert last is not None
    assert fnac.cursor["messages"] == dialect.xs_datetime(last.created_at)
    new = {sim.buyer_writes(text=f"nouveau {n}") for n in range(2)}

    fetched = {m.external_id for m in connector(fnac).fetch(fnac.cursor)}

    # The new ones, and no more of the old than the overlap (15 minutes, 10 between messages).
    assert new <= fetched
    assert fetched - new <= set(old[-2:])
    floor = requests_to(sim, "messages_query")[-1].findtext(f"{q('date')}/{q('min')}")
    assert floor == dialect.xs_datetime(last.created_at - timedelta(minutes=15))
    assert poll_channel.call(fnac.pk) >= 2
    assert Message.objects.count() == 7


def test_a_full_resync_stores_nothing_twice(sim: FnacSimulator, fnac: Channel) -> None:
    for n in range(4):
        sim.buyer_writes(text=f"message {n}")
    poll_channel.call(fnac.pk)
    Channel.objects.filter(pk=fnac.pk).update(cursor={})

    poll_channel.call(fnac.pk)

    assert Message.objects.count() == 4


def test_a_claim_joins_its_order_conversation_tagged_claim(
    sim: FnacSimulator, fnac: Channel
) -> None:
    order = sim.add_order()
    sim.buyer_writes(order_id=order, text="Toujours rien reçu")
    incident = sim.open_incident(order, claim_type=1, message="Colis jamais arrivé")

    assert poll_channel.call(fnac.pk) == 2

    conv = Conversation.objects.get()
    assert list(conv.tags.values_list("name", flat=True)) == ["claim"]
    claim = Message.objects.get(external_id=f"incident:{incident}")
    assert claim.conversation_id == conv.pk
    assert claim.text == "Colis jamais arrivé"
    record = claim.inbound_record
    assert record is not None
    assert b'"claim_type":"1"' in bytes(record.raw)


def test_a_closed_claim_adds_an_automatic_message_to_the_same_conversation(
    sim: FnacSimulator, fnac: Channel
) -> None:
    order = sim.add_order()
    incident = sim.open_incident(order, claim_type=13, message="Article défectueux")
    poll_channel.call(fnac.pk)
    sim.close_incident(incident, closed_status=10)

    assert poll_channel.call(fnac.pk) >= 1

    conv = Conversation.objects.get()
    closed = Message.objects.get(external_id=f"incident:{incident}:closed")
    assert closed.conversation_id == conv.pk
    assert closed.is_auto
    assert "item faulty" in closed.text
    assert "close status 10" in closed.text
    assert conv.needs_reply is True  # the buyer's claim still has no answer
    assert Message.objects.count() == 2


def test_a_question_on_an_offer_is_its_own_thread_without_order(
    sim: FnacSimulator, fnac: Channel
) -> None:
    sim.buyer_writes(offer_id="OFFRE-42", text="Est-il compatible ?", subject="product_information")

    poll_channel.call(fnac.pk)

    conv = Conversation.objects.get()
    assert conv.external_thread_id == "OFFER:OFFRE-42"
    assert conv.order_number == ""


# -- send --------------------------------------------------------------------------------------


def buyer_conversation(sim: FnacSimulator, fnac: Channel, **kwargs: Any) -> Conversation:
    sim.buyer_writes(**kwargs)
    poll_channel.call(fnac.pk)
    return Conversation.objects.latest("pk")


def test_a_reply_reaches_fnac_once_and_is_not_stored_again_by_the_next_poll(
    sim: FnacSimulator, fnac: Channel, agent: User
) -> None:
    conv = buyer_conversation(sim, fnac, text="Quand partira ma commande ?")
    buyer_message = Message.objects.get(direction="in")
    reply = actions.reply(conv, actor=agent, text="Elle part demain matin.")

    assert send_message.call(reply.pk) == "sent"

    (sent,) = sim.seller_messages()
    assert sent.description == "Elle part demain matin."
    assert (sent.referer_type, sent.referer) == ("ORDER", conv.order_number)
    updates = [m for r in requests_to(sim, "messages_update") for m in r.findall(q("message"))]
    (answer,) = [m for m in updates if m.get("action") == "reply"]
    assert answer.get("id") == buyer_message.external_id
    assert answer.findtext(q("message_to")) == "CLIENT"
    reply.refresh_from_db()
    assert reply.external_id == sent.message_id
    poll_channel.call(fnac.pk)
    assert Message.objects.filter(conversation=conv).count() == 2


def test_a_reply_on_a_claim_alone_creates_the_order_message(
    sim: FnacSimulator, fnac: Channel, agent: User
) -> None:
    order = sim.add_order()
    sim.open_incident(order, message="Article défectueux", claim_type=3)
    poll_channel.call(fnac.pk)
    conv = Conversation.objects.get()

    send_message.call(actions.reply(conv, actor=agent, text="Nous vous remboursons.").pk)

    (sent,) = sim.seller_messages()
    assert (sent.referer, sent.description) == (order, "Nous vous remboursons.")


def test_an_offer_question_is_answered_as_a_reply(
    sim: FnacSimulator, fnac: Channel, agent: User
) -> None:
    conv = buyer_conversation(sim, fnac, offer_id="OFFRE-7", text="Neuf ?")

    assert send_message.call(actions.reply(conv, actor=agent, text="Oui, neuf.").pk) == "sent"

    (sent,) = sim.seller_messages()
    assert (sent.referer_type, sent.referer) == ("OFFER", "OFFRE-7")


def test_attachments_are_refused_before_anything_is_sent(
    sim: FnacSimulator, fnac: Channel, agent: User
) -> None:
    conv = buyer_conversation(sim, fnac)
    reply = actions.reply(
        conv,
        actor=agent,
        text="Voici l'étiquette",
        attachments=[NewAttachment("retour.pdf", "application/pdf", b"%PDF")],
    )
    updates_before = len(requests_to(sim, "messages_update"))

    assert send_message.call(reply.pk).startswith("failed")

    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.FAILED
    assert "cannot carry attachments" in reply.delivery_error
    assert "retour.pdf" in reply.delivery_error
    assert sim.seller_messages() == []
    assert len(requests_to(sim, "messages_update")) == updates_before


def test_a_reply_xml_cannot_carry_is_refused_before_sending(
    sim: FnacSimulator, fnac: Channel, agent: User
) -> None:
    conv = buyer_conversation(sim, fnac)
    reply = actions.reply(conv, actor=agent, text="Bonjour\x07 !")

    send_message.call(reply.pk)

    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.FAILED
    assert "control characters" in reply.delivery_error
    assert sim.seller_messages() == []


def test_a_reply_whose_answer_is_lost_is_delivered_exactly_once(
    sim: FnacSimulator, fnac: Channel, agent: User
) -> None:
    conv = buyer_conversation(sim, fnac)
    reply = actions.reply(conv, actor=agent, text="Colis remis au transporteur.")
    sim.faults.add("lose_response", path="messages_update")

    assert send_message.call(reply.pk).startswith("failed")
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.QUEUED
    assert send_message.call(reply.pk, attempt=2) == "sent"

    (sent,) = sim.seller_messages()
    reply.refresh_from_db()
    assert reply.external_id == sent.message_id


def test_a_reply_fnac_refuses_fails_alone_and_the_channel_is_not_stopped(
    sim: FnacSimulator,
    fnac: Channel,
    agent: User,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    User.objects.create_user("owner", "owner@maison-lumiere.fr", "x", role="owner")
    conv = buyer_conversation(sim, fnac, text="Quand partira ma commande ?")
    sim.messages.clear()  # Fnac no longer knows the message the reply answers
    reply = actions.reply(conv, actor=agent, text="Elle part demain.")

    with django_capture_on_commit_callbacks(execute=True):
        send_message.call(reply.pk)
    run_notification_tasks()

    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.FAILED
    assert "unknown message" in reply.delivery_error  # Fnac's reason, on the message
    fnac.refresh_from_db()
    assert fnac.is_healthy
    assert fnac.last_error == ""
    assert mailoutbox == []  # the owners are not told the channel stopped


def test_find_sent_skips_a_same_text_reply_another_message_already_claims(
    sim: FnacSimulator, fnac: Channel, agent: User
) -> None:
    conv = buyer_conversation(sim, fnac)
    first = actions.reply(conv, actor=agent, text="Merci !")
    send_message.call(first.pk)
    second = actions.reply(conv, actor=agent, text="Merci !")
    sim.faults.add("error500", path="messages_update")  # refused before Fnac acted

    send_message.call(second.pk)
    settle_time_passes()  # Fnac had time to store it, had it taken it
    assert send_message.call(second.pk, attempt=2) == "sent"

    assert [m.description for m in sim.seller_messages()] == ["Merci !", "Merci !"]
    first.refresh_from_db()
    second.refresh_from_db()
    assert {first.external_id, second.external_id} == {m.message_id for m in sim.seller_messages()}


# -- errors ------------------------------------------------------------------------------------


def test_server_errors_and_rate_limits_are_retried_honouring_retry_after(
    sim: FnacSimulator, fnac: Channel, sleeps: list[float]
) -> None:
    sim.buyer_writes()
    sim.faults.add("error500", path="messages_query", times=2)
    sim.faults.add("rate_limit", path="messages_query", retry_after=7)

    assert poll_channel.call(fnac.pk) == 1

    assert 7.0 in sleeps
    assert sim.faults.injected["error500"] == 2
    assert sim.faults.injected["rate_limit"] == 1


def test_an_expired_token_is_renewed_once(sim: FnacSimulator, fnac: Channel) -> None:
    sim.buyer_writes()
    poll_channel.call(fnac.pk)
    sim.expire_tokens()  # told in the body, as the XSD says
    sim.buyer_writes()
    sim.faults.add("expired_token", path="orders_query")  # told by HTTP 401

    assert poll_channel.call(fnac.pk) >= 1

    assert Message.objects.count() == 2
    assert len(requests_to(sim, "auth")) == 3
    fnac.refresh_from_db()
    assert fnac.is_healthy


def test_wrong_credentials_mark_the_channel_unhealthy_with_a_readable_error(
    sim: FnacSimulator, fnac: Channel
) -> None:
    configure(fnac, key="not-the-key")

    poll_channel.call(fnac.pk)

    fnac.refresh_from_db()
    assert not fnac.is_healthy
    assert "Fnac refused to sign in" in fnac.last_error
    assert "check the partner id, shop id and key" in fnac.last_error


def test_a_token_refused_again_after_signing_in_is_permanent(
    sim: FnacSimulator, fnac: Channel
) -> None:
    sim.refuse_tokens = True

    poll_channel.call(fnac.pk)

    fnac.refresh_from_db()
    assert not fnac.is_healthy
    assert "refused the token for messages_query right after signing in" in fnac.last_error


def test_a_second_401_after_signing_in_again_is_permanent(
    sim: FnacSimulator, fnac: Channel
) -> None:
    sim.faults.add("expired_token", path="messages_query", times=2)

    poll_channel.call(fnac.pk)

    fnac.refresh_from_db()
    assert not fnac.is_healthy
    assert "HTTP 401" in fnac.last_error
    assert "even with a new token" in fnac.last_error


def test_test_connection_names_the_shop_or_says_what_is_wrong(
    sim: FnacSimulator, fnac: Channel
) -> None:
    sim.buyer_writes()
    assert connector(fnac).test_connection() == (
        f"connected as shop {sim.shop_id} (1 unread messages)"
    )
    fnac_connector.forget_tokens()
    configure(fnac, key="wrong")

    with pytest.raises(ConnectorError) as caught:
        connector(fnac).test_connection()

    assert caught.value.permanent
    assert "Fnac refused to sign in" in str(caught.value)


# -- the contract ------------------------------------------------------------------------------


def test_a_wrong_field_is_refused_by_the_connector_and_by_the_simulator(
    fnac_specs: None, sim: FnacSimulator, fnac: Channel
) -> None:
    with pytest.raises(ConnectorError, match="schema refuses"):
        connector(fnac).call("messages_query", lambda r: sub(r, "bogus", "1"))
    assert requests_to(sim, "messages_query") == []

    token = connector(fnac)._token()
    bad = dialect.element(
        "messages_query", {"partner_id": sim.partner_id, "shop_id": sim.shop_id, "token": token}
    )
    sub(bad, "message_type", "PARCEL")
    answer = httpx.post(
        f"{sim.base_url}/messages_query",
        content=dialect.serialize(bad),
        headers={"Content-Type": "text/xml"},
    )

    assert answer.status_code == 400
    (violation,) = sim.violations
    assert "message_type" in violation
    sim.violations.clear()


def test_every_answer_of_the_simulator_follows_the_response_schemas(
    fnac_specs: None, sim: FnacSimulator, fnac: Channel, agent: User
) -> None:
    order = sim.add_order(lines=2)
    sim.buyer_writes(order_id=order, attachments=[("a.txt", "text/plain", b"a")])
    sim.close_incident(sim.open_incident(order))
    conv = buyer_conversation(sim, fnac, order_id=order)
    send_message.call(actions.reply(conv, actor=agent, text="Bien reçu").pk)
    connector(fnac).fetch_order(order)
    sim.expire_tokens()
    poll_channel.call(fnac.pk)

    answered = {r.tag for r in sim.received}
    assert {
        q(s)
        for s in ("auth", "messages_query", "messages_update", "incidents_query", "orders_query")
    } <= answered
    assert sim.answer_problems == []


def serve_instead(sim: FnacSimulator, service: str, response: Response) -> None:
    """Make the simulator answer `service` with `response`, before its own route."""
    sim.routes.insert(0, ("POST", re.compile(f"^/api.php/{service}$"), lambda r: response))


def test_an_answer_declaring_a_doctype_is_refused_by_the_connector(
    sim: FnacSimulator, fnac: Channel
) -> None:
    order = sim.add_order()
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<orders_query_response xmlns="http://www.fnac.com/schemas/mp-dialog.xsd" '
        b'status="OK">&x;</orders_query_response>'
    )
    serve_instead(sim, "orders_query", Response(200, evil, content_type="text/xml"))

    with pytest.raises(ConnectorError, match="DOCTYPE"):
        connector(fnac).fetch_order(order)


def test_a_403_after_signing_in_again_marks_the_channel_unhealthy(
    sim: FnacSimulator, fnac: Channel
) -> None:
    serve_instead(sim, "messages_query", Response(403, b"Forbidden", content_type="text/plain"))

    poll_channel.call(fnac.pk)

    fnac.refresh_from_db()
    assert not fnac.is_healthy
    assert "Fnac refused messages_query (HTTP 403) even with a new token" in fnac.last_error
    assert len(requests_to(sim, "auth")) == 2


def test_a_populated_simulator_is_the_same_for_the_same_seed() -> None:
    first, second = FnacSimulator(seed=3), FnacSimulator(seed=3)

    assert first.populate(orders=4) == second.populate(orders=4)
    assert [m.description for m in first.messages] == [m.description for m in second.messages]
    assert len(first.incidents) == 2
    assert first.populate(orders=1) != FnacSimulator(seed=4).populate(orders=1)


def test_answers_declaring_a_doctype_are_refused_unparsed() -> None:
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<auth_response>&x;</auth_response>"
    )
    with pytest.raises(dialect.XmlError, match="DOCTYPE"):
        dialect.parse(evil)


# -- orders ------------------------------------------------------------------------------------


def test_fetch_order_maps_the_order(sim: FnacSimulator, fnac: Channel) -> None:
    order = sim.add_order(state="Shipped", lines=2, firstname="Léa", lastname="Durand")
    lines = sim.orders[order].lines

    data = connector(fnac).fetch_order(order)

    assert data is not None
    assert data.status == "shipped"
    assert [i.title for i in data.items] == [line.product_name for line in lines]
    expected = sum(line.price * line.quantity + line.shipping_price for line in lines)
    assert data.total == str(expected)
    assert data.tracking_number == lines[0].tracking_number
    assert data.buyer is not None
    assert data.buyer.name == "Léa Durand"
    stored = store_order(fnac, data)
    assert stored.status == "shipped"
    assert connector(fnac).fetch_order("NOT-AN-ORDER") is None
    assert connector(fnac).fetch_order("0000000000000") is None


def test_orders_are_read_fifty_per_query(sim: FnacSimulator, fnac: Channel) -> None:
    orders = [sim.add_order(state="Shipped") for _ in range(60)]
    before = sim.calls["POST /api.php/orders_query"]

    found = connector(fnac).fetch_orders([*orders, "NOT-AN-ORDER"])

    assert sorted(found) == sorted(orders)
    assert sim.calls["POST /api.php/orders_query"] - before == 2  # 50 + 10, not 60


# -- the proof ---------------------------------------------------------------------------------


def test_under_random_faults_every_message_arrives_once_and_every_reply_is_sent_once(
    sim: FnacSimulator, fnac: Channel, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.check_answers_every = 10  # all requests are checked, one answer in ten
    rng_orders = [sim.add_order() for _ in range(300)]
    for n in range(700):
        sim.buyer_writes(order_id=rng_orders[n % 300], text=f"question {n}")
    for order in rng_orders[:20]:
        sim.open_incident(order, message=f"réclamation {order}")
    sim.faults.rates.update(
        {
            "error500": 0.03,
            "rate_limit": 0.03,
            "timeout": 0.01,
            "lose_response": 0.03,
            "duplicate_page": 0.1,
            "reorder_page": 0.1,
        }
    )

    # A worker dies in the middle of a sync: what was stored stays, the cursor does not move.
    original_fetch = FnacConnector.fetch

    def dying_fetch(self: FnacConnector, since: dict[str, Any]) -> Iterator[Any]:
        for n, message in enumerate(original_fetch(self, since)):
            if n == 250:
                raise Killed
            yield message

    monkeypatch.setattr(FnacConnector, "fetch", dying_fetch)
    with pytest.raises(Killed):
        poll_channel.call(fnac.pk)
    monkeypatch.setattr(FnacConnector, "fetch", original_fetch)
    assert 0 < Message.objects.count() < 720
    fnac.refresh_from_db()
    assert fnac.cursor == {}

    # And a worker dies right after Fnac took a reply, before it was recorded.
    original_send = FnacConnector.send
    deaths = {"left": 3}

    def dying_send(self: FnacConnector, outbound: Any) -> Any:
        result = original_send(self, outbound)
        if deaths["left"]:
            deaths["left"] -= 1
            raise Killed
        return result

    monkeypatch.setattr(FnacConnector, "send", dying_send)

    replies: list[str] = []

    def answer_everyone() -> None:
        for conv in Conversation.objects.filter(channel=fnac, needs_reply=True):
            if Message.objects.filter(conversation=conv, delivery_state=DeliveryState.QUEUED):
                continue
            text = f"réponse {len(replies)} à {conv.order_number}"
            replies.append(text)
            actions.reply(conv, actor=agent, text=text)

    def settle() -> None:
        for _ in range(40):
            poll_channel.call(fnac.pk)
            pending = Message.objects.filter(delivery_state=DeliveryState.QUEUED)
            settle_time_passes()  # between rounds, time for an unanswered post to land
            for message in pending:
                with contextlib.suppress(Killed):
                    send_message.call(message.pk, attempt=message.delivery_attempts + 1)
            stuck = Message.objects.filter(delivery_state=DeliveryState.SENDING)
            stuck.update(delivery_claimed_at=timezone.now() - timedelta(hours=1))
            sweep_stuck_sends.call()
            busy = Message.objects.filter(
                delivery_state__in=[DeliveryState.QUEUED, DeliveryState.SENDING]
            ).exists()
            if not busy and Message.objects.count() == len(sim.messages) + len(sim.incidents):
                return
        raise AssertionError("the channel never settled")

    settle()
    answer_everyone()
    settle()
    sim.catch_up()  # the buyers write again after the answers
    for n in range(300):
        sim.buyer_writes(order_id=rng_orders[(n * 7) % 300], text=f"relance {n}")
    settle()
    answer_everyone()
    settle()

    ours = list(Message.objects.filter(channel=fnac).values_list("external_id", flat=True))
    theirs = [m.message_id for m in sim.messages] + [
        f"incident:{i.incident_id}" for i in sim.incidents
    ]
    assert len(ours) == len(set(ours)) == len(theirs) == 1020 + len(replies)
    assert set(ours) == set(theirs)
    sent = Counter(m.description for m in sim.seller_messages())
    assert sorted(sent) == sorted(replies)
    assert set(sent.values()) == {1}
    assert not Message.objects.exclude(delivery_state__in=["", DeliveryState.SENT]).exists()
    assert fnac.__class__.objects.get(pk=fnac.pk).is_healthy
    for kind in ("error500", "rate_limit", "timeout", "lose_response"):
        assert sim.faults.injected[kind] > 0, kind
    assert sim.faults.injected["duplicate_page"] + sim.faults.injected["reorder_page"] > 0
    assert deaths["left"] == 0
    assert len(replies) >= 500
