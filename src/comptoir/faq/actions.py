"""Mining runs and the templates drafted from a cluster: every change of the FAQ app."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from comptoir.accounts.models import Role, User
from comptoir.automation import actions as automation
from comptoir.automation.models import Template
from comptoir.faq import mining
from comptoir.faq.models import Cluster, MiningRun
from comptoir.inbox.models import Direction, Event, EventKind, Message

DRAFTERS = frozenset({Role.OWNER, Role.ADMIN})


def can_draft(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in DRAFTERS)


def questions(since: datetime) -> list[mining.Question]:
    rows = (
        Message.objects.filter(direction=Direction.IN, received_at__gte=since)
        .exclude(intent__in=mining.SKIPPED_INTENTS)
        .values_list(
            "pk",
            "conversation_id",
            "language",
            "intent",
            "new_text",
            "text",
            "channel__marketplace",
            "received_at",
        )
    )
    return [
        mining.Question(pk, conv, lang, intent, new or text, market, at)
        for pk, conv, lang, intent, new, text, market, at in rows.iterator(chunk_size=2000)
    ]


def templates_used(conversation_ids: Iterable[int]) -> Counter[int]:
    """How often each template was used in replies in these conversations."""
    data = Event.objects.filter(
        conversation_id__in=list(conversation_ids), kind=EventKind.REPLIED
    ).values_list("data", flat=True)
    return Counter(d["template_id"] for d in data if isinstance(d, dict) and d.get("template_id"))


@transaction.atomic
def mine(since: datetime, now: datetime | None = None) -> MiningRun:
    """Cluster the buyer questions received since `since` and store what was found."""
    now = now or timezone.now()
    run = MiningRun.objects.create(started_at=timezone.now(), since=since)
    asked = questions(since)
    found = mining.cluster(asked, now)
    existing = set(Template.objects.values_list("pk", flat=True))
    rows = []
    for f in found:
        used = templates_used({q.conversation_id for q in f.members})
        top = next((pk for pk, _ in used.most_common() if pk in existing), None)
        rows.append(
            Cluster(
                run=run,
                language=f.language,
                intent=f.intent,
                size=len(f.members),
                label=f.label,
                terms=f.terms,
                examples=f.examples,
                marketplaces=f.marketplaces,
                recent=f.recent,
                previous=f.previous,
                template_id=top,
            )
        )
    Cluster.objects.bulk_create(rows)
    run.messages = len(asked)
    run.clusters = len(rows)
    run.finished_at = timezone.now()
    run.save()
    return run


def agent_replies(message_ids: Iterable[int]) -> dict[int, Message]:
    """The first reply an agent wrote (no auto-reply) after each buyer message."""
    out: dict[int, Message] = {}
    for question in Message.objects.filter(pk__in=list(message_ids)):
        reply = (
            Message.objects.filter(
                conversation_id=question.conversation_id,
                direction=Direction.OUT,
                is_auto=False,
                created_at__gt=question.created_at,
            )
            .order_by("created_at", "pk")
            .first()
        )
        if reply is not None:
            out[question.pk] = reply
    return out


def typical_reply(texts: list[str]) -> str:
    """The reply most like the others (the largest summed similarity): the answer agents give
    most often, in one of their own wordings."""
    if len(texts) <= 2:
        return texts[0]
    matrix, _ = mining.vectorise(texts)
    scores = np.asarray((matrix @ matrix.T).sum(axis=1)).ravel()
    return texts[int(scores.argmax())]


@transaction.atomic
def draft_template(cluster: Cluster, *, actor: User) -> Template:
    """An inactive template from a cluster: its label for a name, the agents' usual reply for a
    body, in the cluster's language; its intent is the category. Owners and admins only."""
    if not can_draft(actor):
        raise PermissionDenied(f"{actor.username} may not create templates")
    replies = [m.text.strip() for m in agent_replies(cluster.examples).values() if m.text.strip()]
    if not replies:
        raise ValidationError("no agent replied to these messages: nothing to draft from")
    body = typical_reply(replies)
    if "{" in body:  # a buyer's text is not a template: keep its braces as they are
        body = "{% raw %}" + body + "{% endraw %}"
    return automation.save_template(
        None,
        name=cluster.label,
        shop=None,
        category=cluster.intent,
        is_active=False,
        versions={cluster.language or "en": ("", body)},
    )
