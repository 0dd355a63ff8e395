"""Every change to the knowledge base: articles and their versions, publishing, reviews, drafts
from FAQ mining, and what public visitors record (views, feedback). Views call these."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from comptoir.accounts.models import User
from comptoir.automation.check_patterns import fold
from comptoir.automation.models import Template
from comptoir.faq import actions as faq
from comptoir.faq.models import Cluster
from comptoir.inbox.models import Shop
from comptoir.knowledge.models import (
    Article,
    ArticleFeedback,
    ArticleStatus,
    ArticleVersion,
    ArticleView,
    Theme,
)
from comptoir.knowledge.permissions import require_edit

# Which theme an intent's questions belong to (FAQ-mining drafts and composer suggestions).
INTENT_THEMES = {
    "order_tracking": Theme.DELIVERY,
    "not_received": Theme.DELIVERY,
    "shipping_options": Theme.DELIVERY,
    "order_change": Theme.DELIVERY,
    "payment": Theme.PAYMENT,
    "invoice": Theme.PAYMENT,
    "discount": Theme.PAYMENT,
    "return_request": Theme.RETURNS,
    "refund": Theme.RETURNS,
    "cancellation": Theme.RETURNS,
    "damaged_or_defective": Theme.RETURNS,
    "wrong_or_missing_item": Theme.RETURNS,
    "product_question": Theme.PRODUCT,
    "account": Theme.ACCOUNT,
}
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_VISITOR = re.compile(r"^[A-Za-z0-9_-]{16,32}$")


@dataclass(frozen=True)
class VersionInput:
    title: str
    body: str
    summary: str = ""
    slug: str = ""


def search_text(title: str, body: str) -> str:
    return fold(f"{title}\n{body}")


def _save_versions(article: Article, versions: Mapping[str, VersionInput]) -> None:
    now = timezone.now()
    existing = {v.language: v for v in article.versions.all()}
    for language, given in versions.items():
        title, body = given.title.strip(), given.body.strip()
        if not title and not body:
            if language in existing:
                existing[language].delete()
            continue
        if not title or not body:
            raise ValidationError(f"{language}: a version needs a title and an answer")
        if not _LANGUAGE.match(language):
            raise ValidationError(f"{language!r} is not a language code such as fr or en")
        ArticleVersion.objects.update_or_create(
            article=article,
            language=language,
            defaults={
                "title": title[:200],
                "slug": slugify(given.slug or title)[:200] or "article",
                "body": body,
                "summary": given.summary.strip()[:300],
                "search_text": search_text(title, body),
                "updated_at": now,
            },
        )


@transaction.atomic
def save_article(
    article: Article | None,
    *,
    actor: User,
    shop: Shop | None,
    theme: str,
    template: Template | None = None,
    owner: User | None = None,
    versions: Mapping[str, VersionInput],
) -> Article:
    """Create or update an article and its versions (language → title, body); a language left
    with neither title nor body loses its version. A new article is a draft owned by `actor`.
    Supervisors, admins and owners only."""
    require_edit(actor)
    if theme not in Theme.values:
        raise ValidationError(f"unknown theme {theme!r}")
    if not any(v.title.strip() and v.body.strip() for v in versions.values()):
        raise ValidationError("an article needs at least one language with a title and an answer")
    now = timezone.now()
    if article is None:
        article = Article(owner=owner or actor, created_at=now)
    elif owner is not None:
        article.owner = owner
    if template != article.template:
        # A new link starts from the template as it is now: nothing to flag yet.
        article.template_seen_at = template.updated_at if template else None
    article.shop, article.theme, article.template = shop, theme, template
    article.updated_at = now
    article.save()
    _save_versions(article, versions)
    if not article.versions.exists():
        raise ValidationError("an article needs at least one language with a title and an answer")
    return article


@transaction.atomic
def set_published(article: Article, *, actor: User, published: bool) -> Article:
    """Publish an article on its shop's public FAQ, or take it back to draft."""
    require_edit(actor)
    article = Article.objects.select_for_update().get(pk=article.pk)
    article.status = ArticleStatus.PUBLISHED if published else ArticleStatus.DRAFT
    if published and article.published_at is None:
        article.published_at = timezone.now()
    article.updated_at = timezone.now()
    article.save(update_fields=["status", "published_at", "updated_at"])
    return article


@transaction.atomic
def mark_reviewed(article: Article, *, actor: User) -> Article:
    """Someone read the article again and found it right: its age and its template's changes
    start again from now."""
    require_edit(actor)
    article = (
        Article.objects.select_for_update(of=("self",))
        .select_related("template")
        .get(pk=article.pk)
    )
    article.reviewed_at = timezone.now()
    article.template_seen_at = article.template.updated_at if article.template else None
    article.save(update_fields=["reviewed_at", "template_seen_at"])
    return article


@transaction.atomic
def draft_from_cluster(cluster: Cluster, *, actor: User, shop: Shop | None = None) -> Article:
    """A draft article from a FAQ-mining cluster: its label for a title, the agents' usual reply
    (else the buyers' question, to be answered) for a body, in the cluster's language, the
    theme its intent belongs to, linked to the template agents used most."""
    require_edit(actor)
    replies = [m.text.strip() for m in faq.agent_replies(cluster.examples).values() if m.text]
    body = faq.typical_reply([r for r in replies if r]) if any(replies) else ""
    if not body:
        body = f"({cluster.label})"
    language = (cluster.language or "en")[:8]
    return save_article(
        None,
        actor=actor,
        shop=shop,
        theme=INTENT_THEMES.get(cluster.intent, Theme.OTHER),
        template=cluster.template,
        versions={language: VersionInput(title=cluster.label[:200], body=body)},
    )


def valid_visitor(visitor: str) -> bool:
    return bool(_VISITOR.match(visitor))


def record_view(
    article: Article,
    *,
    shop: Shop,
    visitor: str,
    language: str,
    email: str = "",
    order_number: str = "",
    at: datetime | None = None,
) -> ArticleView:
    """A public visitor saw the article (the page's view beacon). Email and order number only
    when the visit carried them (docs/kb.md, "Deflection")."""
    return ArticleView.objects.create(
        article=article,
        shop=shop,
        visitor=visitor,
        language=language[:8],
        email=email.strip().lower()[:254],
        order_number=order_number.strip()[:64],
        at=at or timezone.now(),
    )


@transaction.atomic
def record_feedback(article: Article, *, visitor: str, helpful: bool) -> ArticleFeedback:
    """ "Did this answer your question?": one answer per visitor and article, the last wins."""
    row, _ = ArticleFeedback.objects.update_or_create(
        article=article, visitor=visitor, defaults={"helpful": helpful, "at": timezone.now()}
    )
    return row
