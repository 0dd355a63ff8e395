"""REST endpoints of a case's steps on the marketplace (`/api/v1/cases/{id}/...`): close the
case, answer the claim, refund, close the claim there, accept or refuse a return, list the
steps and retry a failed one.
As the case panel: lookups among the cases the caller sees (404 otherwise), every change
through `cases.actions` or `cases.operations` (403 for who may not change the conversation),
each step sent exactly once by its task. A step's text is the seller's words: the list shows
its kind and state, the text only to those who may write (analysts read figures)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status
from pydantic import field_validator

from comptoir.accounts.permissions import find_visible
from comptoir.cases import actions, operations
from comptoir.cases.api import _WRITE_ERRORS, CaseOut, ErrorOut, _case, _out, _user
from comptoir.cases.models import CaseOperation
from comptoir.cases.queries import visible_cases
from comptoir.lib.text import refuse_nul

router = Router(tags=["cases"])


class In(Schema):
    """A request body: no NUL character in any of its text (422, not a database error)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return refuse_nul(value)


class StepOut(Schema):
    id: int
    case_id: int
    kind: str = Field(description="respond, refund, close, accept_return or refuse_return")
    delivery_state: str = Field(description="queued, sending, sent or failed (then retry it)")
    attempts: int
    error: str
    external_id: str = Field(description="the marketplace's id for it, once sent")
    text: str | None = Field(description="what it says to the buyer; null for read-only users")
    amount: str | None = Field(description="a refund's amount")
    currency: str | None
    created_at: datetime
    sent_at: datetime | None


class TextIn(In):
    text: str = Field("", max_length=5000)


class RefundIn(In):
    amount: Decimal | None = Field(
        None, gt=0, max_digits=12, decimal_places=2, description="the claim's or order's total"
    )
    currency: str = Field("", max_length=3)
    text: str = Field("", max_length=5000)


class ReturnDecisionIn(In):
    decision: Literal["accept", "refuse"]
    reason: str = Field("", max_length=500, description="why it is refused (required then)")


def _step_out(op: CaseOperation, *, with_text: bool) -> dict[str, Any]:
    payload = op.payload or {}
    return {
        **{f: getattr(op, f) for f in StepOut.model_fields if hasattr(op, f) and f != "text"},
        "id": op.pk,
        "text": payload.get("text", "") if with_text else None,
        "amount": payload.get("amount"),
        "currency": payload.get("currency"),
    }


@router.post("/cases/{case_id}/close", response={200: CaseOut, **_WRITE_ERRORS})
def close_case(request: HttpRequest, case_id: int) -> dict[str, Any]:
    """Resolved here only (POST .../close-claim also closes the marketplace's claim)."""
    user = _user(request)
    actions.close(_case(user, case_id), actor=user, via="api")
    return _out(_case(user, case_id))


@router.get("/cases/{case_id}/steps", response={200: list[StepOut], 404: ErrorOut})
def list_steps(request: HttpRequest, case_id: int) -> list[dict[str, Any]]:
    user = _user(request)
    case = _case(user, case_id)
    rows = CaseOperation.objects.filter(case=case).order_by("pk")
    return [_step_out(op, with_text=user.can_write) for op in rows]


@router.post(
    "/cases/{case_id}/answer",
    response={201: StepOut, **_WRITE_ERRORS},
    description="422 when the marketplace takes no answers to this claim through its API.",
)
def answer(request: HttpRequest, case_id: int, body: TextIn) -> Status[dict[str, Any]]:
    user = _user(request)
    op = operations.answer_claim(_case(user, case_id), text=body.text, actor=user, via="api")
    return Status(201, _step_out(op, with_text=True))


@router.post(
    "/cases/{case_id}/refund",
    response={201: StepOut, **_WRITE_ERRORS},
    description="Recorded as the outcome (full or partial) and sent to the marketplace.",
)
def refund(request: HttpRequest, case_id: int, body: RefundIn) -> Status[dict[str, Any]]:
    user = _user(request)
    op = operations.refund_claim(
        _case(user, case_id),
        amount=body.amount,
        currency=body.currency,
        text=body.text,
        actor=user,
        via="api",
    )
    return Status(201, _step_out(op, with_text=True))


@router.post(
    "/cases/{case_id}/close-claim",
    response={200: CaseOut, **_WRITE_ERRORS},
    summary="Close the case and the marketplace's claim",
    description="The claim is closed on the marketplace where its API allows (see the steps).",
)
def close_claim(request: HttpRequest, case_id: int, body: TextIn) -> dict[str, Any]:
    user = _user(request)
    operations.close_claim(_case(user, case_id), text=body.text, actor=user, via="api")
    return _out(_case(user, case_id))


@router.post(
    "/cases/{case_id}/return-decision",
    response={201: StepOut, **_WRITE_ERRORS},
    summary="Accept or refuse the item the buyer sent back",
    description="Where the marketplace takes it (Spartoo's returns; else 422). The case "
    "resolves when the marketplace confirms; a refusal needs its reason.",
)
def return_decision(
    request: HttpRequest, case_id: int, body: ReturnDecisionIn
) -> Status[dict[str, Any]]:
    user = _user(request)
    op = operations.decide_return(
        _case(user, case_id),
        accept=body.decision == "accept",
        reason=body.reason,
        actor=user,
        via="api",
    )
    return Status(201, _step_out(op, with_text=True))


@router.post(
    "/cases/steps/{step_id}/retry",
    response={200: StepOut, **_WRITE_ERRORS},
    summary="Send a failed step again, as it was",
    description="Only a `failed` step (else 422); the marketplace is looked at first, so it "
    "is never done twice.",
)
def retry_step(request: HttpRequest, step_id: int) -> dict[str, Any]:
    user = _user(request)
    visible = CaseOperation.objects.filter(case__in=visible_cases(user))
    op = find_visible(visible, step_id)
    operations.retry_operation(op, actor=user, via="api")
    return _step_out(CaseOperation.objects.get(pk=op.pk), with_text=True)
