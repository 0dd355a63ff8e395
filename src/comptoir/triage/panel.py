"""What the agent's pages show of triage's reading: the conversation page's Reading panel and
the intent choices the inbox's filter and the correction menu offer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import get_language_info, gettext
from django.utils.translation import gettext_lazy as _

from comptoir.inbox.models import Conversation, Direction, Message, TriageSource
from comptoir.lib import intents
from comptoir.lib.i18n import per_language

# The 17 intents in the groups a menu shows them in (the order of `intents.LABELS`).
INTENT_GROUPS: tuple[tuple[Promise, tuple[str, ...]], ...] = (
    (
        _("The order"),
        ("order_tracking", "not_received", "damaged_or_defective", "wrong_or_missing_item"),
    ),
    (_("Returns and money"), ("return_request", "refund", "cancellation", "order_change")),
    (_("Payment"), ("payment", "invoice")),
    (_("Before buying"), ("product_question", "shipping_options", "discount", "account")),
    (_("Other"), ("complaint", "thanks_or_closing", "other")),
)

ENTITY_KINDS: dict[str, Promise] = {
    "order": _("Order"),
    "parcel": _("Parcel"),
    "amount": _("Amount"),
    "date": _("Date"),
    "ean": _("EAN"),
    "sku": _("SKU"),
}
# Carriers as triage names them (`triage.entities`) and as people write them.
CARRIERS = {
    "colissimo": "Colissimo",
    "chronopost": "Chronopost",
    "mondial_relay": "Mondial Relay",
    "dpd": "DPD",
    "gls": "GLS",
    "ups": "UPS",
    "dhl": "DHL",
    "fedex": "FedEx",
    "laposte": "La Poste",
}
MARKETPLACES = {
    "amazon": "Amazon",
    "ebay": "eBay",
    "cdiscount": "Cdiscount",
    "fnac": "Fnac",
    "mirakl": "Mirakl",
    "rakuten": "Rakuten",
    "shop": _("the shop"),
}


@per_language
def intent_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """[(group, [(intent, label)])] in the user's language (shared: copy it to change it)."""
    return [
        (str(group), [(code, intents.label(code)) for code in codes])
        for group, codes in INTENT_GROUPS
    ]


@dataclass(frozen=True)
class Found:
    """One thing the buyer's message names, as the panel shows it."""

    kind: str
    kind_label: str
    value: str
    detail: str = ""
    day: date | None = None


@dataclass(frozen=True)
class ReadingPanel:
    conv: Conversation
    message: Message | None  # the latest buyer message (what a correction applies to)
    intent: str
    intent_label: str
    confidence: int | None  # percent, when the latest message gave the conversation's intent
    source_label: str
    urgency_label: str
    sentiment_label: str
    language_label: str
    found: list[Found] = field(default_factory=list)
    intent_choices: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    urgencies: list[tuple[str, str]] = field(default_factory=list)
    sentiments: list[tuple[str, str]] = field(default_factory=list)


def latest_inbound(conv: Conversation) -> Message | None:
    return (
        Message.objects.filter(conversation=conv, direction=Direction.IN)
        .order_by("-created_at", "-id")
        .first()
    )


def latest_inbound_among(newest_first: list[Message], complete: bool) -> Message | bool | None:
    """`latest_inbound` from messages already read, newest first (`complete`: all of the
    conversation's); False when they cannot tell (none inbound among an incomplete list)."""
    found = next((m for m in newest_first if m.direction == Direction.IN), None)
    return found if found is not None or complete else False


def reading_panel(conv: Conversation, message: Message | bool | None = False) -> ReadingPanel:
    """The conversation's reading (from its latest buyer message that said something) and what
    that latest message names (`message`: that message, when the caller has it; False: read)."""
    if isinstance(message, bool):
        message = latest_inbound(conv)
    confidence = None
    if (
        message is not None
        and conv.intent
        and message.intent == conv.intent
        and message.intent_confidence is not None
    ):
        confidence = round(message.intent_confidence * 100)
    return ReadingPanel(
        conv=conv,
        message=message,
        intent=conv.intent,
        intent_label=_intent_label(conv, message),
        confidence=confidence,
        source_label=str(TriageSource(conv.intent_source).label) if conv.intent_source else "",
        urgency_label=str(intents.URGENCIES.get(conv.urgency, "—")),
        sentiment_label=str(intents.SENTIMENTS.get(conv.sentiment, "—")),
        language_label=_language(conv.language),
        found=[f for e in (message.entities if message else []) if (f := _found(e))],
        intent_choices=_intent_choices(conv.intent),
        urgencies=[(k, str(v)) for k, v in intents.URGENCIES.items()],
        sentiments=[(k, str(v)) for k, v in intents.SENTIMENTS.items()],
    )


def _intent_label(conv: Conversation, message: Message | None) -> str:
    if conv.intent:
        return intents.label(conv.intent)
    if message is None:  # the seller wrote first: nothing to read yet
        return "—"
    if message.triaged_at is None:
        return gettext("Not read yet")
    return str(intents.UNSURE_LABEL)


def _intent_choices(current: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The correction menu: the current reading first (the best guess kept), then the groups."""
    groups = list(intent_groups())
    if current in intents.LABELS:
        groups.insert(0, (gettext("Current"), [(current, intents.label(current))]))
    return groups


def _language(code: str) -> str:
    if not code or code == "und":
        return "—"
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code.upper()


def _found(entity: Any) -> Found | None:
    if not isinstance(entity, dict) or not entity.get("value"):
        return None
    kind, value, source = str(entity.get("kind", "")), str(entity["value"]), entity.get("source")
    source = str(source or "")
    label = str(ENTITY_KINDS.get(kind, kind))
    if kind == "parcel":
        return Found(kind, label, value, CARRIERS.get(source, source.replace("_", " ").title()))
    if kind == "order":
        return Found(kind, label, value, str(MARKETPLACES.get(source, source)))
    if kind == "amount":
        return Found(kind, label, value, source)
    if kind == "date":
        try:
            return Found(kind, label, value, day=date.fromisoformat(value))
        except ValueError:
            return Found(kind, label, value)
    return Found(kind, label, value)
