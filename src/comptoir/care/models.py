"""Orders at risk of disappointing their buyer, one row per order and reason (docs/care.md)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Reason(models.TextChoices):
    NOT_SHIPPED = "not_shipped", _("Not shipped by the ship-by date")
    TRACKING_STALLED = "tracking_stalled", _("Tracking not moving")
    DELIVERY_MISSED = "delivery_missed", _("Delivery date missed")
    DELIVERED_OPEN = "delivered_open", _("Delivered, conversation still open")


class AtRisk(models.Model):
    """What the detector found (`care.detector`), kept while it holds: `resolved_at` is set
    when the reason no longer applies (the parcel moved, arrived, the conversation closed).
    `contacted_at` and `message` record the proactive message sent about it."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="risks")
    shop = models.ForeignKey("inbox.Shop", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey("inbox.Channel", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=24, choices=Reason.choices)
    # The date the marketplace holds the seller to for this reason (ship-by, promised
    # delivery, the open conversation's respond-by), when known.
    deadline = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    contacted_at = models.DateTimeField(null=True, blank=True)
    contacted_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "reason"], name="atrisk_unique_order_reason")
        ]
        indexes = [
            models.Index(
                fields=["shop", "detected_at"],
                condition=Q(resolved_at__isnull=True),
                name="atrisk_open",
            ),
            models.Index(fields=["detected_at"], name="atrisk_detected"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}:{self.reason}"
