"""The survey settings (one row) and one survey per conversation."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SurveyKind(models.TextChoices):
    CSAT = "csat", _("Satisfaction (CSAT, 1 to 5)")
    NPS = "nps", _("Recommendation (NPS, 0 to 10)")


class SurveySettings(models.Model):
    """The seller's survey settings (one row, pk=1). Off until an owner or admin turns it on."""

    enabled = models.BooleanField(default=False)
    kind = models.CharField(max_length=8, choices=SurveyKind.choices, default=SurveyKind.CSAT)
    # Hours after the resolution: the buyer has had time to see the answer work.
    delay_hours = models.PositiveIntegerField(default=24)
    # A buyer is asked at most once in this many days, whatever their number of conversations.
    min_days_between = models.PositiveIntegerField(default=30)
    excluded_channel_ids = models.JSONField(default=list, blank=True)
    excluded_tags = models.JSONField(default=list, blank=True)
    # Marketplaces (`policy.MESSAGE_ALLOWED` only) whose channels may carry the survey as a
    # marketplace message; the shop's own email channels always may.
    message_marketplaces = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "survey settings"

    @classmethod
    def get(cls) -> SurveySettings:
        found, _created = cls.objects.get_or_create(pk=1)
        return found


class Survey(models.Model):
    """The survey sent after a conversation's resolution, and the buyer's one answer."""

    conversation = models.OneToOneField(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="survey"
    )
    # Denormalised: "at most once per buyer per N days" is one indexed look-up.
    customer = models.ForeignKey(
        "inbox.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=SurveyKind.choices)
    # Random, unguessable; the link carries it signed with its date (`actions.signed_token`).
    token = models.CharField(max_length=32, unique=True)
    sent_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=16)  # "email" or the marketplace's message
    message = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    language = models.CharField(max_length=8, default="en")
    answered_at = models.DateTimeField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["customer", "sent_at"], name="survey_customer"),
            models.Index(fields=["sent_at"], name="survey_sent_at"),
        ]

    def __str__(self) -> str:
        return f"survey {self.kind} on {self.conversation_id}"

    @property
    def scale(self) -> range:
        return range(1, 6) if self.kind == SurveyKind.CSAT else range(0, 11)

    @property
    def is_low(self) -> bool:
        """Low enough to tell a supervisor: CSAT 1-2, NPS 0-6 (a detractor)."""
        if self.score is None:
            return False
        return self.score <= (2 if self.kind == SurveyKind.CSAT else 6)
