"""Where a channel's messages come from, and who read a conversation's intent: choice lists that
other apps (SLA, analytics, demo) read without the inbox's models."""

from __future__ import annotations

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
