"""The facts the worker keeps equal the facts recomputed from the raw rows, on a history made
through the inbox's own actions (ingest, replies, an auto-ack, resolve, reopen)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.analytics import facts, tasks
from comptoir.analytics.models import ConversationFact, ResponseFact
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Message, Status


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The queued recomputations, run at once (the worker's job); returns each task's ids."""
    ran: list[list[int]] = []

    class RunNow:
        def enqueue(self, ids: list[int]) -> None:
            ran.append(list(ids))
            facts.refresh(ids)

    monkeypatch.setattr(tasks, "in_background", lambda task: RunNow())
    return ran


def _snapshot() -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    conversations = [facts.fact_values(f) for f in ConversationFact.objects.order_by("pk")]
    waits = list(
        ResponseFact.objects.order_by("conversation_id", "received_at").values_list(
            "conversation_id", "first", "received_at", "answered_at", "seconds", "business_seconds"
        )
    )
    return conversations, waits


def test_rollup_equals_recomputation(
    channel: Channel,
    agent: User,
    make_inbound: Callable[..., InboundMessage],
    worker: list[list[int]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        first = ingest(make_inbound(thread_id="a", sent_at=now - timedelta(hours=3)))
        conv = Conversation.objects.get(pk=first.conversation_id)
        actions.reply(conv, actor=None, text="Bien reçu, nous revenons vers vous.", is_auto=True)
        actions.reply(conv, actor=agent, text="Votre colis part demain.")
        actions.set_status(conv, status=Status.RESOLVED, actor=agent)
        # Reopens (a marketplace dates the message: now, after the resolution).
        ingest(make_inbound(thread_id="a", text="Toujours rien !", sent_at=timezone.now()))
        actions.reply(conv, actor=agent, text="Le voici : 1Z999.", then_status=Status.RESOLVED)
        second = ingest(make_inbound(thread_id="b", sent_at=now - timedelta(hours=1)))
        other = Conversation.objects.get(pk=second.conversation_id)
        actions.mark_no_response_needed(other, actor=agent)
        ingest(make_inbound(thread_id="c"))  # unanswered
    assert worker, "the hooks queued no recomputation"
    kept = _snapshot()
    out = io.StringIO()
    call_command("analytics", "rebuild", stdout=out)
    assert out.getvalue().startswith("3 conversations")
    rebuilt = _snapshot()
    assert kept[0] == rebuilt[0]
    assert kept[1] == rebuilt[1]
    # And the history is what it says: the reopened conversation has two waits, no FCR.
    fact = ConversationFact.objects.get(pk=conv.pk)
    assert (fact.agent_replies, fact.reopened, fact.fcr) == (2, True, False)
    assert ResponseFact.objects.filter(conversation_id=conv.pk).count() == 2
    assert ConversationFact.objects.get(pk=other.pk).no_response_needed
    assert ConversationFact.objects.count() == 3


def test_one_recomputation_per_transaction(
    channel: Channel,
    agent: User,
    make_inbound: Callable[..., InboundMessage],
    worker: list[list[int]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    stored = ingest(make_inbound(thread_id="z"))
    conv = Conversation.objects.get(pk=stored.conversation_id)
    worker.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.assign_conversation(conv, assignee=agent, actor=agent)
        actions.reply(conv, actor=agent, text="Bonjour")
        actions.set_status(conv, status=Status.RESOLVED, actor=agent)
    assert worker == [[conv.pk]]
    assert ConversationFact.objects.get(pk=conv.pk).resolved_at is not None


def test_deleted_conversation_loses_its_facts(channel: Channel, agent: User) -> None:
    conv = Conversation.objects.create(shop_id=channel.shop_id, channel=channel)
    facts.refresh([conv.pk])
    assert ConversationFact.objects.filter(pk=conv.pk).exists()
    conv.deleted_at = timezone.now()
    conv.save()
    facts.refresh([conv.pk])
    assert not ConversationFact.objects.filter(pk=conv.pk).exists()


def test_a_deadline_passing_without_event_is_caught_up(channel: Channel) -> None:
    conv = Conversation.objects.create(shop_id=channel.shop_id, channel=channel)
    sent = timezone.now() - timedelta(hours=30)
    Message.objects.create(
        conversation=conv, channel=channel, direction="in", created_at=sent, received_at=sent
    )
    facts.refresh([conv.pk], now=sent + timedelta(hours=1))
    assert ConversationFact.objects.get(pk=conv.pk).within_sla is None
    assert tasks.refresh_pending.call() == 1
    assert ConversationFact.objects.get(pk=conv.pk).within_sla is False


def test_a_lost_refresh_is_caught_up_by_the_sweep(channel: Channel) -> None:
    from comptoir.analytics.models import FactSweep
    from comptoir.inbox.models import Event, EventKind

    lost, noted, current, untouched = (
        Conversation.objects.create(shop_id=channel.shop_id, channel=channel) for _ in range(4)
    )
    facts.refresh([lost.pk, noted.pk, current.pk, untouched.pk])
    assert tasks.refresh_stale.call() == 0  # the first sweep only marks where it starts
    assert set(FactSweep.objects.values_list("source", flat=True)) == {"message", "event"}

    def computed() -> dict[int, Any]:
        return dict(ConversationFact.objects.values_list("conversation_id", "computed_at"))

    # Written without their refresh (a worker killed between the commit and the task), but
    # `current`'s refresh ran.
    Message.objects.create(conversation=lost, channel=channel, direction="in")
    Event.objects.create(conversation=noted, kind=EventKind.NOTE_ADDED)
    Message.objects.create(conversation=current, channel=channel, direction="in")
    facts.refresh([current.pk])
    before = computed()

    assert tasks.refresh_stale.call() == 2
    after = computed()
    assert {pk for pk in after if after[pk] != before[pk]} == {lost.pk, noted.pk}
    assert tasks.refresh_stale.call() == 0  # the marks moved on
