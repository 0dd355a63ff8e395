"""REST endpoints for templates (`/api/v1/templates`): everyone reads them (the composer offers
them to agents), owners, admins and supervisors change them, as on the settings page. Changes
go through `automation.actions.save_template`; a preview renders a template for a conversation
the caller sees (404 otherwise) with `automation.templating`, and writes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status as Reply
from pydantic import field_validator

from comptoir.accounts.models import Role, User
from comptoir.accounts.permissions import find_visible, require_write
from comptoir.automation import actions
from comptoir.automation.checks import run_checks
from comptoir.automation.models import Template
from comptoir.automation.templating import render_template
from comptoir.inbox.actions import Draft
from comptoir.inbox.models import Shop
from comptoir.inbox.permissions import conversation_for, visible_conversations
from comptoir.lib.text import NO_NUL, refuse_nul

router = Router(tags=["templates"])


class In(Schema):
    """A request body: no NUL character in any of its text (422, not a database error)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return refuse_nul(value)


MAX_LIMIT = 200
MAX_ID = 2**63 - 1
MANAGERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR})
Language = Field(
    pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$", max_length=8, description="fr, en, de..."
)


class ErrorOut(Schema):
    detail: Any


class VersionIO(In):
    language: str = Language
    subject: str = Field("", max_length=500)
    body: str = Field(min_length=1, max_length=20000, description="sandboxed Jinja")


class TemplateOut(Schema):
    id: int
    name: str
    shop_id: int | None = Field(description="null: offered in every shop")
    shortcut: str = Field(description="typed as ;shortcut in the composer")
    category: str
    intents: list[str]
    is_active: bool
    usage_count: int
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime
    versions: list[VersionIO]

    @staticmethod
    def resolve_versions(obj: Template) -> list[Any]:
        return sorted(obj.versions.all(), key=lambda v: v.language)


class TemplatePage(Schema):
    items: list[TemplateOut]
    count: int
    next_offset: int | None = Field(description="the offset of the next page; null on the last")


class TemplateIn(In):
    name: str = Field(min_length=1, max_length=200)
    shop_id: int | None = Field(None, ge=1, le=MAX_ID, description="null: every shop")
    shortcut: str = Field("", max_length=32)
    category: str = Field("", max_length=64)
    intents: list[str] = Field(default_factory=list, max_length=20)
    is_active: bool = True
    versions: list[VersionIO] = Field(
        min_length=1, max_length=20, description="one per language; a language left out is removed"
    )


class CheckOut(Schema):
    code: str
    level: str = Field(description="block or warn")
    message: str


class PreviewOut(Schema):
    template_id: int
    conversation_id: int
    language: str
    subject: str
    text: str
    missing: list[str] = Field(description="variables with no value here, shown as [name]")
    checks: list[CheckOut] = Field(description="the pre-send checks the text would meet")


_WRITE_ERRORS: dict[int, type[Schema]] = {403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _manager(user: User) -> User:
    require_write(user)
    if not (user.is_active and (user.is_superuser or user.role in MANAGERS)):
        raise PermissionDenied("templates are managed by owners, admins and supervisors")
    return user


def _templates() -> QuerySet[Template]:
    return Template.objects.prefetch_related("versions")


def _save(template: Template | None, body: TemplateIn) -> Template:
    shop = find_visible(Shop.objects.all(), body.shop_id) if body.shop_id else None
    languages = [v.language for v in body.versions]
    if len(set(languages)) != len(languages):
        raise ValidationError("one version per language")
    return actions.save_template(
        template,
        name=body.name,
        shop=shop,
        shortcut=body.shortcut,
        category=body.category,
        intents=body.intents,
        is_active=body.is_active,
        versions={v.language: (v.subject, v.body) for v in body.versions},
    )


@router.get("/templates", response={200: TemplatePage, 422: ErrorOut})
def list_templates(
    request: HttpRequest,
    q: str | None = Query(
        None, max_length=200, pattern=NO_NUL, description="in the name, shortcut or category"
    ),
    shop: int | None = Query(None, ge=1, le=MAX_ID, description="those offered in this shop"),
    active: bool | None = None,
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_ID),
) -> dict[str, Any]:
    """The most used first."""
    qs = _templates()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(shortcut__icontains=q) | Q(category__icontains=q))
    if shop is not None:
        qs = qs.filter(Q(shop__isnull=True) | Q(shop_id=shop))
    if active is not None:
        qs = qs.filter(is_active=active)
    count = qs.count()
    rows = list(qs.order_by("-usage_count", "name", "pk")[offset : offset + limit])
    more = offset + len(rows) < count
    return {"items": rows, "count": count, "next_offset": offset + len(rows) if more else None}


@router.get("/templates/{template_id}", response={200: TemplateOut, 404: ErrorOut})
def get_template(request: HttpRequest, template_id: int) -> Template:
    return find_visible(_templates(), template_id)


@router.post(
    "/templates",
    response={201: TemplateOut, **_WRITE_ERRORS},
    description="422 for a syntax error, an unknown intent or a shortcut already taken.",
)
def create_template(request: HttpRequest, body: TemplateIn) -> Reply[Template]:
    _manager(_user(request))
    template = _save(None, body)
    return Reply(201, find_visible(_templates(), template.pk))


@router.put("/templates/{template_id}", response={200: TemplateOut, **_WRITE_ERRORS})
def update_template(request: HttpRequest, template_id: int, body: TemplateIn) -> Template:
    """Replaces the template and its versions with the body's."""
    template = find_visible(_templates(), template_id)
    _manager(_user(request))
    _save(template, body)
    return find_visible(_templates(), template_id)


@router.get(
    "/conversations/{conv_id}/templates/{template_id}/preview",
    response={200: PreviewOut, 404: ErrorOut, 422: ErrorOut},
    summary="A template rendered for a conversation (nothing is sent or stored)",
    description="404 for a conversation the caller cannot see or a template not offered in its "
    "shop; 422 for a template that cannot be rendered.",
)
def preview(
    request: HttpRequest,
    conv_id: int,
    template_id: int,
    language: str | None = Query(None, pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$"),
) -> dict[str, Any]:
    user = _user(request)
    qs = visible_conversations(user).select_related("shop", "channel", "customer", "order")
    conv = conversation_for(user, conv_id, qs=qs)
    offered = _templates().filter(Q(shop__isnull=True) | Q(shop_id=conv.shop_id))
    template = find_visible(offered, template_id)
    rendered = render_template(template, conv, agent=user, language=language, strict=False)
    checks = run_checks(Draft(conv, rendered.text, actor=user))
    return {
        "template_id": template.pk,
        "conversation_id": conv.pk,
        "language": rendered.language,
        "subject": rendered.subject,
        "text": rendered.text,
        "missing": rendered.missing,
        "checks": checks,
    }
