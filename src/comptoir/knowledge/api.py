"""REST endpoints of the knowledge base (`/api/v1/articles`): every active user reads the
articles (agents insert them in replies), owners, admins and supervisors change them (the
actions check it: 403). The public FAQ's figures (views, "did this answer your question?",
deflection) are figures: analysts read them too. Changes go through `knowledge.actions`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.responses import Status as Reply
from pydantic import field_validator

from comptoir.accounts.models import Role, User
from comptoir.accounts.permissions import NotVisible, find_visible, require
from comptoir.automation.models import Template
from comptoir.faq.models import Cluster
from comptoir.inbox.models import Shop
from comptoir.knowledge import actions, queries
from comptoir.knowledge.models import Article, ArticleStatus, ArticleView, Theme
from comptoir.knowledge.permissions import can_edit, can_read
from comptoir.lib.text import refuse_nul

router = Router(tags=["knowledge base"])


class In(Schema):
    """A request body: no NUL character in any of its text (422, not a database error)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return refuse_nul(value)


MAX_LIMIT = 200
MAX_ID = 2**63 - 1
LANGUAGE = r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$"


class ErrorOut(Schema):
    detail: Any


class VersionIn(In):
    language: str = Field(pattern=LANGUAGE, max_length=8, description="fr, en, de...")
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=50000)
    summary: str = Field("", max_length=300, description="the search engines' snippet")
    slug: str = Field("", max_length=200, description="made from the title when left empty")


class VersionOut(Schema):
    language: str
    title: str
    slug: str
    body: str
    summary: str
    updated_at: datetime


class ArticleOut(Schema):
    id: int
    shop_id: int | None = Field(description="null: in every shop's FAQ")
    theme: Theme
    status: ArticleStatus
    owner_id: int | None
    template_id: int | None = Field(description="the template that says the same to one buyer")
    stale: bool = Field(description="not reviewed for COMPTOIR_KB_REVIEW_MONTHS")
    template_changed: bool = Field(description="its template changed since the last review")
    reviewed_at: datetime | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    views: int = Field(description="public page views")
    helpful: int = Field(description='"did this answer your question?": yes')
    not_helpful: int = Field(description='"did this answer your question?": no')
    versions: list[VersionOut]


class ArticlePage(Schema):
    items: list[ArticleOut]
    count: int
    next_offset: int | None = Field(description="the offset of the next page; null on the last")


class ArticleIn(In):
    shop_id: int | None = Field(None, ge=1, le=MAX_ID, description="null: every shop")
    theme: Theme
    template_id: int | None = Field(None, ge=1, le=MAX_ID)
    owner_id: int | None = Field(None, ge=1, le=MAX_ID, description="the caller by default")
    versions: list[VersionIn] = Field(
        min_length=1, max_length=20, description="one per language; a language left out is removed"
    )


class PublishIn(In):
    published: bool = Field(True, description="false: back to draft")


class DeflectionOut(Schema):
    shop_id: int
    days: int
    wrote: int = Field(description="viewed, then the same buyer wrote within 7 days")
    did_not_write: int = Field(description="viewed, and 7 days passed without writing")
    waiting: int = Field(description="viewed less than 7 days ago")
    unknown: int = Field(description="visitors not tied to a buyer, left out of the rate")
    rate: float | None = Field(description="did_not_write / (wrote + did_not_write)")


