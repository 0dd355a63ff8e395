"""Every change to a case: views, rules, the connector hook and (later) the API call these.

Each one checks its actor as the inbox's actions do (`inbox.permissions.check_change`: 404 for
a conversation the actor cannot see, 403 for one who only reads; `actor=None` is the system:
a rule or a connector), is atomic, and writes its line on the conversation's timeline through
the inbox's events (`inbox.actions.write_events`, which also wakes the rules): `case_opened`,
then `case_changed` with `data["change"]` one of stage, outcome, deadline, closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from comptoir.cases.models import Case, OpenedBy, Stage
from comptoir.inbox.actions import write_events
from comptoir.inbox.models import Conversation, Event, EventKind
from comptoir.inbox.permissions import check_change
from comptoir.lib import cases as words

if TYPE_CHECKING:
    from comptoir.accounts.models import User


def _event(case: Case, kind: str, actor: User | None, via: str, **data: Any) -> None:
    write_events(
        [
            Event(
                conversation_id=case.conversation_id,
                kind=kind,
                actor=actor,
                actor_label=via or ("" if actor else "system"),
                data={"case": case.pk, **data},
            )
        ]
    )


def _locked(case: Case, actor: User | None) -> Case:
    locked = Case.objects.select_for_update().select_related("conversation").get(pk=case.pk)
    check_change(actor, locked.conversation)
    return locked


def _amount(value: Decimal | str | float | int | None) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value).replace(",", ".")).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{value!r} is not an amount") from None
    if amount <= 0 or amount >= Decimal("1e10"):
        raise ValidationError("an amount above zero is needed")
    return amount


def _currency(value: str) -> str:
    currency = value.strip().upper()
    if currency and (len(currency) != 3 or not currency.isalpha()):
        raise ValidationError(f"{value!r} is not a currency code (EUR, GBP...)")
    return currency


def _copy(target: Case, source: Case) -> None:
    for f in Case._meta.concrete_fields:
        setattr(target, f.attname, getattr(source, f.attname))


@transaction.atomic
def open_case(
    conv: Conversation,
    *,
    kind: str,
    actor: User | None,
    via: str = "",
    deadline: datetime | None = None,
) -> Case:
    """A case of `kind` on `conv`, opened by an agent (`actor`) or a rule (`via="rule:<id>"`).
    A conversation has at most one open case of a kind: asking again gives that one back."""
    if kind not in words.KINDS:
        raise ValidationError(f"unknown case kind {kind!r} (use {', '.join(words.KINDS)})")
    check_change(actor, conv)
    conv = Conversation.objects.select_for_update().get(pk=conv.pk)
    found = conv.cases.filter(kind=kind).exclude(stage=Stage.RESOLVED).first()
    if found is not None:
        return found
    now = timezone.now()
    case = Case.objects.create(
        conversation=conv,
        channel_id=conv.channel_id,
        order_id=conv.order_id,
        kind=kind,
        deadline=deadline,
        opened_by=OpenedBy.RULE if via.startswith("rule:") else OpenedBy.AGENT,
        opened_by_user=actor,
        opened_at=now,
        updated_at=now,
    )
    _event(case, EventKind.CASE_OPENED, actor, via, case_kind=kind)
    return case


@transaction.atomic
def set_stage(case: Case, *, stage: str, actor: User | None, via: str = "") -> Case:
    """Move the case on (open, waiting on the buyer, the carrier, the marketplace, resolved);
    resolved is `close`, and leaving it reopens the case."""
    if stage not in Stage.values:
        raise ValidationError(f"unknown stage {stage!r} (use {', '.join(Stage.values)})")
    if stage == Stage.RESOLVED:
        return close(case, actor=actor, via=via)
    locked = _locked(case, actor)
    if locked.stage != stage:
        locked.stage = stage
        locked.resolved_at = None
        locked.updated_at = timezone.now()
        locked.save(update_fields=["stage", "resolved_at", "updated_at"])
        _event(locked, EventKind.CASE_CHANGED, actor, via, change="stage", stage=stage)
    _copy(case, locked)
    return case


@transaction.atomic
def record_outcome(
    case: Case,
    *,
    outcome: str,
    actor: User | None,
    amount: Decimal | str | None = None,
    currency: str = "",
    reason: str = "",
    via: str = "",
) -> Case:
    """What the seller decided: a refund (partial ones need their amount; a full one without
    an amount refunds the order's total, when known), a replacement, a return label, or a
    rejection (with its reason, for the buyer's file and the marketplace)."""
    if outcome not in words.OUTCOMES:
        raise ValidationError(f"unknown outcome {outcome!r} (use {', '.join(words.OUTCOMES)})")
    locked = _locked(case, actor)
    value = _amount(amount) if outcome in words.REFUNDS else None
    if outcome == "full_refund" and value is None and locked.order_id:
        value = _amount(locked.order.total) if locked.order and locked.order.total else None
    if outcome == "partial_refund" and value is None:
        raise ValidationError("a partial refund needs its amount")
    reason = reason.strip()[:500]
    if outcome == "rejected" and not reason:
        raise ValidationError("say why the case is rejected")
    if value is not None:
        order_currency = locked.order.currency if locked.order else ""
        locked.currency = _currency(currency) or locked.currency or order_currency or "EUR"
    locked.outcome = outcome
    locked.refund_amount = value
    locked.rejection_reason = reason if outcome == "rejected" else ""
    locked.outcome_at = locked.updated_at = timezone.now()
    locked.save(
        update_fields=[
            "outcome",
            "refund_amount",
            "currency",
            "rejection_reason",
            "outcome_at",
            "updated_at",
        ]
    )
    data: dict[str, Any] = {"change": "outcome", "outcome": outcome}
    if value is not None:
        data.update(amount=str(value), currency=locked.currency)
    if locked.rejection_reason:
        data["reason"] = locked.rejection_reason
    _event(locked, EventKind.CASE_CHANGED, actor, via, **data)
    _copy(case, locked)
    return case


@transaction.atomic
def set_deadline(
    case: Case, *, deadline: datetime | None, actor: User | None, via: str = ""
) -> Case:
    """The date by which the marketplace wants the seller's answer (None: no deadline)."""
    locked = _locked(case, actor)
    if locked.deadline != deadline:
        locked.deadline = deadline
        locked.updated_at = timezone.now()
        locked.save(update_fields=["deadline", "updated_at"])
        _event(
            locked,
            EventKind.CASE_CHANGED,
            actor,
            via,
            change="deadline",
            deadline=deadline.isoformat() if deadline else None,
        )
    _copy(case, locked)
    return case


@transaction.atomic
def close(case: Case, *, actor: User | None, via: str = "") -> Case:
    """The case is over (its outcome recorded or not): it leaves the open cases."""
    locked = _locked(case, actor)
    if locked.stage != Stage.RESOLVED:
        locked.stage = Stage.RESOLVED
        locked.resolved_at = locked.updated_at = timezone.now()
        locked.save(update_fields=["stage", "resolved_at", "updated_at"])
        _event(locked, EventKind.CASE_CHANGED, actor, via, change="closed")
    _copy(case, locked)
    return case


# -- claims the marketplace opened ---------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A marketplace's claim as a connector read it (`cases.claims` reads it from a message)."""

    external_id: str
    claim_kind: str
    kind: str
    reason: str = ""
    status: str = ""
    stage: str = ""  # what the marketplace's status means here ("": leave the stage)
    deadline: datetime | None = None
    claimed_amount: Decimal | None = None
    currency: str = ""
    opened_at: datetime | None = None


def open_or_update_claim(conv: Conversation, claim: Claim, *, via: str) -> tuple[Case, bool]:
    """The case of the marketplace's claim: opened the first time, its deadline, status and
    stage updated on each later read; (case, opened). Safe to run twice, or in two workers at
    once: the claim's id is unique on its channel."""
    try:
        with transaction.atomic():
            existing = Case.objects.filter(
                channel_id=conv.channel_id, external_id=claim.external_id
            ).first()
            if existing is None:
                return _open_claim(conv, claim, via), True
    except IntegrityError:  # another worker opened it meanwhile
        existing = Case.objects.get(channel_id=conv.channel_id, external_id=claim.external_id)
    return _update_claim(existing, claim, via), False


def _open_claim(conv: Conversation, claim: Claim, via: str) -> Case:
    now = timezone.now()
    stage = claim.stage or Stage.OPEN
    case = Case.objects.create(
        conversation=conv,
        channel_id=conv.channel_id,
        order_id=conv.order_id,
        kind=claim.kind,
        claim_kind=claim.claim_kind,
        reason=claim.reason[:64],
        marketplace_status=claim.status[:64],
        external_id=claim.external_id,
        stage=stage,
        deadline=claim.deadline,
        claimed_amount=claim.claimed_amount,
        currency=_currency(claim.currency) if claim.currency else "",
        opened_by=OpenedBy.MARKETPLACE,
        opened_at=claim.opened_at or now,
        updated_at=now,
        resolved_at=now if stage == Stage.RESOLVED else None,
    )
    _event(case, EventKind.CASE_OPENED, None, via, case_kind=case.kind, claim_kind=case.claim_kind)
    return case


@transaction.atomic
def _update_claim(case: Case, claim: Claim, via: str) -> Case:
    """The marketplace's news: a new deadline, and a new status (its stage follows only when
    the status changed, so an agent's own stage is not undone by each re-read)."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if claim.deadline is not None and claim.deadline != locked.deadline:
        set_deadline(locked, deadline=claim.deadline, actor=None, via=via)
    if claim.status and claim.status[:64] != locked.marketplace_status:
        locked.marketplace_status = claim.status[:64]
        locked.updated_at = timezone.now()
        locked.save(update_fields=["marketplace_status", "updated_at"])
        if claim.stage and claim.stage != locked.stage:
            set_stage(locked, stage=claim.stage, actor=None, via=via)
    return locked
