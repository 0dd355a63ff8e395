"""Suggested answers: the templates that best answer a conversation's latest buyer message.

A template scores on four things, in this order of weight: it is tagged with the conversation's
intent (or agents answered that intent with it), it has a version in the buyer's language (else
the shop's), the buyer's text resembles the messages it answered before (a TF-IDF cosine over
words), and how often agents sent it for that intent. The per-shop index of past answers is
built once per process and rebuilt when a new answer is recorded (its version is the highest
`TemplateAnswer` id), so a call costs two small queries and arithmetic, and renders three.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from threading import Lock
from typing import TYPE_CHECKING

from django.db.models import Max, Q
from django.utils import timezone

from comptoir.automation.models import Suggestion as SuggestionRow
from comptoir.automation.models import Template, TemplateAnswer, TemplateUse, TemplateVersion
from comptoir.automation.templating import TemplateRenderError, primary_language, render_template
from comptoir.inbox.models import Direction, Message
from comptoir.lib.intents import UNSURE

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.inbox.models import Conversation

# Weights of the score's parts, each part in [0, 1].
W_INTENT, W_LANGUAGE, W_SIMILAR, W_USAGE = 3.0, 2.0, 2.0, 1.0
_WORD = re.compile(r"\w{2,}", re.UNICODE)
# Past answers kept per template in the index: the latest, enough to know what it answers.
PER_TEMPLATE = 200

Vector = dict[str, float]


@dataclass(frozen=True)
class Suggestion:
    template: Template
    rank: int
    score: float
    language: str
    text: str
    missing: list[str] = field(default_factory=list)
    row_id: int | None = None


@dataclass
class _Index:
    """What a shop's past answers say: per template, the centroid of the buyer texts it
    answered and how often it answered each intent."""

    version: int
    idf: dict[str, float]
    centroids: dict[int, Vector]
    uses: dict[int, Counter[str]]


_indexes: dict[int, _Index] = {}
_lock = Lock()


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _vector(words: list[str], idf: dict[str, float]) -> Vector:
    counts = Counter(w for w in words if w in idf)
    vec = {w: (1.0 + math.log(n)) * idf[w] for w, n in counts.items()}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {w: v / norm for w, v in vec.items()}


def _build(shop_id: int, version: int) -> _Index:
    rows = (
        TemplateAnswer.objects.filter(shop_id=shop_id)
        .order_by("-id")
        .values_list("template_id", "intent", "buyer_text")
    )
    docs: list[tuple[int, list[str]]] = []
    uses: dict[int, Counter[str]] = defaultdict(Counter)
    kept: Counter[int] = Counter()
    for template_id, intent, text in rows.iterator():
        uses[template_id][intent] += 1
        if kept[template_id] < PER_TEMPLATE:
            kept[template_id] += 1
            docs.append((template_id, tokens(text)))
    df: Counter[str] = Counter(w for _, words in docs for w in set(words))
    n = len(docs) or 1
    idf = {w: math.log((1 + n) / (1 + d)) + 1.0 for w, d in df.items()}
    sums: dict[int, Vector] = defaultdict(dict)
    for template_id, words in docs:
        acc = sums[template_id]
        for w, v in _vector(words, idf).items():
            acc[w] = acc.get(w, 0.0) + v
    centroids = {}
    for template_id, acc in sums.items():
        norm = math.sqrt(sum(v * v for v in acc.values())) or 1.0
        centroids[template_id] = {w: v / norm for w, v in acc.items()}
    return _Index(version=version, idf=idf, centroids=centroids, uses=dict(uses))


def index_for(shop_id: int) -> _Index:
    """The shop's index, rebuilt when an answer was recorded since it was built."""
    version = TemplateAnswer.objects.filter(shop_id=shop_id).aggregate(v=Max("id"))["v"] or 0
    index = _indexes.get(shop_id)
    if index is None or index.version != version:
        index = _build(shop_id, version)
        with _lock:
            _indexes[shop_id] = index
    return index


def latest_buyer_message(conversation: Conversation) -> Message | None:
    return (
        Message.objects.filter(conversation=conversation, direction=Direction.IN)
        .order_by("-received_at", "-id")
        .first()
    )


def _buyer_language(conversation: Conversation, message: Message | None) -> str:
    code = message.language if message and message.language not in ("", "unknown") else ""
    return primary_language(code or conversation.language or "")


@dataclass(frozen=True)
class Scored:
    template: Template
    score: float
    language: str


