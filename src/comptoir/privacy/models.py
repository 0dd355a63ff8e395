"""A shop's retention of conversations, and which conversations were anonymised."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class RetentionMode(models.TextChoices):
    ANONYMISE = "anonymise", _("Anonymise")
    DELETE = "delete", _("Delete")


class RetentionPolicy(models.Model):
    """A shop's own retention; without one, COMPTOIR_CONVERSATION_RETENTION_DAYS applies."""

    shop = models.OneToOneField("inbox.Shop", on_delete=models.CASCADE, related_name="+")
    days = models.PositiveIntegerField(default=0)  # 0: kept for ever
    mode = models.CharField(
        max_length=16, choices=RetentionMode.choices, default=RetentionMode.ANONYMISE
    )

    def __str__(self) -> str:
        return f"{self.shop_id}: {self.days} days, {self.mode}"


class ChannelRetention(models.Model):
    """A channel's own retention, set on the page; without one, its marketplace's rule
    (`privacy.marketplace_rules`) or the shop's applies. `days` 0: kept for ever."""

    channel = models.OneToOneField("inbox.Channel", on_delete=models.CASCADE, related_name="+")
    days = models.PositiveIntegerField(default=0)
    mode = models.CharField(
        max_length=16, choices=RetentionMode.choices, default=RetentionMode.ANONYMISE
    )

    def __str__(self) -> str:
        return f"channel {self.channel_id}: {self.days} days, {self.mode}"


class Anonymised(models.Model):
    """A conversation whose buyer content is gone (erasure or retention): not done twice."""

    conversation = models.OneToOneField(
        "inbox.Conversation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    at = models.DateTimeField()
    reason = models.CharField(max_length=16)  # erasure, retention

    def __str__(self) -> str:
        return f"#{self.conversation_id} {self.reason}"
