"""Delivering replies: the send_message task through a scripted fake connector."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import User
from comptoir.connectors.base import ConnectorError, InboundMessage, SendResult
from comptoir.inbox import actions
from comptoir.inbox.actions import NewAttachment
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import (
    Channel,
    Conversation,
    DeliveryState,
    Event,
    EventKind,
    Message,
    Status,
)
from comptoir.inbox.tasks import MAX_SEND_ATTEMPTS, send_message, sweep_stuck_sends
from tests import fake_connector
from tests.fake_connector import FakeConnector

SEND_TASK = "comptoir.inbox.tasks.send_message"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeConnector]:
    return fake_connector.install(monkeypatch)


@pytest.fixture
def conv(make_inbound: Callable[..., InboundMessage]) -> Conversation:
    result = ingest(
        make_inbound(
            thread_id="T-100",
            order_number="402-1234567-1234567",
            message_id="<m2@buyer.example>",
            references=["<m1@buyer.example>"],
        )
    )
    return Conversation.objects.get(pk=result.conversation_id)


@pytest.fixture
def queued(conv: Conversation, agent: User) -> Message:
    return actions.reply(conv, actor=agent, text="Votre colis arrive demain.")


def reload(message: Message) -> Message:
    return Message.objects.get(pk=message.pk)


def kinds(conv: Conversation) -> list[str]:
    return list(
        Event.objects.filter(conversation=conv).order_by("pk").values_list("kind", flat=True)
    )


def retries() -> list[DBTaskResult[Any, Any]]:
    return list(DBTaskResult.objects.filter(task_path=SEND_TASK).order_by("enqueued_at"))


# -- success -----------------------------------------------------------------------------------


def test_a_delivered_reply_is_marked_sent_with_the_channel_id(
    fake: type[FakeConnector], queued: Message, conv: Conversation
) -> None:
    assert send_message.call(queued.pk) == "sent"

    message = reload(queued)
    assert message.delivery_state == DeliveryState.SENT
    assert message.external_id == f"fake-{queued.pk}"
    assert message.sent_at is not None
    assert message.delivery_error == ""
    assert message.delivery_attempts == 1
    assert kinds(conv)[-2:] == [EventKind.REPLIED, EventKind.DELIVERED]
    delivered = Event.objects.get(conversation=conv, kind=EventKind.DELIVERED)
    assert delivered.data == {"message_id": queued.pk}
    assert delivered.actor_label == "system"
    assert retries() == []


def test_the_connector_receives_the_reply_threaded_under_the_buyer_message(
    fake: type[FakeConnector], queued: Message
) -> None:
    send_message.call(queued.pk)

    (outbound,) = fake.sent
    assert outbound.message_id == queued.pk
    assert outbound.idempotency_key == f"comptoir-{queued.pk}"
    assert outbound.conversation_thread_id == "T-100"
    assert outbound.order_number == "402-1234567-1234567"
    assert outbound.to == "buyer@example.com"
    assert outbound.subject == "Re: Où est ma commande ?"
    assert outbound.text == "Votre colis arrive demain."
    assert outbound.in_reply_to == "<m2@buyer.example>"
    assert outbound.references == ["<m1@buyer.example>", "<m2@buyer.example>"]


def test_the_connector_receives_the_attachment_bytes(
    fake: type[FakeConnector], conv: Conversation, agent: User
) -> None:
    message = actions.reply(
        conv,
        actor=agent,
        text="Voici l'étiquette retour",
        attachments=[NewAttachment("retour.pdf", "application/pdf", b"%PDF etiquette")],
    )

    send_message.call(message.pk)

    (outbound,) = fake.sent
    (attachment,) = outbound.attachments
    assert (attachment.filename, attachment.content_type, attachment.data) == (
        "retour.pdf",
        "application/pdf",
        b"%PDF etiquette",
    )


def test_the_send_time_given_by_the_connector_is_kept(
    fake: type[FakeConnector], queued: Message
) -> None:
    when = timezone.now() - timedelta(seconds=30)
    fake.script.append(SendResult(external_id="MKP-77", sent_at=when))

    send_message.call(queued.pk)

    message = reload(queued)
    assert message.external_id == "MKP-77"
    assert message.sent_at == when


def test_sending_a_sent_message_again_does_not_send_twice(
    fake: type[FakeConnector], queued: Message, conv: Conversation
) -> None:
    assert send_message.call(queued.pk) == "sent"

    assert send_message.call(queued.pk) == "not queued"
    assert send_message.func(queued.pk, attempt=2) == "not queued"

    assert len(fake.sent) == 1
    assert kinds(conv).count(EventKind.DELIVERED) == 1
    assert reload(queued).delivery_attempts == 1


def test_a_message_another_worker_is_sending_is_left_alone(
    fake: type[FakeConnector], queued: Message
) -> None:
    Message.objects.filter(pk=queued.pk).update(delivery_state=DeliveryState.SENDING)

    assert send_message.call(queued.pk) == "not queued"

    assert fake.sent == []
    assert reload(queued).delivery_state == DeliveryState.SENDING


def test_notes_and_inbound_messages_are_never_sent(
    fake: type[FakeConnector], conv: Conversation, agent: User
) -> None:
    note = actions.add_note(conv, actor=agent, text="interne")
    inbound = Message.objects.get(conversation=conv, direction="in")

    assert send_message.call(note.pk) == "not queued"
    assert send_message.call(inbound.pk) == "not queued"
    assert fake.sent == []


# -- transient failures ------------------------------------------------------------------------


def test_a_transient_error_puts_the_message_back_in_the_queue_and_schedules_a_retry(
    fake: type[FakeConnector], queued: Message, conv: Conversation
) -> None:
    fake.script.append(ConnectorError("HTTP 503"))
    before = timezone.now()

    assert send_message.call(queued.pk) == "failed: HTTP 503"

    message = reload(queued)
    assert message.delivery_state == DeliveryState.QUEUED
    assert message.delivery_error == "HTTP 503"
    assert message.delivery_attempts == 1
    (retry,) = retries()
    assert retry.args_kwargs == {"args": [queued.pk], "kwargs": {"attempt": 2}}
    assert retry.run_after > before
    # Not final: no failure on the timeline, the buyer still counts as answered.
    assert EventKind.DELIVERY_FAILED not in kinds(conv)
    assert Conversation.objects.get(pk=conv.pk).needs_reply is False
    # The channel is not blamed for a passing error.
    channel = Channel.objects.get(pk=conv.channel_id)
    assert channel.is_healthy is True


def test_a_retry_after_from_the_connector_sets_the_retry_time(
    fake: type[FakeConnector], queued: Message
) -> None:
    fake.script.append(ConnectorError("HTTP 429", retry_after=600))
    before = timezone.now()

    send_message.call(queued.pk)

    (retry,) = retries()
    assert before + timedelta(seconds=600) <= retry.run_after
    assert retry.run_after <= timezone.now() + timedelta(seconds=600)


def test_a_retry_that_succeeds_delivers_the_message(
    fake: type[FakeConnector], queued: Message
) -> None:
    fake.script.append(ConnectorError("timeout"))
    send_message.call(queued.pk)
    (retry,) = retries()

    outcome = send_message.call(*retry.args_kwargs["args"], **retry.args_kwargs["kwargs"])

    assert outcome == "sent"
    message = reload(queued)
    assert message.delivery_state == DeliveryState.SENT
    assert message.delivery_error == ""
    assert message.delivery_attempts == 2
    # Both attempts carried the same idempotency key, so the channel can drop a duplicate.
    assert {o.idempotency_key for o in fake.sent} == {f"comptoir-{queued.pk}"}


def test_after_the_last_attempt_a_transient_error_fails_the_message(
    fake: type[FakeConnector], queued: Message, conv: Conversation
) -> None:
    fake.script.append(ConnectorError("HTTP 503"))

    send_message.call(queued.pk, attempt=MAX_SEND_ATTEMPTS)

    message = reload(queued)
    assert message.delivery_state == DeliveryState.FAILED
    assert message.delivery_error == "HTTP 503"
    assert retries() == []
    failed = Event.objects.get(conversation=conv, kind=EventKind.DELIVERY_FAILED)
    assert failed.data == {"message_id": queued.pk, "error": "HTTP 503"}
    assert Conversation.objects.get(pk=conv.pk).needs_reply is True


def test_a_message_is_tried_max_attempts_times_then_fails(
    fake: type[FakeConnector], queued: Message, conv: Conversation
) -> None:
    fake.script.extend(ConnectorError(f"HTTP 503 #{i}") for i in range(MAX_SEND_ATTEMPTS + 2))
    args, kwargs = [queued.pk], {}
    runs = 0
    while True:
        send_message.call(*args, **kwargs)
        runs += 1
        pending = retries()
        if not pending:
            break
        assert len(pending) == 1
        args, kwargs = pending[0].args_kwargs["args"], pending[0].args_kwargs["kwargs"]
        DBTaskResult.objects.filter(pk=pending[0].pk).delete()  # the worker took it
        assert runs < 20, "retries never end"

    assert runs == MAX_SEND_ATTEMPTS
    assert len(fake.sent) == MAX_SEND_ATTEMPTS
    message = reload(queued)
    assert message.delivery_state == DeliveryState.FAILED
    assert message.delivery_attempts == MAX_SEND_ATTEMPTS
    assert message.delivery_error == f"HTTP 503 #{MAX_SEND_ATTEMPTS - 1}"
    assert kinds(conv).count(EventKind.DELIVERY_FAILED) == 1


# -- permanent failures ------------------------------------------------------------------------


def test_a_permanent_error_fails_at_once_and_marks_the_channel_unhealthy(
    fake: type[FakeConnector], queued: Message, conv: Conversation
) -> None:
    fake.script.append(ConnectorError("HTTP 401: token revoked", permanent=True))

    send_message.call(queued.pk)

    message = reload(queued)
    assert message.delivery_state == DeliveryState.FAILED
    assert message.delivery_error == "HTTP 401: token revoked"
    assert len(fake.sent) == 1
    assert retries() == []
    assert kinds(conv).count(EventKind.DELIVERY_FAILED) == 1
    assert Conversation.objects.get(pk=conv.pk).needs_reply is True
    channel = Channel.objects.get(pk=conv.channel_id)
    assert channel.is_healthy is False
    assert channel.last_error == "HTTP 401: token revoked"
    assert channel.last_error_at is not None


def test_a_channel_without_a_connector_fails_the_message_for_good(
    fake: type[FakeConnector], queued: Message, conv: Conversation
) -> None:
    Channel.objects.filter(pk=conv.channel_id).update(kind="pigeon")

    send_message.call(queued.pk)

    message = reload(queued)
    assert message.delivery_state == DeliveryState.FAILED
    assert "pigeon" in message.delivery_error
    assert retries() == []
    assert Channel.objects.get(pk=conv.channel_id).is_healthy is False


def test_an_unexpected_exception_fails_the_message_and_is_not_resent(
    fake: type[FakeConnector], queued: Message, conv: Conversation
) -> None:
    fake.script.append(RuntimeError("boom"))

    assert send_message.call(queued.pk) == "crashed"

    message = reload(queued)
    assert message.delivery_state == DeliveryState.FAILED
    assert message.delivery_error == "RuntimeError: boom"
    assert retries() == []
    assert kinds(conv).count(EventKind.DELIVERY_FAILED) == 1
    assert Conversation.objects.get(pk=conv.pk).needs_reply is True
    # A bug is not the channel's fault.
    assert Channel.objects.get(pk=conv.channel_id).is_healthy is True
    assert send_message.call(queued.pk) == "not queued"
    assert len(fake.sent) == 1


def test_a_failed_auto_reply_does_not_reopen_a_question_an_agent_answered(
    fake: type[FakeConnector], conv: Conversation, agent: User
) -> None:
    """BUG: any final failure sets needs_reply=True, even for an auto-reply that never owed
    the answer, undoing the agent's reply that went out meanwhile."""
    auto = actions.reply(conv, actor=None, text="Accusé de réception", is_auto=True)
    answer = actions.reply(conv, actor=agent, text="Votre colis arrive demain.")
    assert send_message.call(answer.pk) == "sent"
    fake.script.append(ConnectorError("rejected", permanent=True))

    send_message.call(auto.pk)

    assert reload(auto).delivery_state == DeliveryState.FAILED
    assert Conversation.objects.get(pk=conv.pk).needs_reply is False