def rank(conversation: Conversation, message: Message | None) -> list[Scored]:
    """Every active template of the shop, best first (nothing rendered)."""
    shop = conversation.shop
    intent = "" if conversation.intent == UNSURE else conversation.intent
    buyer_lang = _buyer_language(conversation, message)
    shop_lang = primary_language(shop.language)
    templates = list(
        Template.objects.filter(Q(shop__isnull=True) | Q(shop_id=shop.pk), is_active=True).only(
            "id", "name", "shop_id", "intents", "usage_count"
        )
    )
    languages: dict[int, set[str]] = defaultdict(set)
    for template_id, lang in TemplateVersion.objects.filter(
        template__in=[t.pk for t in templates]
    ).values_list("template_id", "language"):
        languages[template_id].add(primary_language(lang))
    index = index_for(shop.pk)
    text = (message.new_text or message.text) if message else ""
    query = _vector(tokens(text), index.idf)
    top_use = max((c[intent] for c in index.uses.values()), default=0) if intent else 0
    scored = []
    for t in templates:
        langs = languages.get(t.pk, set())
        if not langs:
            continue
        uses = index.uses.get(t.pk, Counter())
        tagged = 1.0 if intent and intent in (t.intents or []) else 0.0
        answered = uses[intent] / top_use if top_use else 0.0
        lang_part, lang = (
            (1.0, buyer_lang)
            if buyer_lang in langs
            else (0.5, shop_lang)
            if shop_lang in langs
            else (0.0, "")
        )
        centroid = index.centroids.get(t.pk, {})
        similar = sum(v * centroid.get(w, 0.0) for w, v in query.items())
        score = (
            W_INTENT * max(tagged, min(answered, 1.0) * 0.8)
            + W_LANGUAGE * lang_part
            + W_SIMILAR * similar
            + W_USAGE * math.log1p(uses[intent] if intent else t.usage_count) / 10
        )
        scored.append(Scored(t, score, lang))
    scored.sort(key=lambda s: (-s.score, s.template.name, s.template.pk))
    return scored


def suggest(
    conversation: Conversation, limit: int = 3, *, agent: User | None = None
) -> list[Suggestion]:
    """The `limit` best templates for the conversation's latest buyer message, rendered with
    its order's values; one that cannot be rendered at all is passed over."""
    message = latest_buyer_message(conversation)
    out: list[Suggestion] = []
    for scored in rank(conversation, message):
        if len(out) >= limit:
            break
        try:
            rendered = render_template(
                scored.template,
                conversation,
                agent=agent,
                language=scored.language or None,
                strict=False,
            )
        except TemplateRenderError:
            continue
        out.append(
            Suggestion(
                template=scored.template,
                rank=len(out) + 1,
                score=scored.score,
                language=rendered.language,
                text=rendered.text,
                missing=rendered.missing,
            )
        )
    return out


def record_shown(conversation: Conversation, suggestions: list[Suggestion]) -> list[Suggestion]:
    """Note that these were shown (once per buyer message and template); the same list with
    the rows' ids."""
    message = latest_buyer_message(conversation)
    out = []
    for s in suggestions:
        row, _ = SuggestionRow.objects.update_or_create(
            conversation=conversation,
            message=message,
            template=s.template,
            defaults={"rank": s.rank, "rendered_text": s.text},
        )
        out.append(Suggestion(s.template, s.rank, s.score, s.language, s.text, s.missing, row.pk))
    return out


def change(suggested: str, sent: str) -> float:
    """How much of the suggested text the agent changed: 0 sent as is, 1 all rewritten."""
    return round(1.0 - SequenceMatcher(None, suggested.strip(), sent.strip()).ratio(), 4)


def record_answer(message: Message, template_id: int) -> None:
    """A reply made from a template was queued: remember the buyer's text it answered, mark
    the suggestion of that template taken with how much the agent changed it, and record the
    use (`TemplateUse`)."""
    conv = message.conversation
    buyer = latest_buyer_message(conv)
    if buyer is not None:
        TemplateAnswer.objects.create(
            template_id=template_id,
            shop_id=conv.shop_id,
            intent="" if conv.intent == UNSURE else conv.intent,
            language=_buyer_language(conv, buyer),
            buyer_text=(buyer.new_text or buyer.text)[:4000],
            at=message.created_at or timezone.now(),
        )
    row = (
        SuggestionRow.objects.filter(conversation=conv, template_id=template_id, taken=False)
        .order_by("-shown_at", "-id")
        .first()
    )
    if row is not None:
        row.taken = True
        row.reply = message
        row.sent_text_distance = change(row.rendered_text, message.text)
        row.save(update_fields=["taken", "reply", "sent_text_distance"])
    # The use itself, for the per-template figures (uses, and the CSAT that followed).
    TemplateUse.objects.create(
        template_id=template_id,
        conversation=conv,
        reply=message,
        suggestion=row,
        used_at=message.created_at or timezone.now(),
    )


def answered_with_template(message: Message, template_id: int | None) -> None:
    """Subscribed to `hooks.reply_queued`: inside the reply's transaction, so a refused reply
    records nothing."""
    if template_id is not None:
        record_answer(message, template_id)
