"""What the knowledge base's pages read: the articles list with its flags, a shop's published
articles per language, the public search, and the deflection figures (docs/kb.md)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from comptoir.automation.check_patterns import fold
from comptoir.inbox.models import Direction, Message, Shop
from comptoir.knowledge.models import Article, ArticleStatus, ArticleVersion, ArticleView

DEFLECTION_WINDOW = timedelta(days=7)
# The candidates a search looks at: a shop's FAQ has tens or hundreds of articles.
SEARCH_LIMIT = 50


def review_age() -> timedelta:
    return timedelta(days=30 * settings.KB_REVIEW_MONTHS)


def is_stale(article: Article, now: datetime) -> bool:
    """Not reviewed for KB_REVIEW_MONTHS (never reviewed: counted from its creation)."""
    return (article.reviewed_at or article.created_at) < now - review_age()


def template_changed(article: Article) -> bool:
    """Its linked template was saved after the article's last review."""
    template = article.template
    if template is None:
        return False
    seen = article.template_seen_at
    return seen is None or template.updated_at > seen


def staff_articles() -> QuerySet[Article]:
    """Every article with its versions, template, owner and feedback counts: three queries."""
    return (
        Article.objects.select_related("shop", "owner", "template")
        .prefetch_related("versions")
        .annotate(
            yes=Count("feedback", filter=Q(feedback__helpful=True)),
            no=Count("feedback", filter=Q(feedback__helpful=False)),
        )
        .order_by("theme", "pk")
    )


def published(shop: Shop) -> QuerySet[Article]:
    return Article.objects.filter(
        Q(shop__isnull=True) | Q(shop=shop), status=ArticleStatus.PUBLISHED
    )


def published_versions(shop: Shop, language: str | None = None) -> QuerySet[ArticleVersion]:
    rows = ArticleVersion.objects.filter(article__in=published(shop)).select_related("article")
    if language:
        rows = rows.filter(language=language)
    return rows.order_by("article__theme", "article_id")


def languages(shop: Shop) -> list[str]:
    """The languages the shop's FAQ has, its own language first."""
    found = set(published_versions(shop).values_list("language", flat=True).distinct())
    return sorted(found, key=lambda code: (code != shop.language, code))


def choose_language(shop: Shop, available: list[str], wanted: list[str]) -> str:
    """The first wanted language the FAQ has (exact, then its primary part), else the shop's,
    else the first there is."""
    for code in wanted:
        code = code.lower()
        for candidate in (code, code.split("-")[0]):
            if candidate in available:
                return candidate
    if shop.language in available or not available:
        return shop.language
    return available[0]


def accepted_languages(header: str) -> list[str]:
    """Accept-Language's codes, best first (q=0 left out)."""
    scored = []
    for i, part in enumerate(header.split(",")[:20]):
        code, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if code and code != "*" and q > 0:
            scored.append((-q, i, code.strip()))
    return [code for _, _, code in sorted(scored)]


def search(shop: Shop, language: str, query: str) -> list[ArticleVersion]:
    """The published versions in `language` holding every word of the query (accents and case
    folded), title matches first. A LIKE per word on the folded column: the same answers on
    SQLite and PostgreSQL."""
    words = [w for w in fold(query).split() if len(w) > 1][:8]
    if not words:
        return []
    rows = published_versions(shop, language)
    for word in words:
        rows = rows.filter(search_text__contains=word)
    found = list(rows[:SEARCH_LIMIT])
    found.sort(key=lambda v: -sum(w in fold(v.title) for w in words))
    return found


@dataclass(frozen=True)
class Deflection:
    wrote: int  # viewed, then the same buyer wrote within 7 days
    did_not_write: int  # viewed, known buyer, 7 days passed without a new conversation
    waiting: int  # known buyer, the 7 days not over yet
    unknown: int  # visitors we cannot tie to a buyer: left out of the rate

    @property
    def rate(self) -> float | None:
        """Share of known visitors who did not write (None: none known yet)."""
        known = self.wrote + self.did_not_write
        return self.did_not_write / known if known else None


def deflection(shop: Shop, since: datetime, now: datetime | None = None) -> Deflection:
    """Per visitor, from their first view since `since`: did the same buyer (by the email or
    order number one of their views carried) write to the shop within 7 days?"""
    now = now or timezone.now()
    first: dict[str, datetime] = {}
    emails: dict[str, str] = {}
    orders: dict[str, str] = {}
    rows = ArticleView.objects.filter(shop=shop, at__gte=since).order_by("at")
    for visitor, at, email, order in rows.values_list("visitor", "at", "email", "order_number"):
        first.setdefault(visitor, at)
        if email:
            emails[visitor] = email
        if order:
            orders[visitor] = order
    known = set(emails) | set(orders)
    began: dict[str, list[datetime]] = defaultdict(list)
    if known:
        # Any buyer message counts, in a new conversation or an old one.
        written = Message.objects.filter(
            conversation__shop=shop, direction=Direction.IN, received_at__gte=since
        ).filter(
            Q(conversation__customer__email__in=set(emails.values()))
            | Q(conversation__order_number__in=set(orders.values()))
        )
        rows_written = written.values_list(
            "conversation__customer__email", "conversation__order_number", "received_at"
        )
        for email, order, at in rows_written:
            if email:
                began["e:" + email.lower()].append(at)
            if order:
                began["o:" + order].append(at)
    wrote = did_not = waiting = 0
    for visitor in known:
        seen = first[visitor]
        keys = [f"e:{emails[visitor]}" if visitor in emails else "", f"o:{orders.get(visitor)}"]
        dates = [at for key in keys for at in began.get(key, [])]
        if any(seen <= at <= seen + DEFLECTION_WINDOW for at in dates):
            wrote += 1
        elif seen + DEFLECTION_WINDOW <= now:
            did_not += 1
        else:
            waiting += 1
    return Deflection(wrote, did_not, waiting, len(first) - len(known))
