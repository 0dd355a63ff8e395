"""REST endpoint of the "at risk" page's proactive message: written to the buyers of orders at
risk, one message per order, through `care.actions.contact_many` (the same pre-send checks and
rules as the page). Any writer, on the orders at risk of the channels they see (404 for
others)."""

from __future__ import annotations

from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema

from comptoir.accounts.models import User
from comptoir.accounts.permissions import NotVisible, require_write
from comptoir.care import actions
from comptoir.care.queries import usable_templates, visible_risks

router = Router(tags=["care"])

RiskId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class CareErrorOut(Schema):  # its own name: the OpenAPI components share one namespace
    detail: Any


class SendIn(Schema):
    risk_ids: list[RiskId] = Field(min_length=1, max_length=500, description="orders at risk")
    template_id: int | None = Field(None, description="rendered for each order; else `text`")
    text: str = Field("", max_length=20_000)
    message_type: str = Field("", description="for marketplaces with typed messages (Amazon)")


class RefusedOut(Schema):
    risk_id: int
    detail: str


class SendOut(Schema):
    sent: list[int] = Field(description="the messages queued, one per order")
    failed: list[RefusedOut] = Field(description="each order refused on its own, with why")


@router.post(
    "/care/send",
    response={200: SendOut, 403: CareErrorOut, 404: CareErrorOut, 422: dict[str, Any]},
    summary="Write first to the buyers of orders at risk",
)
def send(request: HttpRequest, body: SendIn) -> dict[str, Any]:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    require_write(user)
    risks = list(visible_risks(user).filter(pk__in=body.risk_ids).order_by("pk"))
    missing = sorted(set(body.risk_ids) - {r.pk for r in risks})
    if missing:
        raise NotVisible(f"no order at risk {missing[0]} here")
    template = None
    if body.template_id is not None:
        template = next((t for t in usable_templates(user) if t.pk == body.template_id), None)
        if template is None:
            raise ValidationError(f"no template {body.template_id} to use here")
    what = actions.Proactive(template=template, text=body.text, message_type=body.message_type)
    outcome = actions.contact_many(risks, actor=user, what=what)
    return {
        "sent": outcome.sent,
        "failed": [{"risk_id": pk, "detail": why} for pk, why in outcome.failed],
    }
