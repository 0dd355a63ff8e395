"""What triage keeps: its trained models (versioned, one active), the agents' corrections (the
seller's own training data) and the seller's triage settings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comptoir.lib.crypto import decrypt, encrypt


class IntentModel(models.Model):
    """One trained intent classifier. The active one reads new messages; an admin rolls back by
    activating an earlier one. Version 0 (not stored) is the base model trained from the data
    shipped with Comptoir (`triage.training.base_model`)."""

    class Source(models.TextChoices):
        BASE = "base", _("Shipped data")
        SELLER = "seller", _("Shipped data and the seller's messages")

    version = models.PositiveIntegerField(unique=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.SELLER)
    # The classifier itself (`triage.intent.Model.to_bytes`: numpy arrays, no pickle).
    artifact = models.BinaryField()
    data_hash = models.CharField(max_length=64, blank=True, default="")
    # Figures on the held-out data: macro F1, per-intent precision/recall/F1, per language,
    # the confusion matrix, the unsure rate; and what it was trained on (counts).
    metrics = models.JSONField(default=dict, blank=True)
    trained_on = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model"
            )
        ]

    def __str__(self) -> str:
        return f"intent model v{self.version}"


class Correction(models.Model):
    """An agent said triage read a message wrong: the message's text at that moment and the
    right value, kept as training data (it goes with the message when that is erased)."""

    class Field(models.TextChoices):
        INTENT = "intent", _("Intent")
        URGENCY = "urgency", _("Urgency")
        SENTIMENT = "sentiment", _("Sentiment")
        LANGUAGE = "language", _("Language")

    message = models.ForeignKey(
        "inbox.Message", on_delete=models.CASCADE, related_name="triage_corrections"
    )
    field = models.CharField(max_length=12, choices=Field.choices)
    previous = models.CharField(max_length=32, blank=True, default="")
    value = models.CharField(max_length=32)
    text = models.TextField(blank=True, default="")
    language = models.CharField(max_length=8, blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["field", "created_at"], name="correction_field")]

    def __str__(self) -> str:
        return f"{self.field}: {self.previous} -> {self.value}"


class TriageSettings(models.Model):
    """The seller's triage settings (one row, pk=1)."""

    # Whether the composer offers "Draft with AI", cached (`automation.drafting.offered`): the
    # conversation page asks on every view. A saved row forgets it; other processes with their
    # own cache see a change within LLM_OFFERED_TTL seconds.
    LLM_OFFERED_KEY = "triage:llm-offered"
    LLM_OFFERED_TTL = 30

    # A buyer's "thanks" with no question marks the conversation as needing no response.
    no_reply_for_thanks = models.BooleanField(default=False)
    # Optional AI drafting (off unless an admin turns it on): an OpenAI-compatible API, its
    # base URL (".../v1"), the model name and the key, encrypted at rest like channel secrets.
    llm_enabled = models.BooleanField(default=False)
    llm_url = models.CharField(max_length=500, blank=True, default="")
    llm_model = models.CharField(max_length=200, blank=True, default="")
    llm_api_key_encrypted = models.TextField(blank=True, default="")
    llm_timeout_seconds = models.PositiveSmallIntegerField(default=20)
    # The admin said the endpoint is a local server (127.0.0.1, the seller's network): requests
    # to it may go to a private address (lib.http's per-call allowance), and only to it.
    llm_local = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "triage settings"

    @property
    def llm_api_key(self) -> str:
        key = self.llm_api_key_encrypted
        return decrypt(key, settings.ENCRYPTION_KEY) if key else ""

    def set_llm_api_key(self, raw: str) -> None:
        self.llm_api_key_encrypted = encrypt(raw, settings.ENCRYPTION_KEY) if raw else ""

    @classmethod
    def get(cls) -> TriageSettings:
        found, _created = cls.objects.get_or_create(pk=1)
        return found
