"""Fnac's XML read: order states, claim types, errors, buyers and orders."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree as ET

from comptoir.connectors.base import OrderData, OrderItem, Party
from comptoir.connectors.fnac import dialect
from comptoir.connectors.fnac.dialect import q, text

ORDER_STATUS = {
    "Created": "pending",
    "Accepted": "accepted",
    "ToShip": "accepted",
    "Shipped": "shipped",
    "NotReceived": "shipped",
    "Received": "delivered",
    "Refused": "cancelled",
    "Cancelled": "cancelled",
    "Refunded": "refunded",
}

# incident_open_state in state.xsd
CLAIM_TYPES = {
    "1": "article not received",
    "2": "inconsistent with item",
    "3": "defective item",
    "4": "retraction",
    "5": "infringing item",
    "6": "other (client)",
    "7": "refund",
    "8": "no stock",
    "9": "returned by client",
    "10": "cancelled by client",
    "11": "shipping impossible",
    "12": "item not received",
    "13": "item faulty",
    "14": "item unlike description",
    "15": "other (seller)",
    "16": "longer period",
    "17": "refund (seller)",
    "18": "refund (call center)",
}

MIME_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "txt": "text/plain",
}


def is_order(item: ET.Element) -> bool:
    referer = item.find(q("message_referer"))
    return referer is not None and referer.get("type", "ORDER") == "ORDER"


def subject_line(subject: str, kind: str, referer_id: str) -> str:
    label = subject.replace("_", " ").capitalize() if subject else "Message"
    where = f"order {referer_id}" if kind == "ORDER" else f"offer {referer_id}"
    return f"{label} ({where})"[:500]


def errors_of(root: ET.Element) -> str:
    found = []
    for error in root.findall(q("error")):
        code = error.get("code", "")
        words = (error.text or "").strip()
        found.append(f"{words} ({code})" if code else words)
    return "; ".join(f for f in found if f)


def is_auth_error(root: ET.Element) -> bool:
    """Fnac says a token is unknown or expired in an `error` element, in words and a code."""
    for error in root.findall(q("error")):
        words = f"{error.get('code', '')} {error.text or ''}".lower()
        if "token" in words or "auth" in words:
            return True
    return False


def int_or(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def party_of(order: ET.Element) -> Party:
    first, last = text(order, "client_firstname"), text(order, "client_lastname")
    return Party(
        identity_kind="fnac_customer",
        identity_value=text(order, "client_id") or f"order:{text(order, 'order_id')}",
        name=f"{first} {last}".strip()[:200],
        email=text(order, "client_email")[:254],
    )


def decimal_of(value: str) -> Decimal:
    try:
        return Decimal(value or "0")
    except InvalidOperation:
        return Decimal(0)


def order_data(order: ET.Element) -> OrderData:
    items, total = [], Decimal(0)
    tracking = delivered = ""
    for detail in order.findall(q("order_detail")):
        quantity = int_or(text(detail, "quantity"), 1)
        price = decimal_of(text(detail, "price"))
        total += price * quantity + decimal_of(text(detail, "shipping_price"))
        items.append(
            OrderItem(
                sku=text(detail, "offer_seller_id"),
                title=text(detail, "product_name"),
                quantity=quantity,
                unit_price=str(price),
            )
        )
        tracking = tracking or text(detail, "tracking_number")
        delivered = delivered or text(detail, "received_at")
    return OrderData(
        external_id=text(order, "order_id"),
        status=ORDER_STATUS.get(text(order, "state"), "unknown"),  # type: ignore[arg-type]
        currency="EUR",
        total=str(total) if items else "",
        items=items,
        ordered_at=dialect.parse_datetime(text(order, "created_at")),
        delivered_at=dialect.parse_datetime(delivered),
        tracking_number=tracking[:128],
        buyer=party_of(order),
    )
