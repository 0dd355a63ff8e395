"""REST endpoints of the notifications settings page's first part: what the signed-in user is
told of, and how (email at once, in the digest or not; their webhooks or not). Each user's
own: a token changes its own user's preferences, as the page does."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Schema

from comptoir.accounts.models import User
from comptoir.notifications import actions
from comptoir.notifications.kinds import Kind
from comptoir.notifications.models import EmailChoice

router = Router(tags=["notifications"])


class PreferenceErrorOut(Schema):  # not "ErrorOut": the OpenAPI components share one namespace
    detail: Any


# 422 is an action's refusal ({"detail": "..."}) or the request's validation errors (a list).
_ERRORS: dict[int, Any] = {403: PreferenceErrorOut, 404: PreferenceErrorOut, 422: dict[str, Any]}


class PreferenceIO(Schema):
    kind: str = Field(description="a notification kind, e.g. sla_breached")
    email: str = Field(description="now, digest or off")
    webhook: bool = Field(description="sent to the user's webhooks too")


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _rows(user: User) -> list[dict[str, object]]:
    prefs = actions.preferences_of(user)
    return [{"kind": k, "email": prefs[k][0], "webhook": prefs[k][1]} for k in Kind.values]


@router.get("/notifications/preferences", response={200: list[PreferenceIO], **_ERRORS})
def get_preferences(request: HttpRequest) -> list[dict[str, object]]:
    return _rows(_user(request))


@router.put("/notifications/preferences", response={200: list[PreferenceIO], **_ERRORS})
def set_preferences(request: HttpRequest, body: list[PreferenceIO]) -> list[dict[str, object]]:
    """The kinds named are changed, the others kept; one unknown value refuses them all."""
    for p in body:
        if p.kind not in Kind.values:
            raise ValidationError(f"unknown notification kind {p.kind!r}")
        if p.email not in EmailChoice.values:
            raise ValidationError(f"unknown email choice {p.email!r} (use now, digest or off)")
    user = _user(request)
    with transaction.atomic():
        actions.set_preferences(user, {p.kind: (p.email, p.webhook) for p in body})
    return _rows(user)
