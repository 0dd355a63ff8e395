"""The knowledge base's staff pages (/kb/): the articles with their flags, feedback and
deflection, the editor, publish and review buttons, drafts from FAQ mining, the embed code,
and the composer's article suggestions. Thin: the work is in actions and queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import find_visible, require
from comptoir.automation.models import Template
from comptoir.faq.models import Cluster
from comptoir.inbox.models import Shop
from comptoir.inbox.permissions import visible_conversations
from comptoir.knowledge import actions, queries, suggest
from comptoir.knowledge.models import Article, Theme
from comptoir.knowledge.permissions import can_edit, can_read
from comptoir.knowledge.public import conversation_token

# The languages the editor always offers; others an article has are shown too.
LANGUAGES = ("fr", "en")


def _reader(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(user, can_read, "inactive users do not read the knowledge base")


@login_required
def article_list(request: HttpRequest) -> HttpResponse:
    user = _reader(request)
    now = timezone.now()
    theme = request.GET.get("theme", "")
    rows = queries.staff_articles()
    if theme in Theme.values:
        rows = rows.filter(theme=theme)
    articles = [
        (a, queries.is_stale(a, now), queries.template_changed(a), list(a.versions.all()))
        for a in rows
    ]
    shops = list(Shop.objects.order_by("name"))
    since = now - timedelta(days=30)
    context: dict[str, Any] = {
        "articles": articles,
        "themes": Theme.choices,
        "theme": theme,
        "can_edit": can_edit(user),
        "review_months": queries.review_age().days // 30,
        "shops": [(s, queries.deflection(s, since, now)) for s in shops] if can_edit(user) else [],
        "site": settings.SITE_URL,
    }
    return render(request, "knowledge/list.html", context)


def _versions_from(request: HttpRequest, languages: list[str]) -> dict[str, actions.VersionInput]:
    return {
        lang: actions.VersionInput(
            title=request.POST.get(f"title_{lang}", ""),
            body=request.POST.get(f"body_{lang}", ""),
            summary=request.POST.get(f"summary_{lang}", ""),
            slug=request.POST.get(f"slug_{lang}", ""),
        )
        for lang in languages
    }


@login_required
def article_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """GET: the article (read-only for agents). POST: saved by `actions.save_article`."""
    user = _reader(request)
    article = find_visible(Article.objects.all(), pk) if pk else None
    versions = {v.language: v for v in article.versions.all()} if article else {}
    extra = request.POST.get("new_language", "").strip().lower()[:8]
    languages = list(dict.fromkeys([*LANGUAGES, *versions, *([extra] if extra else [])]))
    error = ""
    if request.method == "POST":
        shop_id, template_id = request.POST.get("shop", ""), request.POST.get("template", "")
        try:
            saved = actions.save_article(
                article,
                actor=user,
                shop=Shop.objects.get(pk=int(shop_id)) if shop_id.isdigit() else None,
                theme=request.POST.get("theme", ""),
                template=Template.objects.get(pk=int(template_id))
                if template_id.isdigit()
                else None,
                versions=_versions_from(request, languages),
            )
        except (ValidationError, Shop.DoesNotExist, Template.DoesNotExist) as exc:
            error = "; ".join(getattr(exc, "messages", [str(exc)]))
        else:
            messages.success(request, _("Article saved."))
            return redirect("knowledge:edit", pk=saved.pk)
    form = request.POST if request.method == "POST" else None
    rows = [
        {
            "language": lang,
            "version": versions.get(lang),
            **{
                f: (form.get(f"{f}_{lang}", "") if form else getattr(versions.get(lang), f, ""))
                for f in ("title", "body", "summary", "slug")
            },
        }
        for lang in languages
    ]
    context = {
        "article": article,
        "heading": next(iter(versions.values())).title if versions else "",
        "rows": rows,
        "themes": Theme.choices,
        "shops": Shop.objects.order_by("name"),
        "templates": Template.objects.order_by("name").only("pk", "name"),
        "can_edit": can_edit(user),
        "error": error,
        "form": form,
        "stale": article is not None and queries.is_stale(article, timezone.now()),
        "template_changed": article is not None and queries.template_changed(article),
    }
    return render(request, "knowledge/edit.html", context)


@login_required
@require_POST
def publish(request: HttpRequest, pk: int) -> HttpResponse:
    article = find_visible(Article.objects.all(), pk)
    published = request.POST.get("published") == "1"
    actions.set_published(article, actor=_reader(request), published=published)
    messages.success(request, _("Article published.") if published else _("Article unpublished."))
    return redirect("knowledge:edit", pk=article.pk)


@login_required
@require_POST
def review(request: HttpRequest, pk: int) -> HttpResponse:
    article = find_visible(Article.objects.all(), pk)
    actions.mark_reviewed(article, actor=_reader(request))
    messages.success(request, _("Marked as reviewed today."))
    return redirect("knowledge:edit", pk=article.pk)


@login_required
@require_POST
def from_cluster(request: HttpRequest, cluster_id: int) -> HttpResponse:
    """FAQ mining's "Draft an article" button."""
    cluster = find_visible(Cluster.objects.select_related("template"), cluster_id)
    article = actions.draft_from_cluster(cluster, actor=_reader(request))
    messages.success(request, _("Draft article created: check the answer, then publish it."))
    return redirect("knowledge:edit", pk=article.pk)


@login_required
def composer_suggestions(request: HttpRequest, pk: int) -> HttpResponse:
    """The composer's articles (htmx fragment): insert as text, or as a link when allowed."""
    user = _reader(request)
    conv = get_object_or_404(visible_conversations(user).select_related("shop", "channel"), pk=pk)
    found = suggest.suggest_articles(conv)
    token = conversation_token(conv.pk)
    rows = [(s, f"{s.url}?r={token}") for s in found]
    return render(
        request,
        "knowledge/_suggestions.html",
        {"conv": conv, "rows": rows, "list_url": reverse("knowledge:list")},
    )
