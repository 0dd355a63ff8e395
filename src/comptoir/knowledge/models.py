"""The knowledge base: articles by theme, one version per language, and what buyers did with
them on the public FAQ (views, "did this answer your question?"). See docs/kb.md."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Theme(models.TextChoices):
    DELIVERY = "delivery", _("Delivery")
    PAYMENT = "payment", _("Payment")
    RETURNS = "returns", _("Returns and refunds")
    PRODUCT = "product", _("Products")
    ACCOUNT = "account", _("Account")
    OTHER = "other", _("Other")


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")


class Article(models.Model):
    # None: shown in every shop's FAQ.
    shop = models.ForeignKey(
        "inbox.Shop", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    theme = models.CharField(max_length=16, choices=Theme.choices, default=Theme.OTHER)
    status = models.CharField(
        max_length=16, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The template that says the same thing to one buyer: when it changes after the article's
    # last review, the article is flagged (its answer may be out of date).
    template = models.ForeignKey(
        "automation.Template", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The template's `updated_at` as it was when the article was last reviewed.
    template_seen_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["theme", "pk"]
        indexes = [models.Index(fields=["shop", "status"], name="kb_article_shop_status")]

    def __str__(self) -> str:
        return f"article {self.pk}"


class ArticleVersion(models.Model):
    """An article in one language: what the public page shows and the composer inserts."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    language = models.CharField(max_length=8)
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200)
    body = models.TextField()
    # The meta description (search engines' snippet); the body's start when left empty.
    summary = models.CharField(max_length=300, blank=True, default="")
    # Title and body folded (lower case, no accents) for the public search: the same plain
    # LIKE on SQLite and PostgreSQL, over the few hundred articles a shop has.
    search_text = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["article", "language"], name="kb_one_version_per_lang")
        ]
        ordering = ["language"]

    def __str__(self) -> str:
        return self.title


class ArticleView(models.Model):
    """An article page seen by a visitor (the anonymous id of the `kb_visitor` cookie). The
    buyer's email or order number is kept when the visit says so (a link from a reply, or the
    seller's site passing its signed-in buyer): deflection is measured on those."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="+")
    shop = models.ForeignKey("inbox.Shop", on_delete=models.CASCADE, related_name="+")
    visitor = models.CharField(max_length=32)
    language = models.CharField(max_length=8, blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")
    order_number = models.CharField(max_length=64, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["shop", "at"], name="kb_view_shop_at"),
            models.Index(fields=["visitor"], name="kb_view_visitor"),
        ]

    def __str__(self) -> str:
        return f"view of article {self.article_id} by {self.visitor}"


class ArticleFeedback(models.Model):
    """ "Did this answer your question?": one answer per visitor and article (the last counts)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback")
    visitor = models.CharField(max_length=32)
    helpful = models.BooleanField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["article", "visitor"], name="kb_one_vote_per_visitor")
        ]

    def __str__(self) -> str:
        return f"{'yes' if self.helpful else 'no'} on article {self.article_id}"
