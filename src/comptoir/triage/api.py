"""REST endpoints of the triage settings page (owners and admins, 403 for the others): the
model in use (a rollback is an activation), "Train now" (a task), the "thanks needs no
response" setting and the optional AI drafting endpoint, through `triage.actions`. The
drafting key is write-only (`has_api_key` says whether one is stored); changing the drafting
endpoint wants an admin-scope token, as conversations' text goes to it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, require
from comptoir.accounts.tokens import require_admin_scope
from comptoir.triage import actions, registry, tasks
from comptoir.triage.models import IntentModel, TriageSettings

router = Router(tags=["triage"])


class TriageErrorOut(Schema):  # its own name: the OpenAPI components share one namespace
    detail: Any


_ERRORS: dict[int, Any] = {403: TriageErrorOut, 404: TriageErrorOut, 422: dict[str, Any]}


class ModelVersionOut(Schema):
    version: int
    source: str
    is_active: bool
    macro_f1: float | None


class TriageSettingsOut(Schema):
    active_version: int = Field(description="0: the base model shipped with Comptoir")
    versions: list[ModelVersionOut]
    no_reply_for_thanks: bool
    llm_enabled: bool
    llm_url: str
    llm_model: str
    llm_timeout_seconds: int
    llm_local: bool
    has_api_key: bool = Field(description="a drafting key is stored (never returned)")


class ActivateIn(Schema):
    version: int = Field(ge=0, description="a stored version, or 0 for the base model")


class SettingsIn(Schema):
    no_reply_for_thanks: bool = Field(description="a buyer's mere thanks needs no response")


class DraftingIn(Schema):
    enabled: bool
    url: str = Field("", max_length=500, description="an OpenAI-compatible API's base URL")
    model: str = Field("", max_length=200)
    timeout_seconds: int = 20
    local: bool = Field(False, description="the endpoint is a server on the seller's network")
    api_key: str | None = Field(
        None, description="write-only: null keeps the stored key, an empty string removes it"
    )


def _admin(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return require(user, can_manage_channels, "triage settings are for owners and admins")


def _out() -> dict[str, Any]:
    found = TriageSettings.get()
    versions = IntentModel.objects.defer("artifact").order_by("-version")
    return {
        "active_version": registry.active_version(),
        "versions": [
            {
                "version": v.version,
                "source": v.source,
                "is_active": v.is_active,
                "macro_f1": v.metrics.get("macro_f1"),
            }
            for v in versions
        ],
        "no_reply_for_thanks": found.no_reply_for_thanks,
        "llm_enabled": found.llm_enabled,
        "llm_url": found.llm_url,
        "llm_model": found.llm_model,
        "llm_timeout_seconds": found.llm_timeout_seconds,
        "llm_local": found.llm_local,
        "has_api_key": bool(found.llm_api_key_encrypted),
    }


@router.get("/triage", response={200: TriageSettingsOut, **_ERRORS}, summary="Triage settings")
def get_settings(request: HttpRequest) -> dict[str, Any]:
    _admin(request)
    return _out()


@router.post(
    "/triage/activate",
    response={200: TriageSettingsOut, **_ERRORS},
    summary="Read new messages with this model version (0: the base model)",
)
def activate(request: HttpRequest, body: ActivateIn) -> dict[str, Any]:
    actions.activate_model(body.version, actor=_admin(request))
    return _out()


class TrainOut(Schema):
    task_id: str = Field(description="the new version appears in GET /triage once trained")


@router.post(
    "/triage/train",
    response={202: TrainOut, **_ERRORS},
    summary="Train a new model now (a task); it is used at once",
)
def train(request: HttpRequest) -> Status[dict[str, str]]:
    result = tasks.train_model.enqueue(_admin(request).pk)
    return Status(202, {"task_id": str(result.id)})


@router.put("/triage/settings", response={200: TriageSettingsOut, **_ERRORS})
def save_settings(request: HttpRequest, body: SettingsIn) -> dict[str, Any]:
    actions.save_settings(actor=_admin(request), no_reply_for_thanks=body.no_reply_for_thanks)
    return _out()


@router.put(
    "/triage/drafting",
    response={200: TriageSettingsOut, **_ERRORS},
    summary="The AI drafting endpoint (admin-scope token)",
)
def save_drafting(request: HttpRequest, body: DraftingIn) -> dict[str, Any]:
    user = _admin(request)
    require_admin_scope(getattr(request, "token_scope", None))
    actions.save_llm_settings(
        actor=user,
        enabled=body.enabled,
        url=body.url,
        model=body.model,
        timeout_seconds=body.timeout_seconds,
        local=body.local,
        api_key=body.api_key,
    )
    return _out()
