"""The replies of the demo's history made from a template, as the composer's send path records
them: the template's use (`TemplateUse`, what the Templates analytics page counts), and when
the agent took the composer's suggestion, the suggestion shown and taken (`Suggestion`); some
suggestions were shown and not taken. Stored in bulk through `automation.actions`.

Agents answer from a template where one answers the buyer's question (the templates' intents):
about half of those first replies, most of them by taking the suggestion. The reply's text is
the one the planner wrote (what the agent sent after adapting the template).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from comptoir.automation import actions
from comptoir.automation.models import Suggestion, Template, TemplateUse
from comptoir.demo.templates import INTENTS
from comptoir.inbox.models import Conversation, Direction, Message

FROM_TEMPLATE = 0.5  # of the first replies where a template answers the intent
FROM_SUGGESTION = 0.7  # of those, made by taking the composer's suggestion
SHOWN_NOT_TAKEN = 0.6  # of the other first replies there, the suggestion shown and passed over
BATCH = 2000


def record(seed: int) -> int:
    """Record the template uses of the history; returns how many."""
    rng = random.Random(seed * 104_729 + 14)
    templates = {t.shortcut: t for t in Template.objects.filter(shop=None)}
    by_intent = {
        intent: templates[shortcut]
        for shortcut, intents in INTENTS.items()
        if shortcut in templates
        for intent in intents
    }
    intent_of = dict(Conversation.objects.filter(intent__in=by_intent).values_list("pk", "intent"))
    first_in, first_reply = _first_exchange(list(by_intent))
    uses, shown = [], []
    for conv, (reply, at, text) in sorted(first_reply.items()):
        template = by_intent[intent_of[conv]]
        draw = rng.random()
        used = draw < FROM_TEMPLATE
        suggested = used and rng.random() < FROM_SUGGESTION
        if suggested or (not used and rng.random() < SHOWN_NOT_TAKEN):
            shown.append(
                Suggestion(
                    conversation_id=conv,
                    message_id=first_in[conv],
                    template=template,
                    rank=1,
                    rendered_text=text if suggested else "",
                    shown_at=at - timedelta(minutes=rng.uniform(0.5, 6)),
                    taken=suggested,
                    reply_id=reply if suggested else None,
                    sent_text_distance=round(rng.uniform(0, 0.3), 4) if suggested else None,
                )
            )
        if used:
            uses.append((template, conv, reply, at, len(shown) - 1 if suggested else None))
    return actions.record_template_history(
        shown,
        [
            TemplateUse(
                template=template,
                conversation_id=conv,
                reply_id=reply,
                suggestion=shown[k] if k is not None else None,
                used_at=at,
            )
            for template, conv, reply, at, k in uses
        ],
        batch_size=BATCH,
    )


def _first_exchange(
    intents: list[str],
) -> tuple[dict[int, int], dict[int, tuple[int, datetime, str]]]:
    """Per conversation about these intents: its first buyer message, and its first agent's
    reply after it."""
    first_in: dict[int, int] = {}
    first_reply: dict[int, tuple[int, datetime, str]] = {}
    messages = (
        Message.objects.filter(conversation__intent__in=intents, is_auto=False)
        .filter(direction__in=(Direction.IN, Direction.OUT))
        .order_by("conversation_id", "created_at", "pk")
        .values_list("pk", "conversation_id", "direction", "author_id", "created_at", "text")
    )
    for pk, conv, direction, author, at, text in messages.iterator(chunk_size=BATCH):
        if direction == Direction.IN:
            first_in.setdefault(conv, pk)
        elif author is not None and conv in first_in:
            first_reply.setdefault(conv, (pk, at, text))
    return first_in, first_reply
