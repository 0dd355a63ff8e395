"""Refunds in the Mirakl simulator: OR28 `PUT /api/orders/refund` and RE02
`GET /api/reasons/{reason_type}`, as Mirakl's published seller API describes them
(`mirakl/mmp-seller-openapi.json`): the body is checked against `OR28_Request` (required
`amount`, `order_line_id`, `reason_code`, `shipping_amount` per refund), a refund's reason
must be one of the operator's REFUND reasons, and OR11 shows each line's `refunds` afterwards.

Guessed where the description says nothing: the reason codes (an operator defines its own;
here "15" and "16"), the error for an unknown line or an amount above what is left to refund
on it (400 `{"message", "status"}`, Mirakl's usual error shape, for the whole request: none of
it is done), and the state of a new refund (WAITING_REFUND).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from comptoir.connectors.simulator import ContractViolation, HttpError, Request, Response

if TYPE_CHECKING:
    from comptoir.connectors.contract import OpenApiContract

REFUND_REASONS = [
    {"code": "15", "label": "Article endommagé"},
    {"code": "16", "label": "Geste commercial"},
]
REASON_TYPES = {
    "INCIDENT_CLOSE",
    "REFUND",
    "MPS_REFUND",
    "MESSAGING",
    "ORDER_MESSAGING",
    "MPS_ORDER_MESSAGING",
    "MPS_OFFER_MESSAGING",
    "OFFER_MESSAGING",
    "CANCELATION",
}


@dataclass(frozen=True)
class SimRefund:
    """A refund the operator recorded: what tests count."""

    order_id: str
    order_line_id: str
    amount: str
    reason_code: str


def _error(message: str) -> HttpError:
    return HttpError(400, {"message": message, "status": 400})


class RefundApi:
    """OR28 and RE02; `MiraklSimulator` registers them (`_init_refunds`)."""

    if TYPE_CHECKING:
        orders: dict[str, dict[str, Any]]
        contract: OpenApiContract | None
        lock: Any

        def route(self, method: str, pattern: str, handler: Any) -> None: ...
        def now(self) -> datetime: ...
        def _id(self) -> str: ...

    refunds: list[SimRefund]

    def _init_refunds(self) -> None:
        self.refunds = []
        self.route("PUT", r"/api/orders/refund", self._or28)
        self.route("GET", r"/api/reasons/(?P<reason_type>[A-Z_]+)", self._re02)

    def _re02(self, request: Request) -> Response:
        reason_type = request.params["reason_type"]
        if reason_type not in REASON_TYPES:
            raise ContractViolation(f"reason_type {reason_type!r} is not one of the enum")
        reasons = REFUND_REASONS if reason_type == "REFUND" else []
        return Response(200, {"reasons": reasons})

    def _or28(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            raise ContractViolation("OR28 takes application/json")
        body = request.json()
        if self.contract is not None:
            problems = self.contract.validate(body, self.contract.component("OR28_Request"), "body")
            if problems:
                raise ContractViolation("; ".join(problems))
        codes = {r["code"] for r in REFUND_REASONS}
        with self.lock:
            planned = []
            left: dict[str, Decimal] = {}
            for item in body["refunds"]:
                order_id, line = self._line(item["order_line_id"])
                if item["reason_code"] not in codes:
                    raise _error(f"reason code {item['reason_code']} is not a refund reason")
                amount = Decimal(str(item["amount"])) + Decimal(str(item["shipping_amount"]))
                key = line["order_line_id"]
                left.setdefault(key, _refundable(line))
                if amount <= 0 or amount > left[key]:
                    raise _error(f"refund amount on order line {key} exceeds what is refundable")
                left[key] -= amount
                planned.append((order_id, line, item, amount))
            answered = []
            for order_id, line, item, amount in planned:
                refund_id = self._id()
                line["refunds"].append(
                    {
                        "id": refund_id,
                        "amount": float(amount),
                        "created_date": self.now().isoformat().replace("+00:00", "Z"),
                        "reason_code": item["reason_code"],
                        "state": "WAITING_REFUND",
                    }
                )
                self.refunds.append(
                    SimRefund(order_id, line["order_line_id"], str(amount), item["reason_code"])
                )
                answered.append({**item, "refund_id": refund_id, "order_refund_id": refund_id})
        return Response(
            200,
            {"order_tax_mode": body.get("order_tax_mode", "TAX_INCLUDED"), "refunds": answered},
        )

    def _line(self, order_line_id: str) -> tuple[str, dict[str, Any]]:
        for order_id, order in self.orders.items():
            for line in order.get("order_lines") or []:
                if line.get("order_line_id") == order_line_id:
                    return order_id, line
        raise _error(f"order line {order_line_id} does not exist")


def _refundable(line: dict[str, Any]) -> Decimal:
    price = Decimal(str(line.get("price") or 0)) + Decimal(str(line.get("shipping_price") or 0))
    done = sum((Decimal(str(r["amount"])) for r in line.get("refunds") or []), Decimal(0))
    return price - done
