"""Mirakl incidents: a buyer's claim on an order line, read from the orders (OR11).

Mirakl's seller API has no incident list of its own: an order line under claim is in state
`INCIDENT_OPEN` (with the operator's reason, `order_line_state_reason_code` and `_label`), and
its order says `has_incident`. The first poll lists the orders with an incident in progress
(`has_incident=true`); later polls list the orders updated since the newest update seen
(`start_update_date`, which Mirakl itself widens a little so that none is missed), to see new
incidents and the end of those already stored.

Each incident becomes messages of its order's conversation, as Fnac's claims do:
- `incident:<order>:<line>`: the buyer's claim (their customer identity, so it joins the
  buyer's conversation on that order), tagged "claim", its `meta["mirakl_incident"]` read by
  `cases.claims` to open the case;
- `incident:<order>:<line>:closed`: an automatic message once the line left `INCIDENT_OPEN`
  after its claim was stored.
Ingest drops what a re-read brings twice, so the same incident read on several polls opens one
case. The API gives no response deadline for an incident; a channel whose operator sets one
(in its seller terms) says so in `incident_response_hours`, counted from the claim's update.
An incident reopened on a line already closed here is not told apart from the first one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from comptoir.connectors.base import InboundMessage, Party
from comptoir.lib import intents

if TYPE_CHECKING:
    from comptoir.connectors.mirakl.connector import MiraklConnector

OPEN = "INCIDENT_OPEN"
PAGE = 100  # OR11's `max` is 100 at most
CURSOR_KEY = "incidents_updated_since"
READ_AT_KEY = "incidents_read_at"


def fetch_incidents(connector: MiraklConnector) -> Iterator[InboundMessage]:
    """The incident messages of the orders to look at; moves `connector.cursor`. Read every
    `incident_poll_minutes` (OR11's recommended pace), not on every poll of the threads."""
    now = datetime.now(UTC)
    last = connector.cursor.get(READ_AT_KEY)
    pause = timedelta(minutes=connector.conf().incident_poll_minutes)
    if last and now - _when(last) < pause:
        return
    since = connector.cursor.get(CURSOR_KEY)
    newest = since
    for order in _orders(connector, since):
        updated = order.get("last_updated_date")
        if updated and (newest is None or _when(updated) > _when(newest)):
            newest = updated
        yield from _order_messages(connector, order)
    connector.cursor = {**connector.cursor, READ_AT_KEY: now.isoformat()}
    if newest:
        connector.cursor[CURSOR_KEY] = newest


def _orders(connector: MiraklConnector, since: str | None) -> Iterator[dict[str, Any]]:
    """OR11, offset-paginated; an order met twice (a page shifted by a new order) once."""
    base: dict[str, Any] = {"start_update_date": since} if since else {"has_incident": "true"}
    offset, seen = 0, set()
    while True:
        data = connector.client.get_json(
            "/api/orders", params=connector._params(**base, max=PAGE, offset=offset)
        )
        orders = data.get("orders") or []
        for order in orders:
            if order.get("order_id") and order["order_id"] not in seen:
                seen.add(order["order_id"])
                yield order
        offset += len(orders)
        if not orders or offset >= int(data.get("total_count") or 0):
            return


def _order_messages(connector: MiraklConnector, order: dict[str, Any]) -> Iterator[InboundMessage]:
    lines = [ln for ln in order.get("order_lines") or [] if ln.get("order_line_id")]
    ids = [_id(order, ln) for ln in lines]
    stored = connector.stored_external_ids(ids)
    for line, external_id in zip(lines, ids, strict=True):
        if line.get("order_line_state") == OPEN:
            yield _opened(connector, order, line, external_id)
        elif external_id in stored:
            yield _closed(connector, order, line, external_id)


def _id(order: dict[str, Any], line: dict[str, Any]) -> str:
    return f"incident:{order['order_id']}:{line['order_line_id']}"


def _meta(
    connector: MiraklConnector, order: dict[str, Any], line: dict[str, Any]
) -> dict[str, Any]:
    updated = _line_time(order, line)
    hours = connector.conf().incident_response_hours
    return {
        "mirakl_incident": {
            "order_id": order["order_id"],
            "line_id": line["order_line_id"],
            "state": line.get("order_line_state") or "",
            "reason_code": str(line.get("order_line_state_reason_code") or ""),
            "reason_label": str(line.get("order_line_state_reason_label") or ""),
            "product": str(line.get("product_title") or ""),
            "amount": str(line.get("total_price") or line.get("price") or ""),
            "currency": order.get("currency_iso_code") or "EUR",
            "updated_at": updated.isoformat(),
            "respond_by": (updated + timedelta(hours=hours)).isoformat() if hours else "",
        }
    }


def _opened(
    connector: MiraklConnector, order: dict[str, Any], line: dict[str, Any], external_id: str
) -> InboundMessage:
    meta = _meta(connector, order, line)
    incident = meta["mirakl_incident"]
    label = incident["reason_label"] or incident["reason_code"] or "incident"
    product = incident["product"]
    return InboundMessage(
        channel_id=connector.channel.pk,
        external_id=external_id,
        sender=_buyer(connector, order),
        subject=f"Incident on order {order['order_id']}: {label}"[:500],
        text=f"Incident opened on order {order['order_id']}"
        + (f", {product}" if product else "")
        + f": {label}.",
        sent_at=min(_line_time(order, line), datetime.now(UTC)),
        order_number=str(order["order_id"])[:64],
        reason=label[:64],
        intent=intents.from_reason(label),
        needs_reply=True,
        # Named so that its end (below) joins it, wherever it landed.
        message_id=_message_id(external_id),
        tags=["claim"],
        meta=meta,
    )


def _closed(
    connector: MiraklConnector, order: dict[str, Any], line: dict[str, Any], external_id: str
) -> InboundMessage:
    """The claim's end is news for the agent, not a buyer waiting for an answer."""
    meta = _meta(connector, order, line)
    meta["mirakl_incident"]["state"] = "CLOSED"
    meta["mirakl_incident"]["line_state"] = line.get("order_line_state") or ""
    return InboundMessage(
        channel_id=connector.channel.pk,
        external_id=f"{external_id}:closed",
        sender=Party(
            identity_kind="mirakl_operator",
            identity_value=f"{connector.channel.marketplace}:operator",
            name="Operator",
        ),
        subject=f"Incident on order {order['order_id']} closed",
        text=f"The incident on order {order['order_id']} is closed"
        + f" (line now {line.get('order_line_state') or 'unknown'}).",
        sent_at=min(_line_time(order, line), datetime.now(UTC)),
        order_number=str(order["order_id"])[:64],
        is_auto=True,
        in_reply_to=_message_id(external_id),
        tags=["claim"],
        meta=meta,
    )


def _message_id(external_id: str) -> str:
    return f"<{external_id.replace(':', '.')}@mirakl.incident>"


def _buyer(connector: MiraklConnector, order: dict[str, Any]) -> Party:
    """The order's customer, as the thread participants name them (`mirakl_customer`)."""
    customer = order.get("customer") or {}
    name = " ".join(str(customer.get(k) or "").strip() for k in ("firstname", "lastname")).strip()
    customer_id = customer.get("customer_id") or "unknown"
    return Party(
        identity_kind="mirakl_customer",
        identity_value=f"{connector.channel.marketplace}:{customer_id}",
        name=name[:200],
    )


def _line_time(order: dict[str, Any], line: dict[str, Any]) -> datetime:
    value = line.get("last_updated_date") or order.get("last_updated_date")
    value = value or order.get("created_date")
    return _when(value) if value else datetime.now(UTC)


def _when(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)
