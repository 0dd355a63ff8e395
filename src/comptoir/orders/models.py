"""Orders the buyers write about, as the marketplace or shop knows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class OrderStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")
    SHIPPED = "shipped", _("Shipped")
    # Its own context: the message event "Delivered" is another word in French.
    DELIVERED = "delivered", pgettext_lazy("order status", "Delivered")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")
    RETURNED = "returned", _("Returned")
    UNKNOWN = "unknown", _("Unknown")


# Django's get_status_display builds a dict of every choice at each call (~0.1 ms).
_STATUS_LABELS: dict[str, Any] = dict(OrderStatus.choices)


class Order(models.Model):
    shop = models.ForeignKey("inbox.Shop", on_delete=models.PROTECT, related_name="orders")
    channel = models.ForeignKey("inbox.Channel", on_delete=models.PROTECT, related_name="orders")
    customer = models.ForeignKey(
        "inbox.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    external_id = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.UNKNOWN
    )
    currency = models.CharField(max_length=3, default="EUR")
    total = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # [{"sku", "title", "quantity", "unit_price"}]
    items = models.JSONField(default=list, blank=True)
    ordered_at = models.DateTimeField(null=True, blank=True)
    ship_by = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    expected_delivery_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    carrier = models.CharField(max_length=64, blank=True, default="")
    tracking_number = models.CharField(max_length=128, blank=True, default="")
    tracking_url = models.URLField(max_length=500, blank=True, default="")
    # When a sync last saw the parcel move (status, carrier, tracking number or link, expected
    # or actual delivery changed): proactive care's "tracking not moving" (docs/care.md).
    tracking_changed_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="order_unique_external")
        ]
        indexes = [
            models.Index(fields=["external_id"], name="order_external_id"),
            models.Index(fields=["tracking_number"], name="order_tracking"),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def is_late(self) -> bool:
        return (
            self.ship_by is not None
            and self.shipped_at is None
            and self.status not in (OrderStatus.CANCELLED, OrderStatus.REFUNDED)
            and self.ship_by < timezone.now()
        )

    # Django's own, without its dict of every choice per call.
    def get_status_display(self) -> str:  # type: ignore[no-redef]
        return str(_STATUS_LABELS.get(self.status, self.status))


def placed(
    start: datetime,
    end: datetime,
    *,
    shop_id: int | None = None,
    channel_id: int | None = None,
    marketplace: str | None = None,
    team_id: int | None = None,
) -> int:
    """Orders placed in [start, end), narrowed as the figures narrow them (the team is the
    channel's): the denominator of every "per 100 orders" figure."""
    orders = Order.objects.filter(ordered_at__gte=start, ordered_at__lt=end)
    if shop_id is not None:
        orders = orders.filter(shop_id=shop_id)
    if channel_id is not None:
        orders = orders.filter(channel_id=channel_id)
    if marketplace is not None:
        orders = orders.filter(channel__marketplace=marketplace)
    if team_id is not None:
        orders = orders.filter(channel__team_id=team_id)
    return orders.count()
