"""REST endpoints of cases (`/api/v1/cases`): list, read, open, move on, record the outcome,
set the deadline. The same rules as the pages: a token's user sees the cases of the
conversations they see (404 otherwise), and every change goes through `cases.actions`, which
refuse (403) a user who only reads."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from comptoir.accounts.models import User
from comptoir.accounts.permissions import find_visible
from comptoir.cases import actions
from comptoir.cases.models import Case
from comptoir.cases.queries import by_deadline, filter_cases, visible_cases
from comptoir.inbox.models import Marketplace
from comptoir.inbox.permissions import conversation_for

router = Router(tags=["cases"])

MAX_LIMIT = 200
# The words of `comptoir.lib.cases`, spelled out so that the OpenAPI document lists them
# (tests/test_case_api.py checks they stay the same).
KindName = Literal[
    "return", "refund", "not_received", "damaged", "wrong_item", "cancellation", "marketplace_claim"
]
ClaimKindName = Literal[
    "",
    "ebay_return",
    "ebay_inquiry",
    "ebay_case",
    "amazon_atoz",
    "cdiscount_claim",
    "fnac_incident",
    "mirakl_incident",
    "spartoo_return",
]
StageName = Literal["open", "waiting_buyer", "waiting_carrier", "waiting_marketplace", "resolved"]
OutcomeName = Literal["full_refund", "partial_refund", "replacement", "return_label", "rejected"]


class ErrorOut(Schema):
    detail: Any


class CaseOut(Schema):
    id: int
    conversation_id: int
    channel_id: int
    marketplace: str = Field(description="the channel's marketplace (amazon, ebay, darty...)")
    order_id: int | None
    order_number: str = Field(description="the marketplace's order number, when known")
    kind: KindName
    claim_kind: ClaimKindName = Field(description="the marketplace's procedure, if it opened it")
    label: str = Field(description="the procedure's name, else the kind's, for people")
    stage: StageName
    outcome: OutcomeName | Literal[""]
    refund_amount: Decimal | None
    claimed_amount: Decimal | None
    currency: str
    rejection_reason: str
    reason: str = Field(description="the marketplace's reason as it gave it")
    marketplace_status: str
    external_id: str = Field(description="the claim's id on the marketplace, unique per channel")
    deadline: datetime | None = Field(description="the marketplace's respond-by for the claim")
    opened_by: Literal["agent", "rule", "marketplace"]
    opened_at: datetime
    updated_at: datetime
    outcome_at: datetime | None
    resolved_at: datetime | None


class CasePage(Schema):
    items: list[CaseOut]
    count: int = Field(description="cases matching the filters")
    next_offset: int | None = Field(description="the offset of the next page; null on the last")


class OpenIn(Schema):
    conversation_id: int = Field(ge=1)
    kind: KindName
    deadline: datetime | None = None


class StageIn(Schema):
    stage: StageName


class OutcomeIn(Schema):
    outcome: OutcomeName
    amount: Decimal | None = Field(
        None, gt=0, description="the refund; a full refund without it refunds the order total"
    )
    currency: str = Field("", max_length=3, description="ISO 4217; the order's by default")
    reason: str = Field("", max_length=500, description="why, for a rejection (required then)")


class DeadlineIn(Schema):
    deadline: datetime | None = Field(description="null removes it")


_WRITE_ERRORS: dict[int, type[Schema]] = {403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _cases(user: User) -> QuerySet[Case]:
    # Every relation the schema reads, up front: the query count never grows with the rows.
    return visible_cases(user).select_related("channel", "conversation", "order")


def _out(case: Case) -> dict[str, Any]:
    data = {f.attname: getattr(case, f.attname) for f in Case._meta.concrete_fields}
    data["id"] = case.pk
    data["marketplace"] = case.channel.marketplace
    data["order_number"] = (
        case.order.external_id if case.order else case.conversation.order_number
    ) or ""
    data["label"] = case.label
    return data


def _case(user: User, case_id: int) -> Case:
    return find_visible(_cases(user), case_id)


class CaseFilters(Schema):
    stage: StageName | Literal["any_open", "all"] = Field(
        "any_open", description="a stage; `any_open` (every stage but resolved) or `all`"
    )
    kind: KindName | None = None
    claim_kind: ClaimKindName | None = None
    marketplace: str | None = Field(None, description="amazon, ebay, cdiscount, darty...")
    deadline_before: datetime | None = Field(None, description="cases due before this instant")
    conversation: int | None = Field(None, ge=1)
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0)


@router.get("/cases", response={200: CasePage, 422: ErrorOut})
def list_cases(request: HttpRequest, filters: Query[CaseFilters]) -> dict[str, Any]:
    """Cases the caller may see, the nearest deadline first (those without one last)."""
    f = filters
    if f.marketplace is not None and f.marketplace not in Marketplace.values:
        raise HttpError(422, f"unknown marketplace {f.marketplace!r}")
    qs = filter_cases(
        _cases(_user(request)),
        stage=f.stage,
        kind=f.kind,
        claim_kind=f.claim_kind,
        marketplace=f.marketplace,
        deadline_before=f.deadline_before,
        conversation=f.conversation,
    )
    count = qs.count()
    offset, limit = f.offset, f.limit
    rows = list(by_deadline(qs)[offset:][:limit])
    more = offset + len(rows) < count
    return {
        "items": [_out(c) for c in rows],
        "count": count,
        "next_offset": offset + len(rows) if more else None,
    }


@router.get("/cases/{case_id}", response={200: CaseOut, 404: ErrorOut})
def get_case(request: HttpRequest, case_id: int) -> dict[str, Any]:
    return _out(_case(_user(request), case_id))


@router.post(
    "/cases",
    response={201: CaseOut, **_WRITE_ERRORS},
    description="A conversation has one open case of a kind: asking again answers that one.",
)
def open_case(request: HttpRequest, body: OpenIn) -> Status[dict[str, Any]]:
    user = _user(request)
    conv = conversation_for(user, body.conversation_id)
    case = actions.open_case(conv, kind=body.kind, actor=user, via="api", deadline=body.deadline)
    return Status(201, _out(_case(user, case.pk)))


@router.post("/cases/{case_id}/stage", response={200: CaseOut, **_WRITE_ERRORS})
def set_stage(request: HttpRequest, case_id: int, body: StageIn) -> dict[str, Any]:
    user = _user(request)
    actions.set_stage(_case(user, case_id), stage=body.stage, actor=user, via="api")
    return _out(_case(user, case_id))


@router.post(
    "/cases/{case_id}/outcome",
    response={200: CaseOut, **_WRITE_ERRORS},
    description="422 for a partial refund without its amount or a rejection without a reason.",
)
def record_outcome(request: HttpRequest, case_id: int, body: OutcomeIn) -> dict[str, Any]:
    user = _user(request)
    actions.record_outcome(
        _case(user, case_id),
        outcome=body.outcome,
        amount=body.amount,
        currency=body.currency,
        reason=body.reason,
        actor=user,
        via="api",
    )
    return _out(_case(user, case_id))


@router.post("/cases/{case_id}/deadline", response={200: CaseOut, **_WRITE_ERRORS})
def set_deadline(request: HttpRequest, case_id: int, body: DeadlineIn) -> dict[str, Any]:
    user = _user(request)
    actions.set_deadline(_case(user, case_id), deadline=body.deadline, actor=user, via="api")
    return _out(_case(user, case_id))
