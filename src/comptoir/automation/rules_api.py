"""REST endpoints for the automation rules (`/api/v1/rules`): owners, admins and supervisors.

Every change goes through `automation.rules`; the dry run through `automation.preview.dry_run`,
which writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.responses import Status as Reply

from comptoir.accounts.models import User
from comptoir.accounts.permissions import require
from comptoir.automation import preview
from comptoir.automation import rules as rule_actions
from comptoir.automation.models import Rule, RuleRun, Trigger

router = Router(tags=["rules"])


class ErrorOut(Schema):
    detail: Any


class RuleIn(Schema):
    name: str = Field(max_length=200)
    trigger: Trigger
    silent_days: int | None = Field(None, description="buyer_silent: days without an answer")
    shop_id: int | None = Field(None, description="none: every shop")
    conditions: dict[str, Any] = Field(
        default_factory=dict,
        description='Nested groups: {"all": [...]} or {"any": [...]} of conditions such as '
        '{"type": "marketplace", "values": ["amazon"]}, {"type": "keywords", "words": [...]}, '
        '{"type": "regex", "pattern": "..."}, {"type": "business_hours", "value": false}.',
    )
    actions: list[dict[str, Any]] = Field(
        description='Such as {"type": "tag", "tag": "vip"}, {"type": "assign_team", "team_id": 2, '
        '"strategy": "round_robin"}, {"type": "reply_template", "template_id": 3}.'
    )
    is_active: bool = True
    stop_processing: bool = False


class RuleOut(Schema):
    id: int
    name: str
    trigger: str
    silent_days: int | None
    shop_id: int | None
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    position: int
    is_active: bool
    stop_processing: bool
    created_at: datetime
    updated_at: datetime


class ActiveIn(Schema):
    active: bool


class OrderIn(Schema):
    rule_ids: list[int] = Field(description="the rules in their new order (others follow)")


class RunOut(Schema):
    id: int
    conversation_id: int | None
    event_id: int | None
    anchor_at: datetime | None
    outcome: str
    error: str
    detail: list[dict[str, Any]]
    at: datetime


class DryMatchOut(Schema):
    conversation_id: int
    subject: str
    at: datetime
    event_id: int | None


def _manager(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return require(
        user, rule_actions.can_manage_rules, "rules are for owners, admins and supervisors"
    )


def _fields(body: RuleIn) -> dict[str, Any]:
    return {
        "name": body.name,
        "trigger": str(body.trigger),
        "silent_days": body.silent_days,
        "shop_id": body.shop_id,
        "conditions": body.conditions,
        "actions": body.actions,
        "is_active": body.is_active,
        "stop_processing": body.stop_processing,
    }


_ERRORS: dict[int, type[Schema]] = {403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


@router.get("/rules", response={200: list[RuleOut], 403: ErrorOut})
def list_rules(request: HttpRequest) -> list[Rule]:
    """Every rule, in the order they run."""
    _manager(request)
    return list(Rule.objects.order_by("position", "id"))


@router.post("/rules", response={201: RuleOut, **_ERRORS})
def create_rule(request: HttpRequest, body: RuleIn) -> Reply[Rule]:
    rule = rule_actions.create_rule(actor=_manager(request), **_fields(body))
    return Reply(201, rule)


@router.post("/rules/order", response={204: None, **_ERRORS})
def reorder_rules(request: HttpRequest, body: OrderIn) -> Reply[None]:
    rule_actions.reorder(actor=_manager(request), rule_ids=body.rule_ids)
    return Reply(204, None)


@router.post("/rules/dry-run", response={200: list[DryMatchOut], **_ERRORS})
def dry_run_unsaved(
    request: HttpRequest, body: RuleIn, days: int = Query(7, ge=1, le=90)
) -> list[dict[str, Any]]:
    """Which recent conversations a rule (not saved) would have matched. Changes nothing."""
    _manager(request)
    fields = _fields(body)
    rule_actions.validate(
        name=fields["name"],
        trigger=fields["trigger"],
        silent_days=fields["silent_days"],
        conditions_data=fields["conditions"],
        actions_data=fields["actions"],
        shop_id=fields["shop_id"],
    )
    rule = Rule(**{k: v for k, v in fields.items() if k != "is_active"})
    return _matches(rule, days)


@router.get("/rules/{rule_id}", response={200: RuleOut, **_ERRORS})
def get_rule(request: HttpRequest, rule_id: int) -> Rule:
    _manager(request)
    return get_object_or_404(Rule, pk=rule_id)


@router.put("/rules/{rule_id}", response={200: RuleOut, **_ERRORS})
def update_rule(request: HttpRequest, rule_id: int, body: RuleIn) -> Rule:
    user = _manager(request)
    rule = get_object_or_404(Rule, pk=rule_id)
    return rule_actions.update_rule(rule, actor=user, **_fields(body))


@router.post("/rules/{rule_id}/active", response={200: RuleOut, **_ERRORS})
def set_active(request: HttpRequest, rule_id: int, body: ActiveIn) -> Rule:
    user = _manager(request)
    rule = get_object_or_404(Rule, pk=rule_id)
    return rule_actions.set_active(rule, actor=user, active=body.active)


@router.delete("/rules/{rule_id}", response={204: None, **_ERRORS})
def delete_rule(request: HttpRequest, rule_id: int) -> Reply[None]:
    user = _manager(request)
    rule_actions.delete_rule(get_object_or_404(Rule, pk=rule_id), actor=user)
    return Reply(204, None)


@router.get("/rules/{rule_id}/dry-run", response={200: list[DryMatchOut], **_ERRORS})
def dry_run(
    request: HttpRequest, rule_id: int, days: int = Query(7, ge=1, le=90)
) -> list[dict[str, Any]]:
    """Which recent conversations this rule would have matched. Changes nothing."""
    _manager(request)
    return _matches(get_object_or_404(Rule, pk=rule_id), days)


@router.get("/rules/{rule_id}/runs", response={200: list[RunOut], **_ERRORS})
def list_runs(
    request: HttpRequest, rule_id: int, limit: int = Query(50, ge=1, le=200)
) -> list[RuleRun]:
    """The rule's latest runs, newest first."""
    _manager(request)
    rule = get_object_or_404(Rule, pk=rule_id)
    return list(RuleRun.objects.filter(rule=rule).order_by("-at", "-pk")[:limit])


def _matches(rule: Rule, days: int) -> list[dict[str, Any]]:
    return [
        {
            "conversation_id": m.conversation.pk,
            "subject": m.conversation.subject,
            "at": m.at,
            "event_id": m.event_id,
        }
        for m in preview.dry_run(rule, days=days)
    ]
