"""A case's refund through Mirakl's order refund call (OR28 `PUT /api/orders/refund`), exactly
once (`Connector.send_case_operation`).

Mirakl refunds order lines, not claims: the order (OR11 `GET /api/orders?order_ids=`) gives
each line's `order_line_id`, its price and shipping, and the refunds already made on it; the
amount is spread over the lines in their order, each up to what is left to refund on it. The
reason is the operator's first REFUND reason (RE02 `GET /api/reasons/REFUND`): operators
define their own codes, and the seller can change the refund's reason in the back office.
Answering and closing a Mirakl incident are not offered (Mirakl incidents are not read yet).

Exactly once: OR28 is a PUT but takes no idempotency key, so it is sent as a request that is
not safe to repeat; before a retry the order is read again, and refunds on its lines dated
after the first attempt began (less `CLOCK_SKEW`) that add up to the amount are this step.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from comptoir.connectors.base import (
    CLOCK_SKEW,
    CaseOperationOut,
    ConnectorError,
    HttpClient,
    SendResult,
)
from comptoir.lib.dates import parse_iso

STEPS = frozenset({"refund"})
CENT = Decimal("0.01")


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0)).quantize(CENT)
    except InvalidOperation:
        return Decimal(0)


class MiraklRefunds:
    """The refund step of `MiraklConnector` (first in its bases, before `Connector`)."""

    if TYPE_CHECKING:

        @property
        def client(self) -> HttpClient: ...
        def _params(self, **params: Any) -> dict[str, Any]: ...

    @classmethod
    def case_operations(cls, claim_id: str) -> frozenset[str]:
        return STEPS  # a refund is on the order, whatever the case

    def send_case_operation(self, operation: CaseOperationOut) -> SendResult:
        if operation.kind != "refund":
            raise ConnectorError(
                f"Mirakl does not take this step ({operation.kind}) through its API",
                permanent=True,
                about_message=True,
            )
        amount = _decimal(operation.amount)
        lines = self._lines(operation)
        left = amount
        refunds = []
        reason = self._refund_reason()
        for line in lines:
            part = min(left, _refundable(line))
            if part <= 0:
                continue
            refund: dict[str, Any] = {
                "amount": float(part),
                "order_line_id": str(line["order_line_id"]),
                "reason_code": reason,
                "shipping_amount": 0,
            }
            if operation.currency:
                refund["currency_iso_code"] = operation.currency
            refunds.append(refund)
            left -= part
        if amount <= 0 or left > 0:
            raise ConnectorError(
                f"Mirakl: {amount} is more than is left to refund on order "
                f"{operation.order_number}",
                permanent=True,
                about_message=True,
            )
        answer = self.client.request(
            "PUT",
            "/api/orders/refund",
            params=self._params(),
            json_body={"order_tax_mode": "TAX_INCLUDED", "refunds": refunds},
            idempotent=False,
        ).json()
        ids = [str(r.get("refund_id") or "") for r in answer.get("refunds") or []]
        return SendResult(external_id=",".join(i for i in ids if i)[:255] or "refund")

    def find_case_operation(self, operation: CaseOperationOut) -> SendResult | None:
        if operation.kind != "refund" or operation.attempt_started_at is None:
            return None
        not_before = operation.attempt_started_at - CLOCK_SKEW
        found = [
            r
            for line in self._lines(operation)
            for r in line.get("refunds") or []
            if (at := parse_iso(r.get("created_date"))) is not None and at >= not_before
        ]
        if sum((_decimal(r.get("amount")) for r in found), Decimal(0)) != _decimal(
            operation.amount
        ):
            return None
        return SendResult(external_id=",".join(str(r.get("id")) for r in found)[:255])

    def _lines(self, operation: CaseOperationOut) -> list[dict[str, Any]]:
        if not operation.order_number:
            raise ConnectorError(
                "Mirakl refunds an order: this conversation has no order",
                permanent=True,
                about_message=True,
            )
        data = self.client.get_json(
            "/api/orders", params=self._params(order_ids=operation.order_number)
        )
        for order in data.get("orders") or []:
            if order.get("order_id") == operation.order_number:
                lines = order.get("order_lines") or []
                return [line for line in lines if line.get("order_line_id")]
        raise ConnectorError(
            f"Mirakl does not know order {operation.order_number}",
            permanent=True,
            about_message=True,
        )

    def _refund_reason(self) -> str:
        data = self.client.get_json("/api/reasons/REFUND", params=self._params())
        reasons = [str(r.get("code")) for r in data.get("reasons") or [] if r.get("code")]
        if not reasons:
            raise ConnectorError(
                "Mirakl lists no refund reason for this shop: refund in the back office",
                permanent=True,
                about_message=True,
            )
        return reasons[0]


def _refundable(line: dict[str, Any]) -> Decimal:
    done = sum((_decimal(r.get("amount")) for r in line.get("refunds") or []), Decimal(0))
    return _decimal(line.get("price")) + _decimal(line.get("shipping_price")) - done
