"""Articles for the composer: the shop's published articles that best answer the conversation's
latest buyer message, to insert as text, or as a link where the channel's pre-send checks let
links through (the "link" check not blocking: `automation.checks.levels_for`)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from comptoir.automation.check_patterns import fold
from comptoir.automation.checks import levels_for
from comptoir.automation.models import CheckLevel
from comptoir.automation.suggest import latest_buyer_message, tokens
from comptoir.automation.templating import primary_language
from comptoir.inbox.models import Conversation
from comptoir.knowledge.actions import INTENT_THEMES
from comptoir.knowledge.models import ArticleVersion
from comptoir.knowledge.queries import published_versions

# Weights: the theme of the conversation's intent, the buyer's language, shared words.
W_THEME, W_LANGUAGE, W_WORDS = 2.0, 1.0, 3.0


@dataclass(frozen=True)
class ArticleSuggestion:
    version: ArticleVersion
    score: float
    url: str  # the public page, absolute
    link_allowed: bool
    link_warns: bool


def public_url(version: ArticleVersion, shop_slug: str) -> str:
    path = reverse(
        "help:article",
        args=[shop_slug, version.language, version.article_id, version.slug],
    )
    return settings.SITE_URL + path


def links_allowed(conversation: Conversation) -> tuple[bool, bool]:
    """(allowed, warned) by the channel's "link" check: blocked links are never offered."""
    level = levels_for(conversation.channel).get("link", CheckLevel.OFF)
    return level != CheckLevel.BLOCK, level == CheckLevel.WARN


def suggest_articles(conversation: Conversation, limit: int = 2) -> list[ArticleSuggestion]:
    """Best first; an article scores only if it shares words with the buyer's message or
    belongs to the theme of the conversation's intent. Two queries and arithmetic."""
    shop = conversation.shop
    message = latest_buyer_message(conversation)
    words = {fold(w) for w in tokens((message.new_text or message.text) if message else "")}
    words = {w for w in words if len(w) > 3}
    theme = INTENT_THEMES.get(conversation.intent)
    code = (message.language if message else "") or conversation.language or ""
    buyer_lang = primary_language(code if code != "unknown" else "") or shop.language
    best: dict[int, tuple[float, ArticleVersion]] = {}
    for version in published_versions(shop):
        text_words = set(tokens(version.search_text))
        shared = len(words & text_words) / (len(words) or 1)
        on_theme = 1.0 if theme and version.article.theme == theme else 0.0
        if not shared and not on_theme:
            continue
        lang = (
            1.0
            if version.language == buyer_lang
            else 0.5
            if version.language == shop.language
            else 0.0
        )
        score = W_THEME * on_theme + W_LANGUAGE * lang + W_WORDS * shared
        if version.article_id not in best or best[version.article_id][0] < score:
            best[version.article_id] = (score, version)
    ranked = sorted(best.values(), key=lambda s: (-s[0], s[1].article_id))[:limit]
    allowed, warns = links_allowed(conversation)
    return [
        ArticleSuggestion(v, score, public_url(v, shop.slug), allowed, warns) for score, v in ranked
    ]
