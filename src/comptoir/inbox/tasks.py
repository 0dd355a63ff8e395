"""Background work of the inbox: delivering replies, polling channels, waking snoozes, purging."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.tasks import TaskResultStatus, task
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils import timezone

from comptoir.connectors.base import ConnectorError, OutboundAttachment, OutboundMessage
from comptoir.connectors.registry import (
    CONNECTORS,
    background_services,
    connector_class,
    get_connector,
)
from comptoir.inbox import actions, files
from comptoir.inbox.ingest import Outcome, ingest_many, recover_stale, retry_failed
from comptoir.inbox.models import (
    Channel,
    DeliveryState,
    InboundRecord,
    InboundState,
    Message,
)
from comptoir.jobs import claims
from comptoir.jobs.periodic import periodic, register_services
from comptoir.jobs.retry import retry_later

logger = logging.getLogger("comptoir.inbox")

MAX_SEND_ATTEMPTS = 6
# Base of the backoff between send attempts, in seconds (10 s, 20 s, 40 s... with jitter).
SEND_BACKOFF = 10.0
SEND_FIELDS = claims.SendFields(
    state="delivery_state",
    attempts="delivery_attempts",
    claimed_at="delivery_claimed_at",
    started_at="delivery_started_at",
)


@task()
def send_message(message_id: int, attempt: int = 1) -> str:
    """Deliver one queued reply through its channel's connector, retrying transient failures."""
    if not claims.claim(Message, message_id, SEND_FIELDS):
        return "not queued"  # sent already, or another worker has it
    message = Message.objects.select_related(
        "conversation", "conversation__customer", "channel"
    ).get(pk=message_id)
    posted = False
    try:
        connector = get_connector(message.channel)
        outbound = _outbound(message)
        result = None
        if message.delivery_attempts > 1 and connector.can_find_sent():
            # An earlier attempt may have reached the marketplace (its answer was lost, or
            # the worker died): ask before sending again, so the buyer gets it once.
            result = connector.find_sent(outbound)
            if result is None and message.delivery_posted_at is not None:
                settled = message.delivery_posted_at + connector.send_settle_time()
                if timezone.now() < settled:
                    return _look_again(message, attempt, settled)
        if result is None:
            # Written before the request goes out: a worker killed while it is in flight
            # leaves the trace its retry needs.
            Message.objects.filter(pk=message.pk).update(delivery_posted_at=timezone.now())
            posted = True
            result = connector.send(outbound)
    except ConnectorError as exc:
        if posted and not exc.maybe_sent:
            # The marketplace said no (or was never reached): nothing of it can land later.
            Message.objects.filter(pk=message.pk).update(delivery_posted_at=None)
        final = exc.permanent or attempt >= MAX_SEND_ATTEMPTS
        actions.record_delivery_failure(message, error=str(exc), final=final)
        if exc.permanent and not exc.about_message:
            actions.record_channel_error(message.channel, error=str(exc), permanent=True)
        if not final:
            retry_later(
                send_message, message_id, attempt=attempt, base=SEND_BACKOFF, wait=exc.retry_after
            )
        return f"failed: {exc}"
    except Exception as exc:
        # A bug or an unexpected error: the agent sees it, nothing is resent blindly.
        logger.exception("sending message %s crashed", message_id)
        actions.record_delivery_failure(message, error=f"{type(exc).__name__}: {exc}", final=True)
        return "crashed"
    actions.record_delivery(
        message,
        external_id=result.external_id,
        sent_at=result.sent_at,
        message_id=result.message_id,
        thread_id=result.thread_id,
    )
    return "sent"


# A reply whose earlier request may still be stored by the marketplace is looked for again at
# most this often until the connector's settle time has passed.
LOOK_AGAIN_EVERY = timedelta(minutes=1)


def _look_again(message: Message, attempt: int, settled: datetime) -> str:
    """The earlier request may still be stored: posting now could give the buyer two copies.
    Back in the queue, to look again (the same attempt: looking is not failing)."""
    when = min(settled, timezone.now() + LOOK_AGAIN_EVERY)
    note = (
        "the marketplace has not shown this reply yet after an unanswered attempt; looking "
        f"again before sending it again (at the latest at {settled:%H:%M:%S} UTC)"
    )
    actions.record_delivery_failure(message, error=note, final=False)
    send_message.using(run_after=when).enqueue(message.pk, attempt=attempt)
    return "looking"


