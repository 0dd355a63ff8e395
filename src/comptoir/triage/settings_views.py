"""The triage settings page (owners and admins): the intent model in use and its held-out
figures, the stored versions (use one, or the base model: a rollback is an activation), a
"Train now" that runs as a task, the "thanks needs no response" toggle and the optional AI
drafting endpoint. Changes go
through `triage.actions`; the page is plain forms (no script needed)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language_info
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, require
from comptoir.connectors.registry import CONNECTORS, connector_class
from comptoir.inbox.models import Marketplace
from comptoir.lib import intents
from comptoir.triage import actions, registry, tasks
from comptoir.triage.models import IntentModel, TriageSettings

# Channel kinds that are not a marketplace: no late-response rate of their own.
NOT_MARKETPLACES = frozenset({"email", "api"})
_MARKETPLACE_NAMES = {**dict(Marketplace.choices), "mirakl": "Mirakl"}


def _admin(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(user, can_manage_channels, "triage settings are for owners and admins")


def _language(code: str) -> str:
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


def _figures(metrics: dict[str, Any]) -> dict[str, Any]:
    """The stored metrics JSON as rows a template can loop over, with people's labels."""
    per_intent = [
        {"label": intents.label(intent), **scores}
        for intent, scores in metrics.get("per_intent", {}).items()
    ]
    per_language = [
        {"code": code, "name": _language(code), **scores}
        for code, scores in metrics.get("per_language", {}).items()
    ]
    confusion = metrics.get("confusion", {})
    labels = confusion.get("labels", [])
    columns = [{"n": i + 1, "label": intents.label(lab)} for i, lab in enumerate(labels)]
    rows = [
        {
            "n": i + 1,
            "label": intents.label(labels[i]),
            # The diagonal (right answers) is shown apart from the mistakes.
            "cells": [{"count": c, "right": j == i} for j, c in enumerate(counts)],
        }
        for i, counts in enumerate(confusion.get("matrix", []))
    ]
    return {
        "metrics": metrics,
        "per_intent": per_intent,
        "per_language": per_language,
        "columns": columns,
        "rows": rows,
    }


def _marketplaces() -> list[dict[str, Any]]:
    """Whether each marketplace lets a seller mark a message "no response needed" by API."""
    return [
        {
            "kind": kind,
            # Mirakl is the platform of several marketplaces (Darty, Boulanger...).
            "name": _MARKETPLACE_NAMES.get(kind, kind.capitalize()),
            "can_mark": connector_class(kind).can_mark_no_response_needed(),
        }
        for kind in CONNECTORS
        if kind not in NOT_MARKETPLACES
    ]


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    _admin(request)
    active = registry.active_version()
    versions = list(IntentModel.objects.defer("artifact").select_related("trained_by"))
    in_use = next((v for v in versions if v.version == active), None)
    if in_use is None:
        metrics, trained_on = registry.base_figures()
    else:
        metrics, trained_on = in_use.metrics, in_use.trained_on
    context = {
        "active": active,
        "in_use": in_use,
        "trained_on": trained_on,
        "versions": versions,
        "settings": TriageSettings.get(),
        "marketplaces": _marketplaces(),
        **_figures(metrics),
    }
    return render(request, "triage/settings.html", context)


@login_required
@require_POST
def activate(request: HttpRequest) -> HttpResponse:
    user = _admin(request)
    try:
        version = int(request.POST.get("version", ""))
        actions.activate_model(version, actor=user)
    except (ValueError, ValidationError):
        messages.error(request, _("There is no such model version."))
    else:
        if version == registry.BASE_VERSION:
            messages.success(request, _("Triage now uses the base model."))
        else:
            messages.success(request, _("Triage now uses version %(v)s.") % {"v": version})
    return redirect("settings:triage")


@login_required
@require_POST
def train(request: HttpRequest) -> HttpResponse:
    user = _admin(request)
    tasks.train_model.enqueue(user.pk)
    messages.success(
        request,
        _("Training started. The new version appears here in a few minutes and is used at once."),
    )
    return redirect("settings:triage")


@login_required
@require_POST
def save_settings(request: HttpRequest) -> HttpResponse:
    user = _admin(request)
    actions.save_settings(actor=user, no_reply_for_thanks="no_reply_for_thanks" in request.POST)
    messages.success(request, _("Triage settings saved."))
    return redirect("settings:triage")


@login_required
@require_POST
def save_llm(request: HttpRequest) -> HttpResponse:
    """The AI drafting endpoint. The key field is never filled in by the page: left empty it
    keeps the saved key; "remove the key" clears it."""
    user = _admin(request)
    post = request.POST
    key = post.get("llm_api_key", "")
    try:
        timeout = int(post.get("llm_timeout_seconds", "") or 20)
    except ValueError:
        timeout = 0  # refused by the action with its message
    try:
        actions.save_llm_settings(
            actor=user,
            enabled="llm_enabled" in post,
            url=post.get("llm_url", ""),
            model=post.get("llm_model", ""),
            timeout_seconds=timeout,
            local="llm_local" in post,
            api_key="" if "llm_clear_key" in post else (key or None),
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("AI drafting settings saved."))
    return redirect(reverse("settings:triage") + "#ai-drafting")
