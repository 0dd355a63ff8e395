"""The Mirakl simulator's orders: OR11 as the seller API serves it, and incidents on order lines.

OR11 (`GET /api/orders`, `mirakl/mmp-seller-openapi.json`): `order_ids` (100 at most),
`has_incident` (`true`: only the orders with an incident in progress, `false`: only those
without), `start_update_date` / `end_update_date`, `order_state_codes`; offset pagination
(`max` 10 unless asked, 1 to 100, `offset`), sorted by creation date then order id; 400 for a
value out of range or a date that is not one. Each order says `has_incident` and its
`customer`; each line its `order_line_id`, `order_line_state` (`INCIDENT_OPEN` under claim) with
the reason code and label, and `last_updated_date`.

The buyer opens an incident (`open_incident`) and the operator closes it (`close_incident`):
both move the line's and the order's update date, as Mirakl does.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from comptoir.connectors.simulator import HttpError, Request, Response

if TYPE_CHECKING:
    from threading import RLock

MAX_ORDER_IDS = 100
INCIDENT_OPEN = "INCIDENT_OPEN"
# Mirakl's incident-open reasons (RE02 `INCIDENT_OPEN`, as its published example lists them).
REASONS = {
    "1": "Item not received",
    "2": "Item not as ordered",
    "3": "Defective item",
    "4": "Right to retract order",
    "5": "Counterfeit item",
}


def _iso(at: datetime) -> str:
    from comptoir.connectors.mirakl.simulator import iso

    return iso(at)


def _date(request: Request, name: str) -> datetime | None:
    value = request.arg(name)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HttpError(
            400, {"message": f"{name} is not a date: {value!r}", "status": 400}
        ) from None


class OrdersMixin:
    """OR11 and incidents, for `MiraklSimulator` (its `orders`, `lock`, `now`)."""

    orders: dict[str, dict[str, Any]]
    lock: RLock

    if TYPE_CHECKING:  # the simulator's own; declared here only for the type checker

        def now(self) -> datetime: ...

        def page_fault(self, request: Request) -> str | None: ...

    def open_incident(
        self, order_id: str, *, line: int = 0, reason_code: str = "3", label: str = ""
    ) -> str:
        """The buyer opens an incident on a line of the order; returns the line's id."""
        with self.lock:
            order = self.orders[order_id]
            found = self._order_line(order, line)
            found["state_before_incident"] = found.get("order_line_state") or "RECEIVED"
            found["order_line_state"] = INCIDENT_OPEN
            found["order_line_state_reason_code"] = reason_code
            found["order_line_state_reason_label"] = label or REASONS.get(reason_code, "")
            self._touch(order, found)
            return str(found["order_line_id"])

    def close_incident(self, order_id: str, *, line: int = 0, reason_code: str = "8") -> None:
        """The operator (or the shop) closes the incident: the line goes back to its state."""
        with self.lock:
            order = self.orders[order_id]
            found = self._order_line(order, line)
            found["order_line_state"] = found.pop("state_before_incident", "RECEIVED")
            found["order_line_state_reason_code"] = reason_code
            found["order_line_state_reason_label"] = "Incident closed"
            self._touch(order, found)

    def _order_line(self, order: dict[str, Any], index: int) -> dict[str, Any]:
        line: dict[str, Any] = order["order_lines"][index]
        line.setdefault("order_line_id", f"{order['order_id']}-{index + 1}")
        return line

    def _touch(self, order: dict[str, Any], line: dict[str, Any]) -> None:
        at = _iso(self.now())
        line["last_updated_date"] = order["last_updated_date"] = at

    def order_json(self, order: dict[str, Any]) -> dict[str, Any]:
        lines = []
        for index, line in enumerate(order.get("order_lines") or []):
            shown = {k: v for k, v in line.items() if k != "state_before_incident"}
            shown.setdefault("order_line_id", f"{order['order_id']}-{index + 1}")
            shown.setdefault("order_line_state", order.get("order_state", "SHIPPING"))
            shown.setdefault("last_updated_date", order.get("created_date"))
            lines.append(shown)
        names = str(order.get("customer_name") or "").split(" ", 1)
        return {
            **{k: v for k, v in order.items() if k not in ("customer_id", "customer_name")},
            "last_updated_date": order.get("last_updated_date") or order.get("created_date"),
            "has_incident": any(ln["order_line_state"] == INCIDENT_OPEN for ln in lines),
            "customer": {
                "customer_id": str(order.get("customer_id") or "cust-1"),
                "firstname": names[0],
                "lastname": names[1] if len(names) > 1 else "",
            },
            "order_lines": lines,
        }

    def _or11(self, request: Request) -> Response:
        ids = [i for i in (request.arg("order_ids") or "").split(",") if i]
        if len(ids) > MAX_ORDER_IDS:
            raise HttpError(400, {"message": f"order_ids takes {MAX_ORDER_IDS} ids at most"})
        # Offset pagination: `max` orders per page (10 unless asked, 100 at most).
        size, offset = int(request.arg("max") or 10), int(request.arg("offset") or 0)
        if not 1 <= size <= 100 or offset < 0:
            raise HttpError(400, {"message": "max must be between 1 and 100", "status": 400})
        incident = request.arg("has_incident")
        if incident not in (None, "true", "false"):
            raise HttpError(400, {"message": "has_incident must be true or false", "status": 400})
        start, end = _date(request, "start_update_date"), _date(request, "end_update_date")
        states = {s for s in (request.arg("order_state_codes") or "").split(",") if s}
        with self.lock:
            rows = (
                [self.orders[i] for i in ids if i in self.orders]
                if ids
                else list(self.orders.values())
            )
            found = [self.order_json(o) for o in rows]
        if incident is not None:
            found = [o for o in found if o["has_incident"] == (incident == "true")]
        if start is not None:
            found = [o for o in found if _parsed(o["last_updated_date"]) >= start]
        if end is not None:
            found = [o for o in found if _parsed(o["last_updated_date"]) <= end]
        if states:
            found = [o for o in found if o.get("order_state") in states]
        found.sort(key=lambda o: (str(o.get("created_date") or ""), o["order_id"]))
        if self.page_fault(request) == "duplicate_page":  # the page starts a few orders early
            offset = max(0, offset - 2)
        return Response(200, {"orders": found[offset : offset + size], "total_count": len(found)})


def _parsed(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