def _outbound(message: Message) -> OutboundMessage:
    conv = message.conversation
    previous = (
        Message.objects.filter(conversation=conv, direction="in")
        .exclude(message_id="")
        .order_by("-created_at", "-id")  # same second: the one stored last
        .values_list("message_id", "references", "in_reply_to")
        .first()
    )
    in_reply_to, references = "", []
    if previous:
        parent, parent_refs, parent_reply_to = previous
        in_reply_to = parent
        # RFC 5322 3.6.4: the parent's References, or else its In-Reply-To, then the parent.
        ancestors = parent_refs.split() or ([parent_reply_to] if parent_reply_to else [])
        references = [*ancestors, parent]
    return OutboundMessage(
        message_id=message.pk,
        idempotency_key=f"comptoir-{message.pk}",
        conversation_thread_id=conv.external_thread_id,
        to=conv.customer.email if conv.customer else "",
        subject=message.subject,
        text=message.text,
        html=message.html,
        in_reply_to=in_reply_to,
        references=references,
        order_number=conv.order_number,
        conversation_subject=conv.subject,
        conversation_id=conv.pk,
        attempt_started_at=message.delivery_started_at,
        # An outgoing message's marketplace reason is the type it was queued as (proactive care).
        message_type=message.marketplace_reason,
        attachments=[
            OutboundAttachment(a.filename, a.content_type, files.read_bytes(a.sha256))
            for a in message.attachments.exclude(sha256="")
        ],
    )


# Connectors' long-running helpers (e.g. IMAP IDLE) run in every worker's scheduler.
register_services(background_services)


# A poll stores a page of messages per transaction (and the tasks they queue, once per page).
POLL_BATCH_SIZE = 100
POLL_BATCH_BYTES = 4_000_000


@task()
def poll_channel(channel_id: int) -> int:
    """Fetch what is new on one channel; ingest is idempotent, so a re-poll is harmless."""
    channel = Channel.objects.get(pk=channel_id)
    connector = get_connector(channel)
    try:
        # A poll stores what it fetched in small batches: one transaction per page-sized batch
        # rather than per message, and per few megabytes (a big mail alone), so that memory
        # stays bounded and the first mail is visible before the last is read. The cursor is
        # saved only after everything is stored (ingest is idempotent: a re-read is harmless).
        counts = ingest_many(
            connector.fetch(dict(channel.cursor)),
            source="connector",
            batch_size=POLL_BATCH_SIZE,
            batch_bytes=POLL_BATCH_BYTES,
        )
    except ConnectorError as exc:
        if actions.record_channel_error(
            channel, error=str(exc), permanent=exc.permanent, retry_after=exc.retry_after
        ):
            logger.error("channel %s is %s: %s", channel, channel.health, exc)
        return 0
    actions.record_channel_success(channel, cursor=connector.cursor)
    try:
        connector.acknowledge()
    except Exception:  # stored is stored: a source that cannot be told is told next time
        logger.exception("channel %s: acknowledging what was stored failed", channel)
    return sum(counts.values())


@periodic("inbox.poll_channels", every=timedelta(minutes=1))
@task()
def poll_channels() -> int:
    """Queue a poll of every active, healthy channel whose connector fetches, unless the
    marketplace asked us to wait longer (Retry-After)."""
    channels = Channel.objects.filter(
        is_active=True, is_healthy=True, kind__in=list(CONNECTORS)
    ).exclude(poll_after__gt=timezone.now())
    # A channel whose connector needs settings and has none was never set up: nothing to
    # poll, and nothing to alert anyone about.
    ids = [
        c.pk
        for c in channels
        if connector_class(c.kind).can_fetch()
        and (c.settings_encrypted or connector_class(c.kind).settings_model is None)
    ]
    for channel_id in ids:
        poll_channel.enqueue(channel_id)
    return len(ids)


@periodic("inbox.wake_snoozed", every=timedelta(minutes=1))
@task()
def wake_snoozed() -> int:
    return actions.wake_snoozed()


@periodic("inbox.purge", every=timedelta(hours=6))
@task()
def purge() -> dict[str, int]:
    """Drop soft-deleted conversations and stored raw records past their retention."""
    now = timezone.now()
    conversations = actions.purge_deleted(now - timedelta(days=settings.DELETED_RETENTION_DAYS))
    cutoff = now - timedelta(days=settings.INBOUND_RETENTION_DAYS)
    # Only records that made it into the inbox: failed ones stay until a human retries them.
    records, _ = InboundRecord.objects.filter(
        state__in=[InboundState.STORED, InboundState.DUPLICATE], received_at__lt=cutoff
    ).delete()
    return {"conversations": conversations, "inbound_records": records}


STUCK_SENDING_AFTER = timedelta(minutes=15)


