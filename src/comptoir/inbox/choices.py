"""Where a channel's messages come from, who read a conversation's intent, what an event says:
choice lists that other apps (SLA, analytics, demo) read without the inbox's models."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Marketplace(models.TextChoices):
    OWN_SHOP = "shop", _("Own shop")
    AMAZON = "amazon", "Amazon"
    EBAY = "ebay", "eBay"
    CDISCOUNT = "cdiscount", "Cdiscount"
    FNAC = "fnac", "Fnac"
    RAKUTEN = "rakuten", "Rakuten"
    DARTY = "darty", "Darty"
    BOULANGER = "boulanger", "Boulanger"
    CONFORAMA = "conforama", "Conforama"
    LEROY_MERLIN = "leroymerlin", "Leroy Merlin"
    CARREFOUR = "carrefour", "Carrefour"
    SPARTOO = "spartoo", "Spartoo"
    OTHER = "other", _("Other")


class ChannelKind(models.TextChoices):
    """The connector that serves a channel (see connectors.registry)."""

    EMAIL = "email", _("Email")
    AMAZON = "amazon", "Amazon SP-API"
    EBAY = "ebay", "eBay"
    CDISCOUNT = "cdiscount", "Cdiscount / Octopia"
    FNAC = "fnac", "Fnac"
    MIRAKL = "mirakl", "Mirakl"
    RAKUTEN = "rakuten", "Rakuten"
    CHAT = "chat", _("Live chat")
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM = "instagram", "Instagram"
    WHATSAPP = "whatsapp", "WhatsApp"
    SPARTOO = "spartoo", "Spartoo"
    API = "api", "API"


class TriageSource(models.TextChoices):
    """Who gave a conversation or a message its intent."""

    NONE = "", _("Nobody")
    MARKETPLACE = "marketplace", _("The marketplace")
    TRIAGE = "triage", pgettext_lazy("who set it", "Triage")
    AGENT = "agent", _("An agent")


class EventKind(models.TextChoices):
    CREATED = "created", _("Conversation created")
    MESSAGE_RECEIVED = "message_received", _("Message received")
    REPLIED = "replied", _("Replied")
    NOTE_ADDED = "note_added", _("Note added")
    ASSIGNED = "assigned", _("Assigned")
    UNASSIGNED = "unassigned", _("Unassigned")
    TAGGED = "tagged", _("Tagged")
    UNTAGGED = "untagged", _("Untagged")
    STATUS_CHANGED = "status_changed", _("Status changed")
    SNOOZED = "snoozed", _("Snoozed")
    PRIORITY_CHANGED = "priority_changed", _("Priority changed")
    LANGUAGE_SET = "language_set", _("Language set")
    INTENT_SET = "intent_set", _("Intent set")
    URGENCY_SET = "urgency_set", _("Urgency set")
    ARCHIVED = "archived", _("Archived")
    UNARCHIVED = "unarchived", _("Unarchived")
    DELETED = "deleted", _("Deleted")
    RESTORED = "restored", _("Restored")
    MERGED = "merged", _("Merged")
    REOPENED = "reopened", _("Reopened")
    DELIVERY_FAILED = "delivery_failed", _("Delivery failed")
    DELIVERED = "delivered", _("Delivered")
    DELIVERY_RETRIED = "delivery_retried", _("Sent again")
    ORDER_LINKED = "order_linked", _("Order linked")
    CHANNEL_UNHEALTHY = "channel_unhealthy", _("Channel stopped")
    CHANNEL_FAILING = "channel_failing", _("Channel failing")
    CHANNEL_RECOVERED = "channel_recovered", _("Channel working again")
    SLA_AT_RISK = "sla_at_risk", _("Response deadline at risk")
    SLA_BREACHED = "sla_breached", _("Response deadline missed")
    NO_RESPONSE_NEEDED = "no_response_needed", _("Marked as needing no response")
    # Written by orders.actions when the marketplace reports it, for the rules to act on.
    ORDER_SHIPPED = "order_shipped", _("Order shipped")
    ORDER_DELIVERED = "order_delivered", _("Order delivered")
    ORDER_LATE = "order_late", _("Order late to ship")
    # By ingest when another sender's conversation names the same order: look at both, never
    # merged (data: the other conversation's id and the order number).
    SAME_ORDER = "same_order", _("Same order as another conversation")
    # By the surveys app, for the rules: sent (data: kind, channel), answered (score, kind).
    SURVEY_SENT = "survey_sent", _("Survey sent")
    SURVEY_ANSWERED = "survey_answered", _("Survey answered")
    CASE_OPENED = "case_opened", _("Case opened")  # by cases.actions, told by lib.cases
    CASE_CHANGED = "case_changed", _("Case changed")  # data["change"]: stage, outcome...


def label_of(labels: dict[str, Any], value: str) -> str:
    """What Django's `get_FOO_display` gives: the choice's label in the active language, or the
    stored value itself if no choice has it."""
    return str(labels.get(value, value))