_WRITE_ERRORS: dict[int, type[Schema]] = {403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return require(user, can_read, "inactive users do not read the knowledge base")


def _articles() -> QuerySet[Article]:
    views = (
        ArticleView.objects.filter(article=OuterRef("pk"))
        .order_by()
        .values("article")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queries.staff_articles().annotate(
        views=Coalesce(Subquery(views, output_field=IntegerField()), 0)
    )


def _out(article: Article, now: datetime, language: str | None = None) -> dict[str, Any]:
    versions = [v for v in article.versions.all() if language is None or v.language == language]
    data = {f.attname: getattr(article, f.attname) for f in Article._meta.concrete_fields}
    return {
        **data,
        "stale": queries.is_stale(article, now),
        "template_changed": queries.template_changed(article),
        "views": article.views,  # type: ignore[attr-defined]
        "helpful": article.yes,  # type: ignore[attr-defined]
        "not_helpful": article.no,  # type: ignore[attr-defined]
        "versions": versions,
    }


def _article(article_id: int, language: str | None = None) -> dict[str, Any]:
    article = find_visible(_articles(), article_id)
    return _out(article, timezone.now(), language)


def _save(article: Article | None, user: User, body: ArticleIn) -> Article:
    languages = [v.language for v in body.versions]
    if len(set(languages)) != len(languages):
        raise ValidationError("one version per language")
    versions = {
        v.language: actions.VersionInput(title=v.title, body=v.body, summary=v.summary, slug=v.slug)
        for v in body.versions
    }
    if article is not None:
        # A language left out loses its version, as the editor's empty fields do.
        for old in article.versions.all():
            versions.setdefault(old.language, actions.VersionInput(title="", body=""))
    return actions.save_article(
        article,
        actor=user,
        shop=find_visible(Shop.objects.all(), body.shop_id) if body.shop_id else None,
        theme=body.theme,
        template=find_visible(Template.objects.all(), body.template_id)
        if body.template_id
        else None,
        owner=find_visible(User.objects.filter(is_active=True), body.owner_id)
        if body.owner_id
        else None,
        versions=versions,
    )


@router.get("/articles", response={200: ArticlePage, 422: ErrorOut})
def list_articles(
    request: HttpRequest,
    theme: Theme | None = None,
    status: ArticleStatus | None = None,
    shop: int | None = Query(None, ge=1, le=MAX_ID, description="those shown in this shop's FAQ"),
    language: str | None = Query(None, pattern=LANGUAGE, description="only this version"),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_ID),
) -> dict[str, Any]:
    """By theme, with their flags and their public figures."""
    _user(request)
    qs = _articles()
    if theme is not None:
        qs = qs.filter(theme=theme)
    if status is not None:
        qs = qs.filter(status=status)
    if shop is not None:
        qs = qs.filter(Q(shop__isnull=True) | Q(shop_id=shop))
    if language is not None:
        qs = qs.filter(versions__language=language)
    count = qs.count()
    now = timezone.now()
    rows = [_out(a, now, language) for a in qs[offset : offset + limit]]
    more = offset + len(rows) < count
    return {"items": rows, "count": count, "next_offset": offset + len(rows) if more else None}


@router.get("/articles/deflection", response={200: DeflectionOut, 403: ErrorOut, 404: ErrorOut})
def deflection(
    request: HttpRequest,
    shop: int = Query(ge=1, le=MAX_ID),
    days: int = Query(30, ge=1, le=365),
) -> dict[str, Any]:
    """Of the buyers who read the shop's FAQ, how many did not write (supervisors, admins,
    owners and analysts, as the page)."""
    require(
        _user(request),
        lambda u: can_edit(u) or u.role == Role.ANALYST,
        "the FAQ's figures are for supervisors, admins, owners and analysts",
    )
    the_shop = find_visible(Shop.objects.all(), shop)
    result = queries.deflection(the_shop, timezone.now() - timedelta(days=days))
    return {"shop_id": the_shop.pk, "days": days, **vars(result), "rate": result.rate}


@router.get("/articles/{article_id}", response={200: ArticleOut, 404: ErrorOut, 422: ErrorOut})
def get_article(
    request: HttpRequest,
    article_id: int,
    language: str | None = Query(
        None, pattern=LANGUAGE, description="only this version (404 without it)"
    ),
) -> dict[str, Any]:
    _user(request)
    data = _article(article_id, language)
    if language is not None and not data["versions"]:
        raise NotVisible(f"article {article_id} has no version in {language}")
    return data


@router.post("/articles", response={201: ArticleOut, **_WRITE_ERRORS})
def create_article(request: HttpRequest, body: ArticleIn) -> Reply[dict[str, Any]]:
    """A new article, a draft owned by the caller unless `owner_id` says otherwise."""
    article = _save(None, _user(request), body)
    return Reply(201, _article(article.pk))


@router.put("/articles/{article_id}", response={200: ArticleOut, **_WRITE_ERRORS})
def update_article(request: HttpRequest, article_id: int, body: ArticleIn) -> dict[str, Any]:
    """Replaces the article's fields and versions with the body's."""
    user = _user(request)
    article = find_visible(Article.objects.all(), article_id)
    _save(article, user, body)
    return _article(article_id)


@router.post("/articles/{article_id}/publish", response={200: ArticleOut, **_WRITE_ERRORS})
def publish(request: HttpRequest, article_id: int, body: PublishIn) -> dict[str, Any]:
    """On the shop's public FAQ (`published: false` takes it back to draft)."""
    article = find_visible(Article.objects.all(), article_id)
    actions.set_published(article, actor=_user(request), published=body.published)
    return _article(article_id)


@router.post("/articles/{article_id}/review", response={200: ArticleOut, **_WRITE_ERRORS})
def review(request: HttpRequest, article_id: int) -> dict[str, Any]:
    """Read again and found right: its age (and its template's changes) count from now."""
    article = find_visible(Article.objects.all(), article_id)
    actions.mark_reviewed(article, actor=_user(request))
    return _article(article_id)


@router.post(
    "/articles/from-cluster/{cluster_id}",
    response={201: ArticleOut, **_WRITE_ERRORS},
    summary="A draft article from a FAQ-mining cluster",
)
def from_cluster(request: HttpRequest, cluster_id: int) -> Reply[dict[str, Any]]:
    cluster = find_visible(Cluster.objects.select_related("template"), cluster_id)
    article = actions.draft_from_cluster(cluster, actor=_user(request))
    return Reply(201, _article(article.pk))