def _can_find_sent(channel: Channel) -> bool:
    try:
        return connector_class(channel.kind).can_find_sent()
    except ConnectorError:
        return False


@periodic("inbox.recover_stale_inbound", every=timedelta(minutes=5))
@task()
def recover_stale_inbound() -> int:
    """Raw records a crash left unstored are stored now: nothing received is lost."""
    return len(recover_stale())


@task()
def retry_failed_inbound() -> dict[str, int]:
    """Every failed raw record processed again (an admin pressed "retry all"): the same code
    as `comptoir inbound retry`, in a worker, since there may be many and big ones."""
    results = retry_failed()
    failed = sum(1 for r in results if r.outcome == Outcome.FAILED)
    return {"stored": len(results) - failed, "failed": failed}


@periodic("inbox.sweep_stuck_sends", every=timedelta(minutes=5))
@task()
def sweep_stuck_sends() -> int:
    """A worker that died mid-send leaves its message "sending": fail it visibly rather than
    resend blindly, since the channel may have accepted it."""
    cutoff = timezone.now() - STUCK_SENDING_AFTER
    stuck = Message.objects.filter(
        delivery_state=DeliveryState.SENDING, delivery_claimed_at__lt=cutoff
    ).select_related("conversation", "channel")
    count = 0
    for message in stuck:
        if _can_find_sent(message.channel):
            # The connector can tell whether it got there: send again, asking first.
            if claims.requeue(Message, message.pk, SEND_FIELDS):
                send_message.enqueue(message.pk, attempt=message.delivery_attempts + 1)
                count += 1
            continue
        actions.record_delivery_failure(
            message,
            error="delivery was interrupted (the worker stopped while sending): check on the "
            "channel whether the buyer received it before sending again",
            final=True,
        )
        count += 1
    return count


# What "test connection" shows at most.
TEST_MESSAGE_CHARS = 500


TEMPLATE_KEYS = ("templates", "templates_at", "templates_error")


@task()
def refresh_templates(channel_id: int) -> str:
    """An agent's "refresh" of a WhatsApp channel's approved templates (the poll reads them
    hourly). Only the templates' keys of the cursor are written: a poll saving the cursor
    meanwhile keeps its own progress (and may keep the older list until the next refresh)."""
    channel = Channel.objects.get(pk=channel_id)
    connector = get_connector(channel)
    refresh = getattr(connector, "refresh_templates", None)
    if refresh is None:
        return "no templates on this channel"
    refresh(force=True)
    with transaction.atomic():
        fresh = Channel.objects.select_for_update().get(pk=channel_id)
        cursor = dict(fresh.cursor or {})
        cursor.update({k: connector.cursor[k] for k in TEMPLATE_KEYS if k in connector.cursor})
        Channel.objects.filter(pk=channel_id).update(cursor=cursor)
    return "refreshed"


@task()
def test_channel(channel_id: int) -> dict[str, Any]:
    """An admin's "test connection": the connector's own words, success or failure, short.
    Never what answered beyond a status line and its error field (`lib.http.describe`): the
    URLs are the admin's to set, and the answer must not show what lies behind them. Run as a
    task so that no web request waits on a marketplace."""
    channel = Channel.objects.get(pk=channel_id)
    try:
        message = get_connector(channel).test_connection()
    except ConnectorError as exc:
        return {"ok": False, "message": str(exc)[:TEST_MESSAGE_CHARS]}
    except Exception as exc:  # a bug must still answer the admin, not leave them waiting
        logger.exception("testing channel %s crashed", channel)
        # The exception's text could quote what answered: the log has it.
        return {"ok": False, "message": f"the test failed unexpectedly ({type(exc).__name__})"}
    return {"ok": True, "message": message[:TEST_MESSAGE_CHARS]}


def channel_test_outcome(channel_id: int, task_id: str) -> dict[str, Any]:
    """Where a queued `test_channel` stands: {"task_id", "status"}, plus "ok" and "message"
    once it finished. LookupError for an unknown id, or a test of another channel."""
    try:
        result = test_channel.get_result(task_id)
    except (TaskResultDoesNotExist, ValueError, ValidationError):
        raise LookupError(f"no test {task_id}") from None
    if result.args != [channel_id]:
        raise LookupError(f"no test {task_id} for channel {channel_id}")
    outcome: dict[str, Any] = {"task_id": task_id, "status": str(result.status)}
    if result.is_finished:
        value = result.return_value if result.status == TaskResultStatus.SUCCESSFUL else None
        outcome.update(value or {"ok": False, "message": "the test did not finish"})
    return outcome
