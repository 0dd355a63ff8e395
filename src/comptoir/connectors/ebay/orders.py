"""eBay orders (Fulfillment API `getOrders` and shipping fulfillments) as Comptoir's OrderData."""

from __future__ import annotations

from typing import Any, Literal

from comptoir.connectors.base import OrderData, OrderItem, Party
from comptoir.connectors.ebay.values import parse_time


def order_data(order: dict[str, Any], shipments: list[dict[str, Any]]) -> OrderData:
    """An eBay Order (and its shipping fulfillments) as Comptoir's OrderData."""
    items = order.get("lineItems") or []
    total = (order.get("pricingSummary") or {}).get("total") or {}
    ship_by = [
        parse_time(i["lineItemFulfillmentInstructions"]["shipByDate"])
        for i in items
        if (i.get("lineItemFulfillmentInstructions") or {}).get("shipByDate")
    ]
    expected = [
        parse_time(i["lineItemFulfillmentInstructions"]["maxEstimatedDeliveryDate"])
        for i in items
        if (i.get("lineItemFulfillmentInstructions") or {}).get("maxEstimatedDeliveryDate")
    ]
    shipped = sorted(shipments, key=lambda s: str(s.get("shippedDate") or ""))
    last = shipped[-1] if shipped else {}
    buyer = (order.get("buyer") or {}).get("username")
    return OrderData(
        external_id=str(order["orderId"]),
        status=_status(order),
        currency=str(total.get("currency") or "EUR")[:3],
        total=str(total.get("value") or ""),
        items=[
            OrderItem(
                sku=str(i.get("sku") or ""),
                title=str(i.get("title") or ""),
                quantity=int(i.get("quantity") or 1),
                unit_price=str((i.get("lineItemCost") or {}).get("value") or ""),
            )
            for i in items
        ],
        ordered_at=parse_time(order["creationDate"]) if order.get("creationDate") else None,
        ship_by=min(ship_by) if ship_by else None,
        expected_delivery_at=max(expected) if expected else None,
        shipped_at=parse_time(last["shippedDate"]) if last.get("shippedDate") else None,
        carrier=str(last.get("shippingCarrierCode") or "")[:64],
        tracking_number=str(last.get("shipmentTrackingNumber") or "")[:128],
        buyer=Party(identity_kind="ebay_user", identity_value=buyer, name=buyer) if buyer else None,
    )


OrderStatus = Literal["pending", "accepted", "shipped", "cancelled", "refunded", "unknown"]


def _status(order: dict[str, Any]) -> OrderStatus:
    """eBay's fulfillment, payment and cancellation states onto Comptoir's order statuses."""
    payment = order.get("orderPaymentStatus")
    cancel = (order.get("cancelStatus") or {}).get("cancelState")
    if cancel == "CANCELED":
        return "cancelled"
    if payment == "FULLY_REFUNDED":
        return "refunded"
    if payment in ("PENDING", "FAILED"):
        return "pending"
    fulfillment = order.get("orderFulfillmentStatus")
    if fulfillment == "FULFILLED":
        return "shipped"
    if fulfillment in ("NOT_STARTED", "IN_PROGRESS"):
        return "accepted"
    return "unknown"
