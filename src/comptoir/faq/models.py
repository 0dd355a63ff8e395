"""What a mining run found: the clusters of similar buyer questions (see `faq.mining`)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class MiningRun(models.Model):
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    since = models.DateTimeField()
    messages = models.PositiveIntegerField(default=0)  # buyer messages read
    clusters = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"run {self.pk} since {self.since:%Y-%m-%d}"


class Cluster(models.Model):
    run = models.ForeignKey(MiningRun, on_delete=models.CASCADE, related_name="+")
    language = models.CharField(max_length=8, blank=True, default="")
    intent = models.CharField(max_length=32, blank=True, default="")
    size = models.PositiveIntegerField()
    label = models.CharField(max_length=200)  # its most central message, shortened
    terms = models.JSONField(default=list)
    examples = models.JSONField(default=list)  # message ids, most central first
    marketplaces = models.JSONField(default=dict)  # marketplace -> count
    # The trend: messages in the last 30 days against the 30 days before.
    recent = models.PositiveIntegerField(default=0)
    previous = models.PositiveIntegerField(default=0)
    # The template agents used most in replies to these conversations; None: none used.
    template = models.ForeignKey(
        "automation.Template", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-size", "pk"]

    def __str__(self) -> str:
        return f"{self.label} ({self.size})"

    @property
    def trend(self) -> str:
        """up, down or flat: a change of a quarter or more counts."""
        if self.recent > self.previous * 1.25 and self.recent - self.previous >= 2:
            return "up"
        if self.previous > self.recent * 1.25 and self.previous - self.recent >= 2:
            return "down"
        return "flat"
