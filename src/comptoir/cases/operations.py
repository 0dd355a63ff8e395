"""The seller's answer to a marketplace's claim, told to the marketplace: answer it, refund,
close it, accept or refuse a return (Spartoo). Each step is a `CaseOperation` queued here (on
commit, `cases.sync_out` sends it, exactly once under faults) and a line on the conversation's
timeline naming who asked.

Permissions are the inbox's (`inbox.permissions.check_change`: 404 for a conversation the
actor cannot see, 403 for one who only reads); `actor=None` is the system (a rule)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from comptoir.cases import actions
from comptoir.cases.models import Case, CaseOperation, OperationKind
from comptoir.connectors.base import ConnectorError
from comptoir.connectors.registry import connector_class
from comptoir.inbox.actions import write_events
from comptoir.inbox.models import DeliveryState, Event, EventKind
from comptoir.inbox.permissions import check_change

if TYPE_CHECKING:
    from comptoir.accounts.models import User

# A step in one of these states stands: asking for it again would do it twice.
PENDING_OR_DONE = (DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.SENT)
MAX_TEXT = 5000
# A return is accepted or refused once: either decision standing rules out the other.
RETURN_DECISIONS = (OperationKind.ACCEPT_RETURN, OperationKind.REFUSE_RETURN)
MAX_REASON = 500


def supported(case: Case) -> frozenset[str]:
    """The steps the case's marketplace takes from the seller on this claim, or on the case's
    order for a marketplace that refunds orders (Mirakl); none for a case about nothing the
    marketplace knows."""
    if not (case.external_id or case.order_id or case.conversation.order_number):
        return frozenset()
    try:
        return connector_class(case.channel.kind).case_operations(case.external_id)
    except ConnectorError:  # a channel kind no longer installed
        return frozenset()


def _event(op: CaseOperation, change: str, actor: User | None, via: str, **data: Any) -> None:
    payload = op.payload
    if op.kind == OperationKind.REFUND:
        data.update(amount=payload.get("amount"), currency=payload.get("currency", ""))
    write_events(
        [
            Event(
                conversation_id=op.case.conversation_id,
                kind=EventKind.CASE_CHANGED,
                actor=actor,
                actor_label=via or ("" if actor else "system"),
                data={"case": op.case_id, "change": change, "operation": op.kind, **data},
            )
        ]
    )


def _queue(
    case: Case, kind: str, payload: dict[str, Any], actor: User | None, via: str
) -> CaseOperation:
    """The step, queued; it leaves once the transaction commits. One of each kind stands per
    case (a second click, a rule firing twice is refused)."""
    if kind not in supported(case):
        raise ValidationError(
            gettext("%(marketplace)s does not take this step through its API")
            % {"marketplace": case.channel.get_marketplace_display()}
        )
    if case.operations.filter(kind=kind, delivery_state__in=PENDING_OR_DONE).exists():
        raise ValidationError(
            gettext("This step was already sent to the marketplace, or is on its way.")
        )
    # A failed step asked again with new terms (another amount) replaces it, as "edit and
    # resend" does for a reply: the old one can no longer be retried, so it never lands too.
    case.operations.filter(kind=kind, delivery_state=DeliveryState.FAILED).update(
        delivery_state=DeliveryState.REPLACED
    )
    op = CaseOperation.objects.create(case=case, kind=kind, payload=payload, created_by=actor)
    _event(op, "operation_queued", actor, via)
    _send_on_commit(op)
    return op


def _send_on_commit(op: CaseOperation) -> None:
    from comptoir.cases.sync_out import send_case_operation

    pk = op.pk
    transaction.on_commit(lambda: send_case_operation.enqueue(pk))


def _open_claim(case: Case, actor: User | None) -> Case:
    locked = (
        Case.objects.select_for_update().select_related("conversation", "channel").get(pk=case.pk)
    )
    check_change(actor, locked.conversation)
    if not locked.is_open:
        raise ValidationError(gettext("The case is closed."))
    return locked


@transaction.atomic
def answer_claim(case: Case, *, text: str, actor: User | None, via: str = "") -> CaseOperation:
    """The seller's answer, posted on the marketplace's claim."""
    locked = _open_claim(case, actor)
    text = text.strip()
    if not text:
        raise ValidationError(gettext("Write the answer."))
    if len(text) > MAX_TEXT:
        raise ValidationError(
            gettext("An answer is at most %(count)d characters.") % {"count": MAX_TEXT}
        )
    if OperationKind.RESPOND not in supported(locked):
        raise ValidationError(
            gettext("%(marketplace)s does not take answers to this claim through its API")
            % {"marketplace": locked.channel.get_marketplace_display()}
        )
    # Each answer is its own step: a second one is a second message, not a duplicate.
    op = CaseOperation.objects.create(
        case=locked, kind=OperationKind.RESPOND, payload={"text": text}, created_by=actor
    )
    _event(op, "operation_queued", actor, via)
    _send_on_commit(op)
    return op


@transaction.atomic
def refund_claim(
    case: Case,
    *,
    amount: Decimal | str | None,
    actor: User | None,
    currency: str = "",
    text: str = "",
    via: str = "",
) -> CaseOperation:
    """Record the refund as the case's outcome and send it to the marketplace: full when it
    is the whole claim (or no amount is given), partial below it."""
    locked = _open_claim(case, actor)
    claimed = locked.claimed_amount or (locked.order.total if locked.order else None)
    value = actions._amount(amount) or (actions._amount(claimed) if claimed else None)
    if value is None:
        raise ValidationError(gettext("Say how much to refund."))
    # Full only when it covers what is known to be owed; an amount against an unknown total
    # is recorded as partial, which it may be.
    outcome = "full_refund" if claimed and value >= Decimal(str(claimed)) else "partial_refund"
    actions.record_outcome(
        locked, outcome=outcome, amount=value, currency=currency, actor=actor, via=via
    )
    payload = {
        "amount": str(locked.refund_amount),
        "currency": locked.currency,
        "text": text.strip()[:MAX_TEXT],
        "full": outcome == "full_refund",
    }
    return _queue(locked, OperationKind.REFUND, payload, actor, via)


@transaction.atomic
def close_claim(
    case: Case, *, actor: User | None, text: str = "", via: str = ""
) -> CaseOperation | None:
    """Close the case here and, where the marketplace takes it, the claim there (None when
    it does not: the case is closed here only)."""
    locked = _open_claim(case, actor)
    actions.close(locked, actor=actor, via=via)
    if OperationKind.CLOSE not in supported(locked):
        return None
    return _queue(locked, OperationKind.CLOSE, {"text": text.strip()[:MAX_TEXT]}, actor, via)


@transaction.atomic
def decide_return(
    case: Case, *, accept: bool, actor: User | None, reason: str = "", via: str = ""
) -> CaseOperation:
    """Accept or refuse the item the buyer sent back (a refusal says why). The case resolves
    when the marketplace confirms (`record_operation_sent`), not before."""
    locked = _open_claim(case, actor)
    kind = OperationKind.ACCEPT_RETURN if accept else OperationKind.REFUSE_RETURN
    reason = reason.strip()
    if not accept and not reason:
        raise ValidationError(gettext("Say why the return is refused."))
    if len(reason) > MAX_REASON:
        raise ValidationError(
            gettext("A reason is at most %(count)d characters.") % {"count": MAX_REASON}
        )
    decided = locked.operations.filter(
        kind__in=RETURN_DECISIONS, delivery_state__in=PENDING_OR_DONE
    )
    if decided.exclude(kind=kind).exists():
        raise ValidationError(
            gettext("The return was already decided the other way, or that is on its way.")
        )
    return _queue(locked, kind, {"text": reason[:MAX_REASON]}, actor, via)


@transaction.atomic
def retry_operation(op: CaseOperation, *, actor: User | None, via: str = "") -> None:
    """Queue a failed step again, as it was (an agent pressed Retry): the look-up before
    sending still guards against doing it twice."""
    locked = CaseOperation.objects.select_for_update().select_related("case").get(pk=op.pk)
    check_change(actor, locked.case.conversation)
    if locked.delivery_state != DeliveryState.FAILED:
        raise ValidationError(gettext("Only a failed step can be sent again."))
    locked.delivery_state, locked.error = DeliveryState.QUEUED, ""
    locked.save(update_fields=["delivery_state", "error"])
    _event(locked, "operation_queued", actor, via, retried=True)
    _send_on_commit(locked)
    op.delivery_state, op.error = locked.delivery_state, locked.error


# -- what the task records ----------------------------------------------------------------------


@transaction.atomic
def record_operation_sent(op: CaseOperation, *, external_id: str, sent_at: datetime | None) -> None:
    """The marketplace took the step (`external_id`: its name for it, when it gave one)."""
    CaseOperation.objects.filter(pk=op.pk).update(
        delivery_state=DeliveryState.SENT,
        external_id=external_id[:255],
        sent_at=sent_at or timezone.now(),
        error="",
    )
    _event(op, "operation_sent", None, "")
    if op.kind in RETURN_DECISIONS:
        # The marketplace confirmed the decision: a refusal is the case's outcome, and
        # nothing is left to do on it.
        via = op.case.channel.get_marketplace_display()
        if op.kind == OperationKind.REFUSE_RETURN:
            reason = str(op.payload.get("text") or "")
            actions.record_outcome(op.case, outcome="rejected", reason=reason, actor=None, via=via)
        actions.close(op.case, actor=None, via=via)


@transaction.atomic
def record_operation_failure(op: CaseOperation, *, error: str, final: bool) -> None:
    """A try failed: `final` ends the step as failed (shown with the reason and Retry), else
    it waits in the queue for the next try."""
    state = DeliveryState.FAILED if final else DeliveryState.QUEUED
    CaseOperation.objects.filter(pk=op.pk).update(delivery_state=state, error=error[:5000])
    if final:
        _event(op, "operation_failed", None, "", error=error[:500])
