"""Amazon orders (Orders v0 `getOrders`, `getOrderItems`) as Comptoir's OrderData."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from comptoir.connectors.base import OrderData, OrderItem, Party
from comptoir.lib.dates import parse_iso

# Amazon's order statuses onto ours.
STATUSES: dict[str, str] = {
    "PendingAvailability": "pending",
    "Pending": "pending",
    "Unshipped": "accepted",
    "PartiallyShipped": "accepted",
    "Shipped": "shipped",
    # Shipped; only the seller's invoice confirmation is missing.
    "InvoiceUnconfirmed": "shipped",
    "Canceled": "cancelled",
    "Unfulfillable": "unknown",
}


def order_data(order: dict[str, Any], items: list[dict[str, Any]]) -> OrderData:
    """An Orders v0 order and its items as Comptoir's OrderData. Orders v0 tells neither the
    carrier nor the tracking number (they are the seller's own, from its shipping tool)."""
    total = order.get("OrderTotal") or {}
    email = str((order.get("BuyerInfo") or {}).get("BuyerEmail") or "")
    return OrderData(
        external_id=str(order["AmazonOrderId"]),
        status=STATUSES.get(str(order.get("OrderStatus")), "unknown"),  # type: ignore[arg-type]
        currency=str(total.get("CurrencyCode") or "EUR")[:3],
        total=str(total.get("Amount") or ""),
        items=[_item(i) for i in items],
        ordered_at=parse_iso(order.get("PurchaseDate")),
        ship_by=parse_iso(order.get("LatestShipDate")),
        expected_delivery_at=parse_iso(order.get("LatestDeliveryDate")),
        # Amazon's relay address: the same alias the buyer's mail comes from.
        buyer=Party(identity_kind="email", identity_value=email.lower(), email=email)
        if email
        else None,
    )


def _item(item: dict[str, Any]) -> OrderItem:
    quantity = int(item.get("QuantityOrdered") or 0)
    amount = str((item.get("ItemPrice") or {}).get("Amount") or "")
    unit = ""
    if amount and quantity:
        try:
            # ItemPrice is the line's price (unit price times quantity).
            line = Decimal(amount)
            unit = str((line / quantity).quantize(Decimal("0.01")))
        except InvalidOperation:
            unit = ""
    return OrderItem(
        sku=str(item.get("SellerSKU") or item.get("ASIN") or ""),
        title=str(item.get("Title") or ""),
        quantity=quantity,
        unit_price=unit,
    )
