"""The composer's template picker, previews, `;shortcut` expansion and pre-send checks (htmx
fragments and one JSON answer), and the templates' settings pages. Thin: the work is in
templating, checks and actions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Avg, Count, F, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import Role, User
from comptoir.accounts.permissions import can_write, require
from comptoir.automation import actions, drafting, rules, suggest
from comptoir.automation.checks import CHECKS, levels_for, run_checks
from comptoir.automation.models import CheckLevel, CheckSetting, Suggestion, Template
from comptoir.automation.templating import (
    LANGUAGES,
    VARIABLES,
    TemplateRenderError,
    placeholder,
    primary_language,
    render_source,
    render_template,
)
from comptoir.inbox.actions import Draft
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.inbox.permissions import visible_channels, visible_conversations
from comptoir.lib.intents import INTENTS, label


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _conversation(request: HttpRequest, pk: int) -> Conversation:
    qs = visible_conversations(_user(request)).select_related(
        "shop", "channel", "customer", "order"
    )
    return get_object_or_404(qs, pk=pk)


def templates_for(conv: Conversation) -> QuerySet[Template]:
    return Template.objects.filter(Q(shop__isnull=True) | Q(shop_id=conv.shop_id), is_active=True)


# -- the composer -------------------------------------------------------------------------------


@login_required
def picker(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _conversation(request, pk)
    q = request.GET.get("q", "").strip().lstrip(";")
    rows = templates_for(conv)
    if q:
        rows = rows.filter(
            Q(name__icontains=q)
            | Q(shortcut__icontains=q)
            | Q(category__icontains=q)
            | Q(versions__body__icontains=q)
        ).distinct()
    rows = rows.order_by("-usage_count", "name")[:20]
    return render(request, "automation/_picker.html", {"conv": conv, "templates": rows, "q": q})


@login_required
def suggestions(request: HttpRequest, pk: int) -> HttpResponse:
    """The composer's "Suggested" strip (htmx fragment): the three best templates, rendered."""
    conv = _conversation(request, pk)
    found = suggest.suggest(conv, agent=_user(request))
    if found and can_write(_user(request)):
        found = suggest.record_shown(conv, found)
    return render(request, "automation/_suggestions.html", {"conv": conv, "suggestions": found})


def _values(request: HttpRequest) -> dict[str, str]:
    return {
        k[4:]: str(request.GET[k]) for k in request.GET if k.startswith("var_") and request.GET[k]
    }


@login_required
def preview(request: HttpRequest, pk: int, template_id: int) -> HttpResponse:
    conv = _conversation(request, pk)
    template = get_object_or_404(templates_for(conv), pk=template_id)
    context: dict[str, Any] = {"conv": conv, "template": template, "values": _values(request)}
    try:
        rendered = render_template(
            template, conv, agent=_user(request), values=context["values"], strict=False
        )
        context["rendered"] = rendered
        context["missing_fields"] = [(n, context["values"].get(n, "")) for n in rendered.missing]
    except TemplateRenderError as exc:
        context["error"] = exc.messages[0]
    return render(request, "automation/_preview.html", context)


@login_required
def expand(request: HttpRequest, pk: int) -> JsonResponse:
    """`;where` typed in the composer: the text of the template with that shortcut."""
    conv = _conversation(request, pk)
    shortcut = request.GET.get("shortcut", "").strip().lstrip(";").lower()
    template = (
        # The shop's own template before the all-shops one with the same shortcut.
        templates_for(conv)
        .filter(shortcut=shortcut)
        .order_by(F("shop_id").asc(nulls_last=True))
        .first()
        if shortcut
        else None
    )
    if template is None:
        return JsonResponse({"error": "no template"}, status=404)
    try:
        rendered = render_template(template, conv, agent=_user(request), strict=False)
    except TemplateRenderError as exc:
        return JsonResponse({"error": exc.messages[0], "template_id": template.pk}, status=422)
    return JsonResponse(
        {
            "template_id": template.pk,
            "text": rendered.text,
            "missing": rendered.missing,
            "preview_url": reverse("automation:preview", args=[conv.pk, template.pk]),
        }
    )


