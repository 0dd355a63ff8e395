"""Delivering a case's steps (answer, refund, close) to the marketplace, exactly once, as
`inbox.tasks.send_message` delivers replies:

1. the task claims the step with a conditional update (`queued → sending`): two workers never
   carry out the same step;
2. before any retry it asks the connector whether the step already shows on the marketplace
   (`Connector.find_case_operation`: the refund or the closure in the claim's history), and
   while an unanswered request may still land (`Connector.send_settle_time`) it looks again
   later rather than doing the step a second time;
3. `posted_at` is written before the request leaves, so a worker killed while it is in flight
   leaves the trace its retry needs;
4. the outcome is recorded by an action (`record_operation_sent` / `record_operation_failure`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.tasks import task
from django.utils import timezone

from comptoir.cases.models import CaseOperation
from comptoir.cases.operations import record_operation_failure, record_operation_sent
from comptoir.connectors.base import CaseOperationOut, ConnectorError
from comptoir.connectors.registry import get_connector
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.models import DeliveryState
from comptoir.jobs import claims
from comptoir.jobs.periodic import periodic
from comptoir.jobs.retry import retry_later

logger = logging.getLogger("comptoir.cases")

MAX_ATTEMPTS = 6
# Backoff base between attempts, in seconds (10 s, 20 s, 40 s... with jitter), as for replies.
BACKOFF = 10.0
LOOK_AGAIN_EVERY = timedelta(minutes=1)
# A step "sending" for this long belongs to a worker that died: it is tried again (looking
# first), as the inbox does for replies.
STUCK_AFTER = timedelta(minutes=15)
SEND_FIELDS = claims.SendFields(
    state="delivery_state", attempts="attempts", claimed_at="claimed_at", started_at="started_at"
)


def outbound(op: CaseOperation) -> CaseOperationOut:
    case = op.case
    conv = case.conversation
    return CaseOperationOut(
        operation_id=op.pk,
        kind=op.kind,  # type: ignore[arg-type]  # OperationKind's values are the Literal's
        claim_id=case.external_id,
        thread_id=conv.external_thread_id,
        order_number=conv.order_number or (case.order.external_id if case.order else ""),
        text=str(op.payload.get("text") or ""),
        amount=str(op.payload.get("amount") or ""),
        currency=str(op.payload.get("currency") or ""),
        full=bool(op.payload.get("full")),
        idempotency_key=f"comptoir-case-{op.pk}",
        attempt_started_at=op.started_at,
    )


@task()
def send_case_operation(operation_id: int, attempt: int = 1) -> str:
    """Carry out one queued step on the marketplace, retrying transient failures."""
    if not claims.claim(CaseOperation, operation_id, SEND_FIELDS):
        return "not queued"  # done already, or another worker has it
    op = CaseOperation.objects.select_related(
        "case", "case__channel", "case__conversation", "case__order"
    ).get(pk=operation_id)
    posted = False
    try:
        connector = get_connector(op.case.channel)
        out = outbound(op)
        result = None
        if op.attempts > 1:
            # An earlier attempt may have reached the marketplace: ask before doing it again.
            result = connector.find_case_operation(out)
            if result is None and op.posted_at is not None:
                settled = op.posted_at + connector.send_settle_time()
                if timezone.now() < settled:
                    return _look_again(op, attempt, settled)
        if result is None:
            CaseOperation.objects.filter(pk=op.pk).update(posted_at=timezone.now())
            posted = True
            result = connector.send_case_operation(out)
    except ConnectorError as exc:
        if posted and not exc.maybe_sent:
            # The marketplace said no (or was never reached): nothing of it can land later.
            CaseOperation.objects.filter(pk=op.pk).update(posted_at=None)
        final = exc.permanent or attempt >= MAX_ATTEMPTS
        record_operation_failure(op, error=str(exc), final=final)
        if exc.permanent and not exc.about_message:
            inbox_actions.record_channel_error(op.case.channel, error=str(exc), permanent=True)
        if not final:
            retry_later(
                send_case_operation, op.pk, attempt=attempt, base=BACKOFF, wait=exc.retry_after
            )
        return f"failed: {exc}"
    except Exception as exc:
        # A bug: the agent sees it, nothing is done again blindly.
        logger.exception("case operation %s crashed", operation_id)
        record_operation_failure(op, error=f"{type(exc).__name__}: {exc}", final=True)
        return "crashed"
    record_operation_sent(op, external_id=result.external_id, sent_at=result.sent_at)
    return "sent"


def _look_again(op: CaseOperation, attempt: int, settled: datetime) -> str:
    """The earlier request may still land: doing it now could refund twice. Back in the queue
    to look again (the same attempt: looking is not failing)."""
    when = min(settled, timezone.now() + LOOK_AGAIN_EVERY)
    note = (
        "the marketplace does not show this step yet after an unanswered attempt; looking "
        f"again before sending it again (at the latest at {settled:%H:%M:%S} UTC)"
    )
    record_operation_failure(op, error=note, final=False)
    send_case_operation.using(run_after=when).enqueue(op.pk, attempt=attempt)
    return "looking"


@periodic("cases.sweep_stuck_operations", every=timedelta(minutes=5))
@task()
def sweep_stuck_operations() -> int:
    """A worker that died mid-step leaves it "sending": queued again, and its next attempt
    looks for it on the marketplace before doing anything."""
    cutoff = timezone.now() - STUCK_AFTER
    count = 0
    stuck = CaseOperation.objects.filter(
        delivery_state=DeliveryState.SENDING, claimed_at__lt=cutoff
    ).values_list("pk", "attempts")
    for pk, attempts in stuck:
        if claims.requeue(CaseOperation, pk, SEND_FIELDS):
            send_case_operation.enqueue(pk, attempt=attempts + 1)
            count += 1
    return count
