"""Behaviour of the inbox actions: every change to a conversation, and the events it leaves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max
from django.db.models.signals import post_save
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import Role, Team, User
from comptoir.analytics.tasks import is_facts_refresh
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions, files
from comptoir.inbox.actions import NewAttachment
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import (
    Channel,
    Conversation,
    DeliveryState,
    Direction,
    Event,
    EventKind,
    Message,
    Priority,
    Status,
    Tag,
)
from comptoir.inbox.permissions import visible_conversations
from tests.conftest import ago

SEND_TASK = "comptoir.inbox.tasks.send_message"

MakeInbound = Callable[..., InboundMessage]
NewConversation = Callable[..., Conversation]


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def new_conversation(make_inbound: MakeInbound) -> NewConversation:
    """Ingest one buyer message and return its (new, unless threaded) conversation."""

    def build(**overrides: Any) -> Conversation:
        result = ingest(make_inbound(**overrides))
        assert result.conversation_id is not None, result.error
        return Conversation.objects.get(pk=result.conversation_id)

    return build


@pytest.fixture
def conv(new_conversation: NewConversation) -> Conversation:
    return new_conversation()


def last_event_id() -> int:
    return Event.objects.aggregate(m=Max("pk"))["m"] or 0


def kinds_since(mark: int, conv: Conversation | None = None) -> list[str]:
    events = Event.objects.filter(pk__gt=mark).order_by("pk")
    if conv is not None:
        events = events.filter(conversation=conv)
    return list(events.values_list("kind", flat=True))


def last_event(conv: Conversation) -> Event:
    event = Event.objects.filter(conversation=conv).order_by("-pk").first()
    assert event is not None
    return event


def fresh(conv: Conversation) -> Conversation:
    return Conversation.objects.get(pk=conv.pk)


# -- reply -------------------------------------------------------------------------------------


def test_reply_is_stored_as_a_queued_outbound_message(conv: Conversation, agent: User) -> None:
    message = actions.reply(conv, actor=agent, text="Votre colis arrive demain.")

    message.refresh_from_db()
    assert message.conversation_id == conv.pk
    assert message.direction == Direction.OUT
    assert message.delivery_state == DeliveryState.QUEUED


def test_a_queued_reply_is_claimed_once_and_a_stuck_one_requeued_once(
    conv: Conversation, agent: User
) -> None:
    from comptoir.inbox.tasks import SEND_FIELDS
    from comptoir.jobs import claims

    message = actions.reply(conv, actor=agent, text="Votre colis arrive demain.")
    assert claims.claim(Message, message.pk, SEND_FIELDS)
    assert not claims.claim(Message, message.pk, SEND_FIELDS)  # the second worker gets nothing
    message.refresh_from_db()
    assert (message.delivery_state, message.delivery_attempts) == (DeliveryState.SENDING, 1)
    started = message.delivery_started_at
    assert started is not None
    assert claims.requeue(Message, message.pk, SEND_FIELDS)
    assert not claims.requeue(Message, message.pk, SEND_FIELDS)
    assert claims.claim(Message, message.pk, SEND_FIELDS)
    message.refresh_from_db()
    # The second attempt counts, and the first attempt's start stays.
    assert (message.delivery_attempts, message.delivery_started_at) == (2, started)
    assert message.author_id == agent.pk
    assert message.author_name == "Marie"
    assert message.text == "Votre colis arrive demain."
    assert message.channel_id == conv.channel_id
    assert message.sent_at is None


def test_reply_writes_exactly_one_replied_event_naming_the_message(
    conv: Conversation, agent: User
) -> None:
    mark = last_event_id()
    message = actions.reply(conv, actor=agent, text="Bonjour")

    assert kinds_since(mark) == [EventKind.REPLIED]
    event = last_event(conv)
    assert event.actor_id == agent.pk
    assert event.data["message_id"] == message.pk
    assert event.data["is_auto"] is False


def test_first_reply_sets_first_response_at_and_later_replies_keep_it(
    conv: Conversation, agent: User
) -> None:
    assert conv.first_response_at is None
    actions.reply(conv, actor=agent, text="Premier")
    first = fresh(conv).first_response_at
    assert first is not None

    actions.reply(conv, actor=agent, text="Second")
    assert fresh(conv).first_response_at == first


def test_reply_clears_needs_reply_and_the_respond_by_deadline(
    conv: Conversation, agent: User
) -> None:
    assert conv.needs_reply is True
    assert conv.respond_by is not None

    actions.reply(conv, actor=agent, text="Bonjour")

    stored = fresh(conv)
    assert stored.needs_reply is False
    assert stored.respond_by is None


def test_auto_reply_leaves_the_conversation_waiting_for_an_answer(conv: Conversation) -> None:
    deadline = conv.respond_by

    message = actions.reply(conv, actor=None, text="Nous avons bien reçu", is_auto=True)

    stored = fresh(conv)
    assert message.is_auto is True
    assert stored.needs_reply is True
    assert stored.respond_by == deadline
    assert stored.first_response_at is None
    assert stored.last_outbound_at is not None
    assert last_event(conv).data["is_auto"] is True


def test_reply_updates_counts_snippet_and_timestamps(conv: Conversation, agent: User) -> None:
    count = conv.message_count

    message = actions.reply(conv, actor=agent, text="Votre   colis\narrive demain.")

    stored = fresh(conv)
    assert stored.message_count == count + 1
    assert stored.snippet == "Votre colis arrive demain."
    assert stored.last_outbound_at == message.created_at
    assert stored.last_message_at == message.created_at
    # The caller's instance follows the saved row.
    assert conv.message_count == count + 1
    assert conv.needs_reply is False


def test_reply_subject_is_prefixed_once(conv: Conversation, agent: User) -> None:
    first = actions.reply(conv, actor=agent, text="Un")
    assert first.subject == "Re: Où est ma commande ?"

    Conversation.objects.filter(pk=conv.pk).update(subject="RE: déjà une réponse")
    second = actions.reply(conv, actor=agent, text="Deux")
    assert second.subject == "RE: déjà une réponse"


def test_reply_html_is_sanitised(conv: Conversation, agent: User) -> None:
    message = actions.reply(
        conv, actor=agent, text="Bonjour", html="<p>Bonjour</p><script>alert(1)</script>"
    )

    message.refresh_from_db()
    assert "<p>Bonjour</p>" in message.html
    assert "script" not in message.html


def test_reply_attachments_are_kept_by_content(conv: Conversation, agent: User) -> None:
    message = actions.reply(
        conv,
        actor=agent,
        text="Voici la facture",
        attachments=[NewAttachment("facture.pdf", "application/pdf", b"%PDF-1.7 facture")],
    )

    (attachment,) = message.attachments.all()
    assert attachment.filename == "facture.pdf"
    assert attachment.size == len(b"%PDF-1.7 facture")
    assert files.read_bytes(attachment.sha256) == b"%PDF-1.7 facture"


def test_send_and_resolve_resolves_in_the_same_step(conv: Conversation, agent: User) -> None:
    mark = last_event_id()

    actions.reply(conv, actor=agent, text="C'est réglé", then_status=Status.RESOLVED)

    stored = fresh(conv)
    assert stored.status == Status.RESOLVED
    assert stored.resolved_at is not None
    assert stored.needs_reply is False
    # One timeline line says both: replied, and the status it moved to.
    assert kinds_since(mark) == [EventKind.REPLIED]
    data = last_event(conv).data
    assert data["status"] == Status.RESOLVED
    assert data["previous"] == Status.OPEN


def test_reply_that_reopens_a_resolved_conversation_counts_a_reopen(
    conv: Conversation, agent: User
) -> None:
    actions.set_status(conv, status=Status.RESOLVED, actor=agent)

    actions.reply(conv, actor=agent, text="Encore une chose", then_status=Status.OPEN)

    stored = fresh(conv)
    assert stored.status == Status.OPEN
    assert stored.resolved_at is None
    assert stored.reopened_count == 1


def test_reply_with_the_current_status_changes_no_status(conv: Conversation, agent: User) -> None:
    actions.reply(conv, actor=agent, text="Bonjour", then_status=Status.OPEN)

    assert fresh(conv).status == Status.OPEN
    assert "status" not in last_event(conv).data


def test_reply_with_an_unknown_status_stores_nothing(conv: Conversation, agent: User) -> None:
    count = Message.objects.count()
    mark = last_event_id()

    with pytest.raises(ValidationError):
        actions.reply(conv, actor=agent, text="Bonjour", then_status="closed")

    assert Message.objects.count() == count
    assert kinds_since(mark) == []
    assert fresh(conv).needs_reply is True


def test_reply_cannot_snooze_without_a_date(conv: Conversation, agent: User) -> None:
    # Snoozed with no date, wake_snoozed would never wake it.
    with pytest.raises(ValidationError):
        actions.reply(conv, actor=agent, text="Je reviens vers vous", then_status=Status.SNOOZED)
    stored = fresh(conv)
    assert not (stored.status == Status.SNOOZED and stored.snoozed_until is None)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_reply_is_rejected(conv: Conversation, agent: User, text: str) -> None:
    count = Message.objects.count()

    with pytest.raises(ValidationError):
        actions.reply(conv, actor=agent, text=text)

    assert Message.objects.count() == count
    assert fresh(conv).needs_reply is True


def test_analyst_may_not_reply(conv: Conversation, analyst: User) -> None:
    count = Message.objects.count()

    with pytest.raises(PermissionDenied):
        actions.reply(conv, actor=analyst, text="Bonjour")

    assert Message.objects.count() == count


def test_deactivated_agent_may_not_reply(conv: Conversation, agent: User) -> None:
    agent.is_active = False
    agent.save()

    with pytest.raises(PermissionDenied):
        actions.reply(conv, actor=agent, text="Bonjour")


def test_reply_on_a_deleted_conversation_is_rejected(conv: Conversation, agent: User) -> None:
    actions.delete_conversation(conv, actor=agent)
    count = Message.objects.count()

    with pytest.raises(ValidationError):
        actions.reply(conv, actor=agent, text="Bonjour")

    assert Message.objects.count() == count


def test_reply_on_a_merged_conversation_is_rejected(
    new_conversation: NewConversation, agent: User
) -> None:
    # The source is a hidden pointer now: a reply there would never be seen.
    source, target = new_conversation(), new_conversation()
    actions.merge_conversations(source, into=target, actor=agent)

    with pytest.raises(ValidationError):
        actions.reply(source, actor=agent, text="Bonjour")
    assert not Message.objects.filter(conversation=source).exists()


def test_system_reply_is_labelled_system(conv: Conversation) -> None:
    message = actions.reply(conv, actor=None, text="Réponse automatique de règle")

    assert message.author_id is None
    assert message.author_name == ""
    event = last_event(conv)
    assert event.actor_id is None
    assert event.actor_label == "system"


def test_reply_via_a_rule_is_labelled_with_the_rule(conv: Conversation) -> None:
    actions.reply(conv, actor=None, text="Bonjour", via="rule:12")

    assert last_event(conv).actor_label == "rule:12"


def test_reply_queues_its_delivery_after_commit(
    conv: Conversation,
    agent: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = actions.reply(conv, actor=agent, text="Bonjour")
    assert not DBTaskResult.objects.filter(task_path=SEND_TASK).exists()
    (send,) = [c for c in callbacks if not is_facts_refresh(c)]

    send()

    (task,) = DBTaskResult.objects.filter(task_path=SEND_TASK)
    assert task.args_kwargs["args"] == [message.pk]


def test_a_rejected_reply_queues_nothing(
    conv: Conversation,
    agent: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ValidationError),
    ):
        actions.reply(conv, actor=agent, text="Bonjour", then_status="bogus")

    assert callbacks == []
    assert not DBTaskResult.objects.filter(task_path=SEND_TASK).exists()


# -- notes -------------------------------------------------------------------------------------


def test_note_is_internal_and_never_queued(
    conv: Conversation,
    agent: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    count = conv.message_count
    mark = last_event_id()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        note = actions.add_note(conv, actor=agent, text="Client déjà remboursé une fois")

    assert note.direction == Direction.NOTE
    assert note.delivery_state == DeliveryState.NONE
    assert [c for c in callbacks if not is_facts_refresh(c)] == []
    stored = fresh(conv)
    assert stored.message_count == count + 1
    assert stored.needs_reply is True  # a note is no answer
    assert stored.first_response_at is None
    assert kinds_since(mark) == [EventKind.NOTE_ADDED]


def test_empty_note_is_rejected(conv: Conversation, agent: User) -> None:
    with pytest.raises(ValidationError):
        actions.add_note(conv, actor=agent, text="  ")
    assert not Message.objects.filter(direction=Direction.NOTE).exists()


# -- assignment --------------------------------------------------------------------------------


def test_assigning_writes_an_assigned_event_with_the_previous_assignee(
    conv: Conversation, agent: User, supervisor: User
) -> None:
    mark = last_event_id()

    actions.assign_conversation(conv, assignee=agent, actor=supervisor)
    actions.assign_conversation(conv, assignee=supervisor, actor=supervisor)

    assert fresh(conv).assignee_id == supervisor.pk
    assert conv.assignee_id == supervisor.pk
    assert kinds_since(mark) == [EventKind.ASSIGNED, EventKind.ASSIGNED]
    data = last_event(conv).data
    assert data["assignee"] == supervisor.pk
    assert data["previous"] == agent.pk


def test_assigning_to_the_current_assignee_changes_nothing(conv: Conversation, agent: User) -> None:
    actions.assign_conversation(conv, assignee=agent, actor=agent)
    mark = last_event_id()

    actions.assign_conversation(conv, assignee=agent, actor=agent)

    assert kinds_since(mark) == []


def test_unassigning_writes_an_unassigned_event(conv: Conversation, agent: User) -> None:
    actions.assign_conversation(conv, assignee=agent, actor=agent)
    mark = last_event_id()

    actions.unassign_conversation(conv, actor=agent)

    assert fresh(conv).assignee_id is None
    assert kinds_since(mark) == [EventKind.UNASSIGNED]
    assert last_event(conv).data["previous"] == agent.pk


def test_unassigning_an_unassigned_conversation_changes_nothing(
    conv: Conversation, agent: User
) -> None:
    mark = last_event_id()

    actions.unassign_conversation(conv, actor=agent)

    assert kinds_since(mark) == []


def test_analyst_may_not_assign(conv: Conversation, analyst: User, agent: User) -> None:
    with pytest.raises(PermissionDenied):
        actions.assign_conversation(conv, assignee=agent, actor=analyst)
    assert fresh(conv).assignee_id is None


def test_moving_to_another_team_is_recorded(
    conv: Conversation, supervisor: User, team: Team, other_team: Team
) -> None:
    assert conv.team_id == team.pk
    mark = last_event_id()

    actions.assign_team(conv, team_id=other_team.pk, actor=supervisor)
    actions.assign_team(conv, team_id=other_team.pk, actor=supervisor)

    assert fresh(conv).team_id == other_team.pk
    assert kinds_since(mark) == [EventKind.ASSIGNED]
    data = last_event(conv).data
    assert data == {"team": other_team.pk, "previous_team": team.pk}


# -- tags --------------------------------------------------------------------------------------


def test_tagging_adds_the_tag_once(conv: Conversation, agent: User) -> None:
    mark = last_event_id()

    actions.tag_conversation(conv, tag=" remboursement ", actor=agent)
    actions.tag_conversation(conv, tag="remboursement", actor=agent)

    assert list(conv.tags.values_list("name", flat=True)) == ["remboursement"]
    assert Tag.objects.filter(name="remboursement").count() == 1
    assert kinds_since(mark) == [EventKind.TAGGED]
    assert last_event(conv).data["tag"] == "remboursement"


def test_tagging_with_an_empty_name_is_rejected(conv: Conversation, agent: User) -> None:
    with pytest.raises(ValidationError):
        actions.tag_conversation(conv, tag="   ", actor=agent)
    assert not Tag.objects.exists()


def test_untagging_removes_the_tag_once(conv: Conversation, agent: User) -> None:
    actions.tag_conversation(conv, tag="vip", actor=agent)
    mark = last_event_id()

    actions.untag_conversation(conv, tag="vip", actor=agent)
    actions.untag_conversation(conv, tag="vip", actor=agent)

    assert not conv.tags.exists()
    assert kinds_since(mark) == [EventKind.UNTAGGED]
    # The tag itself stays for other conversations.
    assert Tag.objects.filter(name="vip").exists()


def test_untagging_an_unknown_tag_changes_nothing(conv: Conversation, agent: User) -> None:
    mark = last_event_id()

    actions.untag_conversation(conv, tag="jamais-vu", actor=agent)

    assert kinds_since(mark) == []
    assert not Tag.objects.filter(name="jamais-vu").exists()


def test_untagging_with_the_same_long_name_removes_the_tag(conv: Conversation, agent: User) -> None:
    """BUG: tag truncates names to 64 characters, untag does not, so untag finds nothing."""
    long_name = "retour-produit-" + "x" * 60
    actions.tag_conversation(conv, tag=long_name, actor=agent)
    assert conv.tags.count() == 1

    actions.untag_conversation(conv, tag=long_name, actor=agent)

    assert conv.tags.count() == 0


# -- status ------------------------------------------------------------------------------------


def test_resolving_sets_resolved_at_and_clears_needs_reply(conv: Conversation, agent: User) -> None:
    mark = last_event_id()

    actions.set_status(conv, status=Status.RESOLVED, actor=agent)

    stored = fresh(conv)
    assert stored.status == Status.RESOLVED
    assert stored.resolved_at is not None
    assert stored.needs_reply is False
    assert conv.status == Status.RESOLVED
    assert kinds_since(mark) == [EventKind.STATUS_CHANGED]
    assert last_event(conv).data == {"previous": Status.OPEN, "status": Status.RESOLVED}


def test_resolving_clears_the_respond_by_deadline(conv: Conversation, agent: User) -> None:
    assert conv.respond_by is not None

    actions.set_status(conv, status=Status.RESOLVED, actor=agent)

    assert fresh(conv).respond_by is None


def test_reopening_a_resolved_conversation_counts_each_reopen(
    conv: Conversation, agent: User
) -> None:
    for _ in range(2):
        actions.set_status(conv, status=Status.RESOLVED, actor=agent)
        actions.set_status(conv, status=Status.OPEN, actor=agent)

    stored = fresh(conv)
    assert stored.status == Status.OPEN
    assert stored.resolved_at is None
    assert stored.reopened_count == 2


def test_moving_between_unresolved_statuses_counts_no_reopen(
    conv: Conversation, agent: User
) -> None:
    actions.set_status(conv, status=Status.PENDING, actor=agent)
    actions.set_status(conv, status=Status.OPEN, actor=agent)

    assert fresh(conv).reopened_count == 0


def test_setting_the_current_status_changes_nothing(conv: Conversation, agent: User) -> None:
    mark = last_event_id()

    actions.set_status(conv, status=Status.OPEN, actor=agent)

    assert kinds_since(mark) == []


def test_set_status_refuses_to_snooze_without_a_date(conv: Conversation, agent: User) -> None:
    with pytest.raises(ValidationError):
        actions.set_status(conv, status=Status.SNOOZED, actor=agent)
    assert fresh(conv).status == Status.OPEN


def test_set_status_rejects_an_unknown_status(conv: Conversation, agent: User) -> None:
    mark = last_event_id()
    with pytest.raises(ValidationError):
        actions.set_status(conv, status="closed", actor=agent)
    assert fresh(conv).status == Status.OPEN
    assert kinds_since(mark) == []


# -- snooze ------------------------------------------------------------------------------------


def test_snoozing_sets_the_wake_date_and_writes_a_snoozed_event(
    conv: Conversation, agent: User
) -> None:
    until = timezone.now() + timedelta(days=2)
    mark = last_event_id()

    actions.snooze_conversation(conv, until=until, actor=agent)

    stored = fresh(conv)
    assert stored.status == Status.SNOOZED
    assert stored.snoozed_until == until
    assert kinds_since(mark) == [EventKind.SNOOZED]
    data = last_event(conv).data
    assert data["until"] == until.isoformat()
    assert data["previous"] == Status.OPEN


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(minutes=-1), timedelta(days=-30)])
def test_snoozing_into_the_past_is_rejected(
    conv: Conversation, agent: User, offset: timedelta
) -> None:
    with pytest.raises(ValidationError):
        actions.snooze_conversation(conv, until=timezone.now() + offset, actor=agent)
    assert fresh(conv).status == Status.OPEN


def test_wake_snoozed_reopens_only_after_the_date(conv: Conversation, agent: User) -> None:
    until = timezone.now() + timedelta(hours=3)
    actions.snooze_conversation(conv, until=until, actor=agent)

    assert actions.wake_snoozed(until - timedelta(seconds=1)) == 0
    assert fresh(conv).status == Status.SNOOZED

    mark = last_event_id()
    assert actions.wake_snoozed(until + timedelta(seconds=1)) == 1

    stored = fresh(conv)
    assert stored.status == Status.OPEN
    assert stored.snoozed_until is None
    assert kinds_since(mark) == [EventKind.STATUS_CHANGED]
    event = last_event(conv)
    assert event.actor_id is None
    assert event.actor_label == "snooze"
    assert event.data == {"previous": Status.SNOOZED, "status": Status.OPEN}


def test_changing_status_of_a_snoozed_conversation_drops_the_wake_date(
    conv: Conversation, agent: User
) -> None:
    actions.snooze_conversation(conv, until=timezone.now() + timedelta(days=1), actor=agent)

    actions.set_status(conv, status=Status.OPEN, actor=agent)

    assert fresh(conv).snoozed_until is None
    assert actions.wake_snoozed(timezone.now() + timedelta(days=2)) == 0


@pytest.fixture
def on_conversation_save() -> Iterator[list[Callable[[Conversation], None]]]:
    """Run hooks when a conversation is saved: a way to act "meanwhile" inside a sweep."""
    hooks: list[Callable[[Conversation], None]] = []

    def receiver(sender: type[Conversation], instance: Conversation, **kwargs: Any) -> None:
        for hook in list(hooks):
            hook(instance)

    post_save.connect(receiver, sender=Conversation, dispatch_uid="test-meanwhile")
    yield hooks
    post_save.disconnect(sender=Conversation, dispatch_uid="test-meanwhile")


def _two_snoozed(
    new_conversation: NewConversation, agent: User
) -> tuple[list[Conversation], datetime]:
    until = timezone.now() + timedelta(hours=1)
    convs = [new_conversation(), new_conversation()]
    for c in convs:
        actions.snooze_conversation(c, until=until, actor=agent)
    return convs, until


def test_wake_skips_a_conversation_an_agent_changed_meanwhile(
    new_conversation: NewConversation,
    agent: User,
    on_conversation_save: list[Callable[[Conversation], None]],
) -> None:
    convs, until = _two_snoozed(new_conversation, agent)
    changed: list[int] = []

    def agent_resolves_the_other(woken: Conversation) -> None:
        if changed:
            return
        other = next(c for c in convs if c.pk != woken.pk)
        Conversation.objects.filter(pk=other.pk).update(status=Status.RESOLVED)
        changed.append(other.pk)

    on_conversation_save.append(agent_resolves_the_other)

    assert actions.wake_snoozed(until + timedelta(minutes=1)) == 1
    assert fresh(Conversation(pk=changed[0])).status == Status.RESOLVED


def test_wake_skips_a_conversation_snoozed_again_meanwhile(
    new_conversation: NewConversation,
    agent: User,
    on_conversation_save: list[Callable[[Conversation], None]],
) -> None:
    """BUG: under the lock wake_snoozed checks the status only, not the (new) wake date."""
    convs, until = _two_snoozed(new_conversation, agent)
    later = until + timedelta(days=3)
    changed: list[int] = []

    def agent_snoozes_the_other_longer(woken: Conversation) -> None:
        if changed:
            return
        other = next(c for c in convs if c.pk != woken.pk)
        Conversation.objects.filter(pk=other.pk).update(snoozed_until=later)
        changed.append(other.pk)

    on_conversation_save.append(agent_snoozes_the_other_longer)

    actions.wake_snoozed(until + timedelta(minutes=1))

    other = fresh(Conversation(pk=changed[0]))
    assert other.status == Status.SNOOZED
    assert other.snoozed_until == later


def test_wake_snoozed_task_uses_the_current_time(conv: Conversation, agent: User) -> None:
    from comptoir.inbox import tasks

    actions.snooze_conversation(conv, until=timezone.now() + timedelta(hours=1), actor=agent)

    assert tasks.wake_snoozed.call() == 0
    assert fresh(conv).status == Status.SNOOZED


# -- priority, archive -------------------------------------------------------------------------


def test_changing_priority_writes_the_old_and_new_priority(conv: Conversation, agent: User) -> None:
    mark = last_event_id()

    actions.set_priority(conv, priority=Priority.URGENT, actor=agent)
    actions.set_priority(conv, priority=Priority.URGENT, actor=agent)

    assert fresh(conv).priority == Priority.URGENT
    assert kinds_since(mark) == [EventKind.PRIORITY_CHANGED]
    assert last_event(conv).data == {"previous": Priority.NORMAL, "priority": Priority.URGENT}


def test_unknown_priority_is_rejected(conv: Conversation, agent: User) -> None:
    with pytest.raises(ValidationError):
        actions.set_priority(conv, priority=9, actor=agent)
    assert fresh(conv).priority == Priority.NORMAL


def test_archiving_and_unarchiving_write_their_events_once(conv: Conversation, agent: User) -> None:
    mark = last_event_id()

    actions.archive_conversation(conv, actor=agent)
    actions.archive_conversation(conv, actor=agent)
    assert fresh(conv).archived is True
    actions.archive_conversation(conv, actor=agent, archived=False)

    assert fresh(conv).archived is False
    assert kinds_since(mark) == [EventKind.ARCHIVED, EventKind.UNARCHIVED]


# -- delete, restore, purge --------------------------------------------------------------------


def test_deleting_is_soft_and_hides_the_conversation(conv: Conversation, supervisor: User) -> None:
    mark = last_event_id()

    actions.delete_conversation(conv, actor=supervisor)

    stored = fresh(conv)
    assert stored.deleted_at is not None
    assert stored.is_visible is False
    assert Message.objects.filter(conversation=conv).exists()
    assert not visible_conversations(supervisor).filter(pk=conv.pk).exists()
    assert kinds_since(mark) == [EventKind.DELETED]


def test_a_deleted_conversation_can_not_be_changed(conv: Conversation, agent: User) -> None:
    actions.delete_conversation(conv, actor=agent)

    for change in (
        lambda: actions.delete_conversation(conv, actor=agent),
        lambda: actions.set_status(conv, status=Status.RESOLVED, actor=agent),
        lambda: actions.tag_conversation(conv, tag="x", actor=agent),
        lambda: actions.assign_conversation(conv, assignee=agent, actor=agent),
    ):
        with pytest.raises(ValidationError):
            change()
    assert fresh(conv).status == Status.OPEN


def test_a_buyer_writing_on_a_deleted_thread_starts_a_new_conversation(
    new_conversation: NewConversation, agent: User
) -> None:
    first = new_conversation(thread_id="T-DEL")
    actions.delete_conversation(first, actor=agent)

    second = new_conversation(thread_id="T-DEL")

    assert second.pk != first.pk
    assert second.is_visible


def test_restoring_is_refused_when_a_newer_conversation_continues_the_thread(
    new_conversation: NewConversation, agent: User
) -> None:
    first = new_conversation(thread_id="T-RESTORE")
    actions.delete_conversation(first, actor=agent)
    second = new_conversation(thread_id="T-RESTORE")
    mark = last_event_id()

    with pytest.raises(ValidationError):
        actions.restore_conversation(first, actor=None)

    assert fresh(first).deleted_at is not None
    assert fresh(second).is_visible
    assert kinds_since(mark) == []


def test_restoring_brings_a_deleted_conversation_back(conv: Conversation, supervisor: User) -> None:
    actions.delete_conversation(conv, actor=supervisor)
    mark = last_event_id()
    admin = User.objects.create_user("alex", "alex@example.com", "pw", role=Role.ADMIN)

    actions.restore_conversation(conv, actor=admin)
    actions.restore_conversation(conv, actor=admin)

    assert fresh(conv).deleted_at is None
    assert visible_conversations(supervisor).filter(pk=conv.pk).exists()
    assert kinds_since(mark) == [EventKind.RESTORED]


def test_analyst_may_not_delete(conv: Conversation, analyst: User) -> None:
    with pytest.raises(PermissionDenied):
        actions.delete_conversation(conv, actor=analyst)
    assert fresh(conv).deleted_at is None


def test_purge_hard_deletes_only_conversations_deleted_before_the_cutoff(
    new_conversation: NewConversation, agent: User
) -> None:
    old, recent, alive = new_conversation(), new_conversation(), new_conversation()
    actions.reply(old, actor=agent, text="Bonjour")
    for c in (old, recent):
        actions.delete_conversation(c, actor=agent)
    Conversation.objects.filter(pk=old.pk).update(deleted_at=ago(days=31))

    assert actions.purge_deleted(ago(days=30)) == 1

    assert not Conversation.objects.filter(pk=old.pk).exists()
    assert not Message.objects.filter(conversation_id=old.pk).exists()
    assert not Event.objects.filter(conversation_id=old.pk).exists()
    assert Conversation.objects.filter(pk__in=[recent.pk, alive.pk]).count() == 2
    assert actions.purge_deleted(ago(days=30)) == 0


def test_purge_task_keeps_deleted_conversations_for_the_retention_period(
    new_conversation: NewConversation, agent: User, settings: Any
) -> None:
    from comptoir.inbox import tasks

    settings.DELETED_RETENTION_DAYS = 10
    old, recent = new_conversation(), new_conversation()
    for c in (old, recent):
        actions.delete_conversation(c, actor=agent)
    Conversation.objects.filter(pk=old.pk).update(deleted_at=ago(days=11))
    Conversation.objects.filter(pk=recent.pk).update(deleted_at=ago(days=9))

    result = tasks.purge.call()

    assert result["conversations"] == 1
    assert list(Conversation.objects.values_list("pk", flat=True)) == [recent.pk]


def test_purging_a_merge_target_does_not_resurrect_its_merged_conversations(
    new_conversation: NewConversation, supervisor: User
) -> None:
    """BUG: purge sets merged_into=None on the sources, which become visible empty shells."""
    source, target = new_conversation(), new_conversation()
    actions.merge_conversations(source, into=target, actor=supervisor)
    actions.delete_conversation(target, actor=supervisor)
    Conversation.objects.filter(pk=target.pk).update(deleted_at=ago(days=60))

    actions.purge_deleted(ago(days=30))

    assert not visible_conversations(supervisor).filter(pk=source.pk).exists()


# -- merge -------------------------------------------------------------------------------------


@pytest.fixture
def pair(new_conversation: NewConversation, agent: User) -> tuple[Conversation, Conversation]:
    """An older conversation (answered once) and a newer one, from the same buyer."""
    source = new_conversation(
        thread_id="T-OLD", sent_at=ago(hours=5), text="Première question", order_number="A-1"
    )
    actions.reply(source, actor=agent, text="Réponse à la première")
    actions.tag_conversation(source, tag="livraison", actor=agent)
    new_conversation(thread_id="T-OLD", sent_at=ago(hours=4), text="Relance")
    source.refresh_from_db()
    target = new_conversation(thread_id="T-NEW", sent_at=ago(hours=1), text="Nouvelle question")
    actions.tag_conversation(target, tag="vip", actor=agent)
    actions.tag_conversation(target, tag="livraison", actor=agent)
    target.refresh_from_db()
    return source, target


def test_merge_moves_messages_and_events_into_the_target(
    pair: tuple[Conversation, Conversation], agent: User
) -> None:
    source, target = pair
    source_messages = set(Message.objects.filter(conversation=source).values_list("pk", flat=True))
    source_events = set(Event.objects.filter(conversation=source).values_list("pk", flat=True))
    mark = last_event_id()

    result = actions.merge_conversations(source, into=target, actor=agent)

    assert result.pk == target.pk
    assert source_messages <= set(
        Message.objects.filter(conversation=target).values_list("pk", flat=True)
    )
    assert source_events <= set(
        Event.objects.filter(conversation=target).values_list("pk", flat=True)
    )
    assert not Message.objects.filter(conversation=source).exists()
    assert kinds_since(mark, target) == [EventKind.MERGED]
    assert kinds_since(mark, source) == [EventKind.MERGED]
    assert last_event(target).data == {"merged_from": source.pk, "messages": 3}
    assert last_event(source).data == {"merged_into": target.pk}


def test_merge_combines_counts_timestamps_and_tags(
    pair: tuple[Conversation, Conversation], agent: User
) -> None:
    source, target = pair
    before_source, before_target = fresh(source), fresh(target)

    actions.merge_conversations(source, into=target, actor=agent)

    merged = fresh(target)
    assert before_source.last_message_at
    assert before_target.last_message_at
    assert merged.message_count == before_source.message_count + before_target.message_count == 4
    assert merged.message_count == Message.objects.filter(conversation=target).count()
    assert merged.first_inbound_at == before_source.first_inbound_at
    assert merged.last_inbound_at == before_target.last_inbound_at
    assert merged.first_response_at == before_source.first_response_at
    assert merged.last_outbound_at == before_source.last_outbound_at
    assert merged.last_message_at == max(
        before_source.last_message_at, before_target.last_message_at
    )
    # The target's question (an hour ago) waited, but the merged timeline holds a later answer
    # (the agent's reply, sent just now): nothing waits any more.
    assert before_target.needs_reply is True
    assert merged.needs_reply is False
    assert merged.respond_by is None
    assert merged.order_number == "A-1"
    assert sorted(merged.tags.values_list("name", flat=True)) == ["livraison", "vip"]
    # The caller's instance of the target follows.
    assert target.message_count == 4


def test_merged_source_points_to_its_target_and_is_hidden(
    pair: tuple[Conversation, Conversation], supervisor: User
) -> None:
    source, target = pair

    actions.merge_conversations(source, into=target, actor=supervisor)

    stored = fresh(source)
    assert stored.merged_into_id == target.pk
    assert source.merged_into_id == target.pk
    assert stored.message_count == 0
    assert stored.needs_reply is False
    assert stored.respond_by is None
    assert stored.is_visible is False
    assert list(visible_conversations(supervisor).values_list("pk", flat=True)) == [target.pk]


def test_merging_into_itself_is_rejected(conv: Conversation, agent: User) -> None:
    mark = last_event_id()
    with pytest.raises(ValidationError):
        actions.merge_conversations(conv, into=conv, actor=agent)
    assert fresh(conv).merged_into_id is None
    assert kinds_since(mark) == []


def test_merging_a_merged_or_deleted_conversation_is_rejected(
    new_conversation: NewConversation, agent: User
) -> None:
    a, b, c, d = (new_conversation() for _ in range(4))
    actions.merge_conversations(a, into=b, actor=agent)
    actions.delete_conversation(d, actor=agent)

    with pytest.raises(ValidationError):
        actions.merge_conversations(a, into=c, actor=agent)  # a is already merged
    with pytest.raises(ValidationError):
        actions.merge_conversations(c, into=a, actor=agent)  # into a pointer
    with pytest.raises(ValidationError):
        actions.merge_conversations(c, into=d, actor=agent)  # into a deleted one
    assert fresh(c).merged_into_id is None
    assert fresh(a).merged_into_id == b.pk


def test_analyst_may_not_merge(pair: tuple[Conversation, Conversation], analyst: User) -> None:
    source, target = pair
    with pytest.raises(PermissionDenied):
        actions.merge_conversations(source, into=target, actor=analyst)
    assert fresh(source).merged_into_id is None


def test_merge_reopens_a_resolved_target_when_the_source_awaits_an_answer(
    new_conversation: NewConversation, agent: User
) -> None:
    source, target = new_conversation(), new_conversation()
    actions.set_status(target, status=Status.RESOLVED, actor=agent)

    actions.merge_conversations(source, into=target, actor=agent)

    merged = fresh(target)
    assert merged.status == Status.OPEN
    assert merged.needs_reply is True
    assert merged.resolved_at is None
    assert merged.reopened_count == 1


def test_a_new_message_on_a_merged_thread_lands_in_the_target(
    pair: tuple[Conversation, Conversation],
    new_conversation: NewConversation,
    agent: User,
) -> None:
    source, target = pair
    actions.merge_conversations(source, into=target, actor=agent)
    count = fresh(target).message_count

    landed = new_conversation(thread_id="T-OLD", text="Toujours rien reçu")

    assert landed.pk == target.pk
    assert landed.message_count == count + 1
    assert fresh(source).message_count == 0


def test_merge_shows_the_snippet_of_the_latest_message(
    new_conversation: NewConversation, agent: User
) -> None:
    """BUG: the target keeps its own snippet even when the source had the latest message."""
    target = new_conversation(sent_at=ago(hours=3), text="Ancienne question")
    source = new_conversation(sent_at=ago(minutes=1), text="Dernier message du client")

    latest = source.last_message_at

    actions.merge_conversations(source, into=target, actor=agent)

    merged = fresh(target)
    assert merged.last_message_at == latest
    assert merged.snippet == "Dernier message du client"


# -- bulk --------------------------------------------------------------------------------------


def test_bulk_apply_lets_each_conversation_succeed_or_fail_on_its_own(
    new_conversation: NewConversation, agent: User
) -> None:
    a, deleted, b = new_conversation(), new_conversation(), new_conversation()
    actions.delete_conversation(deleted, actor=agent)

    result = actions.bulk_apply("tag", [a, deleted, b], actor=agent, tag="promo")

    assert result.done == [a.pk, b.pk]
    assert list(result.failed) == [deleted.pk]
    assert "deleted" in result.failed[deleted.pk]
    assert set(Tag.objects.get(name="promo").conversations.values_list("pk", flat=True)) == {
        a.pk,
        b.pk,
    }


def test_bulk_apply_reports_a_conversation_that_vanished(
    new_conversation: NewConversation, agent: User
) -> None:
    """BUG: only ValidationError and PermissionDenied are caught; DoesNotExist aborts the batch."""
    a, gone, b = new_conversation(), new_conversation(), new_conversation()
    Conversation.objects.filter(pk=gone.pk).delete()  # purged while the agent looked

    result = actions.bulk_apply("set_priority", [a, gone, b], actor=agent, priority=Priority.HIGH)

    assert result.done == [a.pk, b.pk]
    assert list(result.failed) == [gone.pk]


def test_bulk_apply_passes_its_arguments_to_the_action(
    new_conversation: NewConversation, agent: User, supervisor: User
) -> None:
    convs = [new_conversation(), new_conversation()]
    until = timezone.now() + timedelta(days=1)

    snoozed = actions.bulk_apply("snooze", convs, actor=agent, until=until)
    assigned = actions.bulk_apply("assign", convs, actor=supervisor, assignee=agent)

    assert snoozed.done == assigned.done == [c.pk for c in convs]
    for c in convs:
        stored = fresh(c)
        assert stored.status == Status.SNOOZED
        assert stored.snoozed_until == until
        assert stored.assignee_id == agent.pk


def test_bulk_apply_reports_invalid_input_per_conversation(
    new_conversation: NewConversation, agent: User
) -> None:
    convs = [new_conversation(), new_conversation()]

    result = actions.bulk_apply("set_status", convs, actor=agent, status="closed")

    assert result.done == []
    assert set(result.failed) == {c.pk for c in convs}
    assert all("unknown status" in reason for reason in result.failed.values())


def test_bulk_apply_rejects_an_unknown_action(conv: Conversation, agent: User) -> None:
    with pytest.raises(ValidationError):
        actions.bulk_apply("explode", [conv], actor=agent)


def test_bulk_apply_refuses_a_read_only_user_before_touching_anything(
    conv: Conversation, analyst: User
) -> None:
    mark = last_event_id()
    with pytest.raises(PermissionDenied):
        actions.bulk_apply("archive", [conv], actor=analyst)
    assert fresh(conv).archived is False
    assert kinds_since(mark) == []


def test_bulk_actions_write_one_event_per_changed_conversation(
    new_conversation: NewConversation, agent: User
) -> None:
    a, b = new_conversation(), new_conversation()
    actions.archive_conversation(a, actor=agent)
    mark = last_event_id()

    result = actions.bulk_apply("archive", [a, b], actor=agent)

    assert result.done == [a.pk, b.pk]
    assert kinds_since(mark, a) == []
    assert kinds_since(mark, b) == [EventKind.ARCHIVED]


# -- channels ----------------------------------------------------------------------------------


def test_a_permanent_channel_error_alerts_only_when_the_channel_turns_unhealthy(
    channel: Channel,
) -> None:
    assert actions.record_channel_error(channel, error="token revoked", permanent=True) is True
    assert actions.record_channel_error(channel, error="token revoked", permanent=True) is False

    channel.refresh_from_db()
    assert channel.is_healthy is False
    assert channel.last_error == "token revoked"
    assert channel.last_error_at is not None


def test_a_transient_channel_error_is_kept_but_does_not_mark_the_channel_unhealthy(
    channel: Channel,
) -> None:
    assert actions.record_channel_error(channel, error="HTTP 503", permanent=False) is False

    channel.refresh_from_db()
    assert channel.is_healthy is True
    assert channel.last_error == "HTTP 503"
    assert channel.last_error_at is not None
    assert actions.record_channel_error(channel, error="HTTP 401", permanent=True) is True


def test_a_later_error_on_an_unhealthy_channel_updates_the_reason(channel: Channel) -> None:
    actions.record_channel_error(channel, error="first", permanent=True)

    actions.record_channel_error(channel, error="second", permanent=False)

    channel.refresh_from_db()
    assert channel.is_healthy is False
    assert channel.last_error == "second"


def test_channel_success_restores_health_and_saves_the_cursor(channel: Channel) -> None:
    actions.record_channel_error(channel, error="token revoked", permanent=True)

    actions.record_channel_success(channel, cursor={"since": "2026-01-01T00:00:00Z"})

    channel.refresh_from_db()
    assert channel.is_healthy is True
    assert channel.last_sync_at is not None
    assert channel.cursor == {"since": "2026-01-01T00:00:00Z"}
    # Healthy again: the next permanent failure must alert again.
    assert actions.record_channel_error(channel, error="token revoked", permanent=True) is True


def test_channel_success_without_a_cursor_keeps_the_stored_one(channel: Channel) -> None:
    actions.record_channel_success(channel, cursor={"page": 3})

    actions.record_channel_success(channel)

    channel.refresh_from_db()
    assert channel.cursor == {"page": 3}
