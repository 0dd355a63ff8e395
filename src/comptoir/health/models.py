"""What account health keeps: the seller's own thresholds, and the warnings already sent."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from comptoir.health.thresholds import Metric


class Level(models.TextChoices):
    WARNING = "warning", "warning"
    BREACHED = "breached", "breached"


class ThresholdOverride(models.Model):
    """The seller's own limit for a marketplace's metric, where the marketplace publishes none
    (or the seller wants an earlier alarm): the largest share of bad ones allowed, 0..1."""

    marketplace = models.CharField(max_length=16)
    metric = models.CharField(max_length=24, choices=[(m.value, m.value) for m in Metric])
    limit = models.FloatField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["marketplace", "metric"], name="health_override_unique")
        ]

    def __str__(self) -> str:
        return f"{self.marketplace} {self.metric} < {self.limit}"


class HealthAlert(models.Model):
    """A warning sent about a channel's metric at a level: one row per crossing. The row is
    removed when the metric falls back below the level, so that the next crossing warns again;
    the unique constraint is what makes two workers send it once."""

    channel = models.ForeignKey("inbox.Channel", on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=24)
    level = models.CharField(max_length=16, choices=Level.choices)
    rate = models.FloatField()
    limit = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "metric", "level"], name="health_alert_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} {self.metric} {self.level}"