@login_required
@require_POST
def check(request: HttpRequest, pk: int) -> HttpResponse:
    """The pre-send checks of the composer's text, as a fragment; `data-blocking` on its root
    tells the page to keep the send buttons disabled."""
    conv = _conversation(request, pk)
    if request.POST.get("mode") == "note":
        results: list[Any] = []
    else:
        draft = Draft(conv, request.POST.get("text", ""), actor=_user(request))
        results = run_checks(draft)
    blocking = any(r.blocks for r in results)
    response = render(
        request, "automation/_checks.html", {"results": results, "blocking": blocking}
    )
    response["X-Checks-Blocking"] = "1" if blocking else "0"
    return response


@login_required
@require_POST
def draft(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Draft with AI" (htmx fragment): the drafted text and its pre-send checks, for the page
    to fill into the composer; a failure is one sentence. 404 while drafting is off."""
    if not drafting.enabled():
        raise Http404("AI drafting is not enabled")
    conv = _conversation(request, pk)
    user = require(_user(request), can_write, "read-only users do not answer")
    context: dict[str, Any] = {}
    try:
        context["draft"] = drafting.draft(conv, user)
    except drafting.DraftingError as exc:
        context["error"] = str(exc)
    return render(request, "automation/_ai_draft.html", context)


# -- settings -----------------------------------------------------------------------------------

MANAGERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR})


def _manager(request: HttpRequest) -> User:
    why = "templates are managed by owners, admins and supervisors"
    return require(_user(request), _manages_templates, why)


def _manages_templates(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in MANAGERS)


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    _manager(request)
    rows = Template.objects.select_related("shop").prefetch_related("versions")
    rows = rows.annotate(
        shown=Count("suggestions"),
        taken=Count("suggestions", filter=Q(suggestions__taken=True)),
        change=Avg("suggestions__sent_text_distance"),
    ).order_by("-usage_count", "name")
    totals = Suggestion.objects.aggregate(
        shown=Count("id"), taken=Count("id", filter=Q(taken=True)), change=Avg("sent_text_distance")
    )
    return render(request, "automation/templates.html", {"templates": rows, "suggested": totals})


@login_required
def template_edit(request: HttpRequest, template_id: int | None = None) -> HttpResponse:
    user = _manager(request)
    template = get_object_or_404(Template, pk=template_id) if template_id else None
    shops = Shop.objects.order_by("name")
    versions = {v.language: v for v in template.versions.all()} if template else {}
    languages = list(dict.fromkeys([*LANGUAGES, *versions]))
    error = ""
    preview_context = None
    if request.method == "POST" and "preview" in request.POST:
        preview_context = _draft_preview(user, request.POST)
        if request.headers.get("X-Fragment") == "preview":
            return render(request, "automation/_preview.html", preview_context)
    elif request.method == "POST" and can_write(user):
        shop_id = request.POST.get("shop", "")
        try:
            saved = actions.save_template(
                template,
                name=request.POST.get("name", ""),
                shop=shops.get(pk=int(shop_id)) if shop_id.isdigit() else None,
                shortcut=request.POST.get("shortcut", ""),
                category=request.POST.get("category", ""),
                intents=request.POST.getlist("intents"),
                is_active=request.POST.get("is_active") == "on",
                versions={
                    lang: (
                        request.POST.get(f"subject_{lang}", ""),
                        request.POST.get(f"body_{lang}", ""),
                    )
                    for lang in languages
                },
            )
        except (ValidationError, Shop.DoesNotExist) as exc:
            error = "; ".join(getattr(exc, "messages", [str(exc)]))
        else:
            return redirect(reverse("settings:template_edit", args=[saved.pk]))
    rows = _version_rows(request, versions, languages)
    return render(
        request,
        "automation/template_edit.html",
        {
            "template": template,
            "shops": shops,
            "rows": rows,
            "variables": [(v, placeholder(v)) for v in VARIABLES],
            "preview": preview_context,
            "chosen_conversation": request.POST.get("conversation", ""),
            "intents": [(code, label(code)) for code in INTENTS],
            "chosen_intents": request.POST.getlist("intents")
            if request.method == "POST"
            else (template.intents if template else []),
            "error": error,
            "broken_rules": rules.rules_that_cannot_fill(template) if template else [],
            "conversations": visible_conversations(user).order_by("-last_message_at")[:30],
            "form": request.POST if request.method == "POST" else None,
        },
    )


def _version_rows(
    request: HttpRequest, versions: dict[str, Any], languages: list[str]
) -> list[dict[str, str]]:
    """Each language's subject and text: as submitted, else as saved."""
    return [
        {
            "language": lang,
            "subject": request.POST.get(
                f"subject_{lang}", versions[lang].subject if lang in versions else ""
            ),
            "body": request.POST.get(
                f"body_{lang}", versions[lang].body if lang in versions else ""
            ),
        }
        for lang in languages
    ]


def _draft_preview(user: User, data: Any) -> dict[str, Any]:
    """The editor's live preview: the text as typed (not saved), in the version being edited
    (else the conversation's language), for the conversation picked, with its pre-send checks."""
    context: dict[str, Any] = {"template": {"name": data.get("name", "")}, "settings_preview": True}
    conv_id = str(data.get("conversation", ""))
    conv = (
        visible_conversations(user)
        .select_related("shop", "channel", "customer", "order")
        .filter(pk=int(conv_id))
        .first()
        if conv_id.isdigit()
        else None
    )
    versions = {
        key[5:]: (str(data.get(f"subject_{key[5:]}", "")), str(data[key]))
        for key in data
        if key.startswith("body_") and str(data[key]).strip()
    }
    if conv is None or not versions:
        context["error"] = _("Write the text and pick a conversation to see the answer here.")
        return context
    wanted = [data.get("language"), data.get("editing"), conv.language, conv.shop.language]
    found = (primary_language(str(w)) for w in wanted if w)
    language = next((w for w in found if w in versions), next(iter(versions)))
    subject, body = versions[language]
    try:
        rendered = render_source(subject, body, conv, language=language, agent=user)
    except TemplateRenderError as exc:
        context["error"] = exc.messages[0]
        return context
    labels = {v.name: v.description for v in VARIABLES}
    context |= {
        "conv": conv,
        "rendered": rendered,
        "missing_labels": [labels.get(n, n) for n in rendered.missing],
        "results": run_checks(Draft(conv, rendered.text, actor=user)),
    }
    return context


@login_required
def template_preview(request: HttpRequest, template_id: int) -> HttpResponse:
    """The template rendered for a conversation the manager picks (htmx fragment)."""
    user = _manager(request)
    template = get_object_or_404(Template, pk=template_id)
    conv_id = request.GET.get("conversation", "")
    context: dict[str, Any] = {"template": template, "values": {}, "settings_preview": True}
    conv = (
        visible_conversations(user)
        .select_related("shop", "channel", "customer", "order")
        .filter(pk=int(conv_id))
        .first()
        if conv_id.isdigit()
        else None
    )
    if conv is None:
        context["error"] = "—"
    else:
        context["conv"] = conv
        try:
            rendered = render_template(
                template,
                conv,
                agent=user,
                language=request.GET.get("language") or None,
                strict=False,
            )
            context["rendered"] = rendered
            context["results"] = run_checks(Draft(conv, rendered.text, actor=user))
        except TemplateRenderError as exc:
            context["error"] = exc.messages[0]
    return render(request, "automation/_preview.html", context)


@login_required
def check_levels(request: HttpRequest) -> HttpResponse:
    user = _manager(request)
    channels: QuerySet[Channel] = visible_channels(user).order_by("name")
    if request.method == "POST" and can_write(user):
        for spec in CHECKS:
            value = request.POST.get(f"level_{spec.code}", "")
            actions.set_check_level(spec.code, level=value or None)
            for channel in channels:
                value = request.POST.get(f"level_{spec.code}_{channel.pk}", "")
                actions.set_check_level(spec.code, level=value or None, channel=channel)
        return redirect(reverse("settings:checks"))
    settings = {(s.code, s.channel_id): s.level for s in CheckSetting.objects.all()}
    # Each channel's levels once (a query each), named in the user's language.
    labels = dict(CheckLevel.choices)
    effective = {c.pk: levels_for(c) for c in channels}
    table = [
        {
            "spec": spec,
            "default": settings.get((spec.code, None), ""),
            "channels": [
                {
                    "channel": c,
                    "value": settings.get((spec.code, c.pk), ""),
                    "effective": labels.get(effective[c.pk][spec.code], ""),
                }
                for c in channels
            ],
        }
        for spec in CHECKS
    ]
    return render(
        request,
        "automation/checks.html",
        {"table": table, "levels": CheckLevel.choices, "channels": channels},
    )
