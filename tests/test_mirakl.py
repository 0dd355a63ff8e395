"""Mirakl (Darty, Boulanger...): threads in, replies out, orders, against the simulator that
follows Mirakl's published seller API, faults included."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import User
from comptoir.connectors.base import ConnectorError
from comptoir.connectors.mirakl import simulator as mirakl_simulator
from comptoir.connectors.mirakl.connector import MiraklConnector
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox import actions
from comptoir.inbox.actions import NewAttachment
from comptoir.inbox.models import Channel, Conversation, DeliveryState, Event, Message, Shop
from comptoir.inbox.tasks import poll_channel, send_message, sweep_stuck_sends
from comptoir.lib import http
from comptoir.orders.actions import store_order
from tests.conftest import require_specs
from tests.notify_helpers import run_notification_tasks
from tests.send_support import settle_time_passes


@pytest.fixture
def sim() -> Iterator[MiraklSimulator]:
    simulator = MiraklSimulator(seed=7)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(http, "sleep", recorded.append)
    return recorded


@pytest.fixture
def darty(shop: Shop, team: Any, sim: MiraklSimulator, waits: list[float]) -> Channel:
    channel = Channel(shop=shop, kind="mirakl", marketplace="darty", name="Darty", team=team)
    channel.set_settings(
        {"base_url": sim.url, "api_key": "sim-key", "shop_id": sim.shop_id, "timeout_seconds": 0.5}
    )
    channel.save()
    return channel


def poll(channel: Channel) -> int:
    result: int = poll_channel.call(channel.pk)
    channel.refresh_from_db()
    return result


def send(message: Message, attempt: int = 1) -> Message:
    send_message.call(message.pk, attempt=attempt)
    return Message.objects.get(pk=message.pk)


def test_a_buyer_message_becomes_a_conversation_with_its_order_and_files(
    sim: MiraklSimulator, darty: Channel
) -> None:
    sim.buyer_writes(
        "Bonjour, toujours rien reçu.",
        order_id="DRT-1001-A",
        customer_id="c-42",
        customer_name="Jeanne Martin",
        topic="Colis non reçu",
        attachments=[("photo.jpg", b"\xff\xd8jpeg")],
    )

    assert poll(darty) == 1

    conv = Conversation.objects.get()
    message = conv.messages.get()
    assert (conv.subject, conv.order_number, conv.needs_reply) == (
        "Colis non reçu",
        "DRT-1001-A",
        True,
    )
    assert conv.customer is not None
    assert conv.customer.name == "Jeanne Martin"
    assert message.text == "Bonjour, toujours rien reçu."
    assert [(a.filename, a.size) for a in message.attachments.all()] == [("photo.jpg", 6)]
    assert darty.is_healthy
    assert darty.cursor["updated_since"]
    assert sim.violations == []


def test_every_page_is_read_and_the_next_poll_asks_only_for_what_is_new(
    sim: MiraklSimulator, darty: Channel
) -> None:
    for i in range(230):
        sim.buyer_writes(f"message {i}", customer_id=f"c-{i}", order_id=f"O-{i}")

    assert poll(darty) == 230
    assert sim.calls["GET /api/inbox/threads"] == 3  # 100 + 100 + 30

    sim.buyer_writes("encore une question", thread_id=next(iter(sim.threads)))
    poll(darty)

    assert Message.objects.count() == 231
    assert sim.calls["GET /api/inbox/threads"] == 4  # one page: only the updated thread


def test_a_long_thread_is_read_whole(sim: MiraklSimulator, darty: Channel) -> None:
    thread_id, _ = sim.buyer_writes("premier")
    for i in range(120):
        sim.buyer_writes(f"relance {i}", thread_id=thread_id)

    poll(darty)

    assert Message.objects.count() == 121  # the list carried the last 100; M10 the rest
    assert sim.calls[f"GET /api/inbox/threads/{thread_id}"] == 1


def test_a_reply_reaches_the_thread_once_with_its_file(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    sim.buyer_writes("Où est mon colis ?", order_id="DRT-7")
    poll(darty)
    conv = Conversation.objects.get()

    reply = actions.reply(
        conv,
        actor=agent,
        text="Il part demain.",
        attachments=[NewAttachment("suivi.pdf", "application/pdf", b"%PDF-1.4")],
    )
    sent = send(reply)

    (thread_id, seller), *others = sim.seller_messages()
    assert others == []
    assert sent.delivery_state == DeliveryState.SENT
    assert sent.external_id == seller.id
    assert seller.body == "Il part demain."
    assert [(name, size) for _, name, size in seller.attachments] == [("suivi.pdf", 8)]
    assert sim.threads[thread_id].reply_needed_since is None
    # Our answer comes back in the next poll: it is the same message, not a second one.
    poll(darty)
    conv.refresh_from_db()
    assert conv.messages.count() == 2
    assert not conv.needs_reply
    assert sim.violations == []


def test_files_over_the_limits_are_refused_before_sending(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    sim.buyer_writes("Facture ?")
    poll(darty)
    conv = Conversation.objects.get()
    big = NewAttachment("scan.pdf", "application/pdf", b"x" * 10_000_001)

    failed = send(actions.reply(conv, actor=agent, text="Voici", attachments=[big]))

    assert failed.delivery_state == DeliveryState.FAILED
    assert "Mirakl takes 10 MB per file at most" in failed.delivery_error
    assert sim.seller_messages() == []
    darty.refresh_from_db()
    assert darty.is_healthy  # the message was refused, not the channel


def test_server_errors_and_rate_limits_are_retried(
    sim: MiraklSimulator, darty: Channel, waits: list[float]
) -> None:
    sim.buyer_writes("Bonjour")
    sim.faults.add("error500", path="/api/inbox/threads$")
    sim.faults.add("rate_limit", path="/api/inbox/threads$", retry_after=3)

    assert poll(darty) == 1

    assert 3.0 in waits
    assert len(waits) == 2


def test_a_revoked_key_marks_the_channel_unhealthy_and_tells_the_admins_once(
    sim: MiraklSimulator,
    darty: Channel,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    User.objects.create_user("owner", "owner@maison-lumiere.fr", "x", role="owner")
    User.objects.create_user("agent2", "agent2@maison-lumiere.fr", "x", role="agent")
    sim.api_keys = {"another-key"}

    with django_capture_on_commit_callbacks(execute=True):
        assert poll(darty) == 0
        poll_channel.call(darty.pk)  # a poll asked by hand fails the same way: no second mail
    run_notification_tasks()  # the owners and admins are told by the notifications' task

    assert [m.to for m in mailoutbox] == [["owner@maison-lumiere.fr"]]
    assert "Darty has stopped" in mailoutbox[0].subject
    assert "Unauthorized" in mailoutbox[0].body
    assert not darty.is_healthy
    assert "401" in darty.last_error
    assert "Unauthorized" in darty.last_error
    sim.api_keys = {"sim-key"}  # the admin fixed the key
    poll(darty)
    assert darty.is_healthy
    kinds = list(Event.objects.filter(conversation=None).values_list("kind", flat=True))
    assert kinds == ["channel_unhealthy", "channel_recovered"]


def test_a_reply_whose_answer_was_lost_is_delivered_exactly_once(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    sim.buyer_writes("Remboursement ?")
    poll(darty)
    conv = Conversation.objects.get()
    sim.faults.add("lose_response", method="POST", path="/message$")
    reply = actions.reply(conv, actor=agent, text="C'est fait.")

    first = send(reply)
    assert first.delivery_state == DeliveryState.QUEUED  # unknown outcome: retried later
    poll(darty)  # the poll may even bring our own answer back before the retry
    retried = send(reply, attempt=2)

    assert retried.delivery_state == DeliveryState.SENT
    assert [m.body for _, m in sim.seller_messages()] == ["C'est fait."]
    assert retried.external_id == sim.seller_messages()[0][1].id
    conv.refresh_from_db()
    assert conv.messages.filter(direction="out").count() == 1
    assert conv.message_count == 2


@pytest.mark.parametrize("imported", [True, False], ids=["imported", "not-yet-imported"])
def test_a_reply_with_the_text_of_an_earlier_shop_message_is_not_taken_for_it_after_a_500(
    sim: MiraklSimulator, darty: Channel, agent: User, imported: bool
) -> None:
    template = "Merci, nous regardons et revenons vers vous."
    thread_id, _ = sim.buyer_writes("Colis abîmé", order_id="DRT-3")
    # The same template answered an earlier question. Imported already: the copy Comptoir
    # holds is not ours, whatever its date. Not imported yet: its date says it is older.
    old_id = sim.seller_writes(
        thread_id, template, at=None if imported else timezone.now() - timedelta(hours=2)
    )
    if imported:
        poll(darty)
    sim.buyer_writes("Et donc ?", thread_id=thread_id)
    poll(darty)
    conv = Conversation.objects.get()
    assert conv.needs_reply
    sim.faults.add("error500", method="POST", path="/message$")
    reply = actions.reply(conv, actor=agent, text=template)

    assert send(reply).delivery_state == DeliveryState.QUEUED
    assert send(reply, attempt=2).delivery_state == DeliveryState.QUEUED  # looked, not yet
    settle_time_passes()
    sent = send(reply, attempt=2)

    copies = [m for _, m in sim.seller_messages() if m.body == template]
    new = next(m for m in copies if m.id != old_id)
    assert len(copies) == 2  # the old one and exactly one new one
    assert sent.delivery_state == DeliveryState.SENT
    assert sent.external_id == new.id
    assert sent.sent_at is not None
    assert abs(sent.sent_at - new.date_created) < timedelta(seconds=1)  # M12 gives no date
    poll(darty)
    if imported:  # the imported original is still there, beside our reply
        assert Message.objects.filter(external_id=old_id).exists()
    conv.refresh_from_db()
    assert not conv.needs_reply
    assert conv.messages.filter(direction="out", text=template).count() == 2
    assert sim.violations == []


def test_a_reply_stored_after_the_client_timed_out_is_found_not_posted_again(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    sim.buyer_writes("Remboursement ?")
    poll(darty)
    conv = Conversation.objects.get()
    sim.faults.hang_seconds = 0.7  # longer than the channel's 0.5 s timeout
    sim.faults.add("store_late", method="POST", path="/message$")
    reply = actions.reply(conv, actor=agent, text="C'est fait.")

    assert send(reply).delivery_state == DeliveryState.QUEUED
    # Seconds later, Mirakl is still busy with it: the retry looks, finds nothing, and waits.
    waiting = send(reply, attempt=2)
    assert waiting.delivery_state == DeliveryState.QUEUED
    assert "looking again" in waiting.delivery_error
    assert sim.seller_messages() == []
    # It looks again within a minute, as the same attempt: looking is not failing.
    look = DBTaskResult.objects.filter(task_path="comptoir.inbox.tasks.send_message").latest(
        "enqueued_at"
    )
    assert look.args_kwargs == {"args": [reply.pk], "kwargs": {"attempt": 2}}
    assert look.run_after is not None
    assert look.run_after <= timezone.now() + timedelta(minutes=1)
    settle_time_passes(timedelta(seconds=MiraklConnector.send_settle_seconds / 2))
    assert sim.run_late() == 1  # Mirakl stores it at last
    sent = send(reply, attempt=2)

    ((_, copy),) = sim.seller_messages()
    assert (sent.delivery_state, sent.external_id) == (DeliveryState.SENT, copy.id)
    assert sent.sent_at == copy.date_created.replace(
        microsecond=copy.date_created.microsecond // 1000 * 1000
    )


def test_a_reply_the_marketplace_never_stored_is_posted_again_once_it_had_time_to(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    sim.buyer_writes("Remboursement ?")
    poll(darty)
    conv = Conversation.objects.get()
    sim.faults.hang_seconds = 0.7
    sim.faults.add("timeout", method="POST", path="/message$")  # dropped, never carried out
    reply = actions.reply(conv, actor=agent, text="C'est fait.")

    send(reply)
    assert send(reply, attempt=2).delivery_state == DeliveryState.QUEUED
    assert sim.seller_messages() == []
    settle_time_passes()
    sent = send(reply, attempt=2)

    ((_, copy),) = sim.seller_messages()
    assert (sent.delivery_state, sent.external_id) == (DeliveryState.SENT, copy.id)


def test_a_thread_with_the_operator_is_answered_to_the_operator(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    thread_id, _ = sim.operator_writes("Merci de mettre à jour vos délais d'expédition.")
    poll(darty)
    conv = Conversation.objects.get()

    sent = send(actions.reply(conv, actor=agent, text="C'est fait, merci."))

    assert sent.delivery_state == DeliveryState.SENT, sent.delivery_error
    ((answered, _),) = sim.seller_messages()
    assert answered == thread_id
    to = sim.thread_json(sim.threads[thread_id], True)["messages"][-1]["to"]
    assert [r["type"] for r in to] == ["OPERATOR"]
    assert sim.violations == []


def test_the_simulator_refuses_the_customer_on_an_operator_thread_as_mirakl_does(
    sim: MiraklSimulator, darty: Channel
) -> None:
    thread_id, _ = sim.operator_writes("Contrôle qualité")
    client = MiraklConnector(darty).client
    body = json.dumps({"body": "Bonjour", "to": [{"type": "CUSTOMER"}]})

    with pytest.raises(ConnectorError, match="CUSTOMER is not a participant") as refused:
        client.request(
            "POST",
            f"/api/inbox/threads/{thread_id}/message",
            files=[("message_input", (None, body, "application/json"))],
        )
    assert refused.value.about_message  # this message, not the channel
    assert sim.seller_messages() == []


def test_a_buyer_thread_the_operator_joined_is_answered_to_both(
    sim: MiraklSimulator, darty: Channel, agent: User
) -> None:
    thread_id, _ = sim.buyer_writes("Toujours rien", customer_id="c-9")
    sim.buyer_writes(
        "L'opérateur suit ce litige.", thread_id=thread_id, sender_type="OPERATOR_USER"
    )
    poll(darty)
    conv = Conversation.objects.get()

    sent = send(actions.reply(conv, actor=agent, text="Nous renvoyons le colis."))

    assert sent.delivery_state == DeliveryState.SENT, sent.delivery_error
    to = sim.thread_json(sim.threads[thread_id], True)["messages"][-1]["to"]
    assert sorted((r["type"], r.get("id")) for r in to) == [
        ("CUSTOMER", "c-9"),
        ("OPERATOR", None),
    ]


def test_the_shop_writes_first_about_an_order_and_the_buyer_answer_joins(
    sim: MiraklSimulator, darty: Channel, agent: User, make_inbound: Any
) -> None:
    sim.add_order("DRT-55", customer_id="c-55", customer_name="Paul")
    conv = Conversation.objects.create(
        shop=darty.shop, channel=darty, subject="Retard", order_number="DRT-55", team=darty.team
    )

    sent = send(actions.reply(conv, actor=agent, text="Votre commande aura un jour de retard."))

    assert sent.delivery_state == DeliveryState.SENT
    conv.refresh_from_db()
    (thread_id, _), *_ = sim.seller_messages()
    assert conv.external_thread_id == thread_id
    sim.buyer_writes("Merci de prévenir.", thread_id=thread_id)
    poll(darty)
    assert Conversation.objects.count() == 1
    assert conv.messages.count() == 2


def test_the_order_is_read_and_shown_beside_the_conversation(
    sim: MiraklSimulator, darty: Channel
) -> None:
    sim.add_order(
        "DRT-9",
        order_state="SHIPPED",
        carrier="COLISSIMO",
        tracking="6A123",
        total_price=129.5,
    )
    sim.buyer_writes("Où est-il ?", order_id="DRT-9")
    poll(darty)

    data = MiraklConnector(darty).fetch_order("DRT-9")
    assert data is not None
    order = store_order(darty, data)

    assert (order.status, order.carrier, order.tracking_number) == ("shipped", "COLISSIMO", "6A123")
    assert order.total == Decimal("129.5")
    assert Conversation.objects.get().order_id == order.pk
    assert MiraklConnector(darty).fetch_order("NOPE") is None


def test_test_connection_names_the_shop(sim: MiraklSimulator, darty: Channel) -> None:
    assert MiraklConnector(darty).test_connection() == "connected as shop Boutique on Darty"


def test_a_request_off_the_contract_is_refused_and_recorded(
    sim: MiraklSimulator, darty: Channel
) -> None:
    require_specs(mirakl_simulator.SPEC)
    client = MiraklConnector(darty).client
    with pytest.raises(Exception, match="contract violation"):
        client.get_json("/api/inbox/threads", params={"with_messages": "yes"})
    assert sim.violations == ["query parameter 'with_messages'='yes' is not true or false"]


def test_the_simulators_answers_follow_the_published_schema(sim: MiraklSimulator) -> None:
    require_specs(mirakl_simulator.SPEC)
    assert sim.contract is not None
    sim.buyer_writes("Bonjour", order_id="DRT-1", attachments=[("a.txt", b"a")])
    thread = sim.thread_json(next(iter(sim.threads.values())), True)

    problems = sim.contract.validate(
        {"data": [thread], "next_page_token": "x"},
        sim.contract.component("M11_Response_200"),
        "M11",
    )

    assert problems == []


class WorkerKilled(BaseException):
    """A worker process dying mid-task (not an error the code may catch)."""


def test_thousands_of_messages_and_replies_through_faults_end_exactly_once(
    sim: MiraklSimulator,
    darty: Channel,
    agent: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(3)
    threads: list[str] = []
    for i in range(300):
        thread_id, _ = sim.buyer_writes(f"Bonjour {i}", customer_id=f"c-{i}", order_id=f"O-{i}")
        threads.append(thread_id)
    for i in range(1200):
        sim.buyer_writes(f"Relance {i}", thread_id=rng.choice(threads))
    settings = darty.get_settings()
    darty.set_settings({**settings, "page_size": 10})  # many pages: many chances to fail
    darty.save()
    sim.faults.hang_seconds = 0.7
    for kind, rate in [
        ("error500", 0.05),
        ("rate_limit", 0.05),
        ("timeout", 0.02),
        ("lose_response", 0.05),
        ("duplicate_page", 0.2),
        ("reorder_page", 0.2),
    ]:
        sim.faults.rates[kind] = rate

    # A worker is killed half-way through its first sync.
    from comptoir.inbox import ingest as ingest_module

    real_batch = ingest_module._ingest_batch
    calls = Counter[str]()

    def dying_batch(*args: Any, **kwargs: Any) -> Any:
        calls["batches"] += 1
        if calls["batches"] == 4:
            raise WorkerKilled()
        return real_batch(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "_ingest_batch", dying_batch)
    with pytest.raises(WorkerKilled):
        poll(darty)
    assert 0 < Message.objects.count() < 1500

    def settle() -> None:
        """Polls, sends and sweeps, as the worker would, until nothing is left to do."""
        for _ in range(30):
            poll(darty)
            pending = Message.objects.filter(delivery_state=DeliveryState.QUEUED)
            # Time passes between rounds: an unanswered post has had time to be stored.
            settle_time_passes()
            for message in pending:
                send(message, attempt=message.delivery_attempts + 1)
            if not pending.exists() and darty.is_healthy:
                return
        raise AssertionError("the sync did not settle")

    settle()
    # Agents answer a third of the conversations; one send dies after the marketplace took it.
    convs = list(Conversation.objects.order_by("id"))
    replies = [
        actions.reply(conv, actor=agent, text=f"Réponse {n}") for n, conv in enumerate(convs[::3])
    ]
    real_send = MiraklConnector.send

    def send_then_die(self: MiraklConnector, outbound: Any) -> Any:
        real_send(self, outbound)
        raise WorkerKilled()

    monkeypatch.setattr(MiraklConnector, "send", send_then_die)
    rates = dict(sim.faults.rates)
    sim.faults.rates.clear()  # Mirakl takes this one for sure, then the worker dies
    with pytest.raises(WorkerKilled):
        send(replies[0])
    sim.faults.rates.update(rates)
    monkeypatch.setattr(MiraklConnector, "send", real_send)
    Message.objects.filter(pk=replies[0].pk).update(
        delivery_claimed_at=timezone.now() - timedelta(hours=1)
    )
    assert sweep_stuck_sends.call() == 1  # requeued: the retry asks Mirakl first
    # Buyers keep writing while the agents answer.
    for i in range(100):
        sim.buyer_writes(f"Et maintenant {i}", thread_id=rng.choice(threads))
    settle()
    sim.faults.clear()
    settle()

    ours = Counter(Message.objects.values_list("external_id", flat=True))
    theirs = Counter(m.id for _, m in sim.all_messages())
    assert ours == theirs  # one for one: none lost, none twice
    texts = Counter(m.body for _, m in sim.seller_messages())
    assert texts == Counter(r.text for r in replies)  # every reply delivered exactly once
    assert not Message.objects.exclude(delivery_state__in=["", "sent"]).exists()
    assert set(sim.faults.injected) == {
        "error500",
        "rate_limit",
        "timeout",
        "lose_response",
        "duplicate_page",
        "reorder_page",
    }
    assert sum(sim.faults.injected.values()) > 50
    assert sim.violations == []