# -- retry by hand -----------------------------------------------------------------------------


def test_an_agent_can_queue_a_failed_message_again(
    fake: type[FakeConnector],
    queued: Message,
    agent: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    fake.script.append(ConnectorError("HTTP 401", permanent=True))
    send_message.call(queued.pk)

    with django_capture_on_commit_callbacks(execute=True):
        actions.retry_delivery(queued, actor=agent)

    message = reload(queued)
    assert message.delivery_state == DeliveryState.QUEUED
    assert message.delivery_error == ""
    (task,) = retries()
    assert task.args_kwargs["args"] == [queued.pk]
    assert send_message.call(queued.pk) == "sent"


def test_only_a_failed_message_can_be_queued_again(
    fake: type[FakeConnector], queued: Message, agent: User
) -> None:
    with pytest.raises(ValidationError):
        actions.retry_delivery(queued, actor=agent)  # still queued
    send_message.call(queued.pk)
    with pytest.raises(ValidationError):
        actions.retry_delivery(queued, actor=agent)  # sent
    assert reload(queued).delivery_state == DeliveryState.SENT


def test_analyst_may_not_queue_a_failed_message_again(
    fake: type[FakeConnector], queued: Message, analyst: User
) -> None:
    fake.script.append(RuntimeError("boom"))
    send_message.call(queued.pk)

    with pytest.raises(PermissionDenied):
        actions.retry_delivery(queued, actor=analyst)

    assert reload(queued).delivery_state == DeliveryState.FAILED


def test_send_and_resolve_keeps_the_status_when_delivery_succeeds(
    fake: type[FakeConnector], conv: Conversation, agent: User
) -> None:
    message = actions.reply(conv, actor=agent, text="Réglé", then_status=Status.RESOLVED)

    send_message.call(message.pk)

    stored = Conversation.objects.get(pk=conv.pk)
    assert stored.status == Status.RESOLVED
    assert stored.needs_reply is False


def test_a_send_interrupted_by_a_dead_worker_ends_failed_not_resent(
    channel: Channel, make_inbound: Any, agent: Any
) -> None:
    conv = Conversation.objects.get(pk=ingest(make_inbound()).conversation_id)
    message = actions.reply(conv, actor=agent, text="Votre colis arrive demain.")
    fresh = actions.reply(conv, actor=agent, text="Et voici le suivi.")
    Message.objects.filter(pk__in=[message.pk, fresh.pk]).update(
        delivery_state=DeliveryState.SENDING
    )
    Message.objects.filter(pk=message.pk).update(
        delivery_claimed_at=timezone.now() - timedelta(hours=1)
    )
    Message.objects.filter(pk=fresh.pk).update(delivery_claimed_at=timezone.now())

    assert sweep_stuck_sends.call() == 1

    message.refresh_from_db()
    fresh.refresh_from_db()
    assert message.delivery_state == DeliveryState.FAILED
    assert "interrupted" in message.delivery_error
    assert fresh.delivery_state == DeliveryState.SENDING
    conv.refresh_from_db()
    assert conv.needs_reply is True


def test_the_message_id_our_email_carried_is_kept_for_threading_the_answer(
    fake: type[FakeConnector], queued: Message
) -> None:
    fake.script.append(SendResult(external_id="smtp-1", message_id="<reply-1@comptoir.test>"))

    send_message.call(queued.pk)

    assert reload(queued).message_id == "<reply-1@comptoir.test>"
