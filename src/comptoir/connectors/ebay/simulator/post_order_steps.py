"""The seller's refunds on returns, inquiries and cases in the eBay simulator (Post-Order API v2):
`POST /post-order/v2/return/{returnId}/issue_refund`, `/inquiry/{inquiryId}/issue_refund` and
`/casemanagement/{caseId}/issue_refund`.

Checked by hand against eBay's call reference (no OpenAPI description is published):
- a return's refund carries `refundDetail` (`itemizedRefundDetail[]` of `refundAmount`
  {value, currency} and `refundFeeType`, and `totalAmount`, their sum) and optional `comments`
  {content}; an inquiry's or a case's carries `comments` only (eBay refunds them in full);
- the same headers as every Post-Order call (`IAF` token, `X-EBAY-C-MARKETPLACE-ID`).

Guessed where the reference says nothing, and kept small: the error for a claim refunded or
closed already (400, errorId 1500) and for an amount over the claim's (400, errorId 1501), the
answer's shape (`{"refundStatus": "SUCCESS"}` for a return, `{"refundResult": {"refundStatus":
"SUCCESS"}}` for the others), the history entry a refund leaves (`SELLER_ISSUE_REFUND` by the
SELLER, with the comments as its text) and the claim's status after it (CLOSED: eBay closes a
claim the seller refunded).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from comptoir.connectors.ebay.simulator.post_order import (
    POST_ORDER,
    PostOrderApi,
    SimClaim,
    SimEntry,
)
from comptoir.connectors.ebay.simulator.state import ebay_error
from comptoir.connectors.simulator import ContractViolation, Request, Response

FEE_TYPES = {"PURCHASE_PRICE", "ORIGINAL_SHIPPING", "OTHER_FEES", "RESTOCKING_FEE"}


@dataclass(frozen=True)
class SimRefund:
    """A refund eBay carried out: what tests count."""

    thread: str  # return:<id>, inquiry:<id>, case:<id>
    amount: str
    currency: str


class PostOrderSteps(PostOrderApi):
    """Adds the seller's refunds to the Post-Order simulator; `refunds` keeps each one."""

    refunds: list[SimRefund]

    def _init_claim_steps(self) -> None:
        self.refunds = []
        for kind, base in (
            ("return", "return"),
            ("inquiry", "inquiry"),
            ("case", "casemanagement"),
        ):
            self.route(
                "POST", f"{POST_ORDER}/{base}/(?P<id>\\d+)/issue_refund", self._issue_refund(kind)
            )

    def _issue_refund(self, kind: str) -> Any:
        def handler(request: Request) -> Response:
            self._check_claims(request, kind, search=False)
            if request.headers.get("content-type", "").split(";")[0] != "application/json":
                raise ContractViolation("the Content-Type header must be application/json")
            body = request.json()
            if not isinstance(body, dict):
                raise ContractViolation("the body is a JSON object")
            comments = _comments(body)
            with self.lock:
                claim = self.claims.get(request.params["id"])
                if claim is None or claim.kind != kind:
                    raise ebay_error(404, 1002, "not found")
                if claim.status.startswith("CLOSED"):
                    raise ebay_error(400, 1500, "The claim is closed or was refunded already.")
                amount = _return_amount(body, claim) if kind == "return" else claim.amount
                at = self.tick()
                claim.entries.append(SimEntry("SELLER", "SELLER_ISSUE_REFUND", comments, at))
                claim.status = "CLOSED"
                claim.respond_by = None
                claim.modified = at
                self.refunds.append(SimRefund(f"{kind}:{claim.claim_id}", amount, claim.currency))
            if kind == "return":
                return Response(200, {"refundStatus": "SUCCESS"})
            return Response(200, {"refundResult": {"refundStatus": "SUCCESS"}})

        return handler


def _comments(body: dict[str, Any]) -> str:
    comments = body.get("comments")
    if comments is None:
        return ""
    if not isinstance(comments, dict) or set(comments) - {"content", "language"}:
        raise ContractViolation("comments is a Text: {'content': ...}")
    content = comments.get("content")
    if not isinstance(content, str):
        raise ContractViolation("comments.content is text")
    return content


def _money(value: Any, where: str) -> tuple[Decimal, str]:
    if not isinstance(value, dict) or set(value) - {"value", "currency", "convertedFromValue"}:
        raise ContractViolation(f"{where} is an Amount: {{'value', 'currency'}}")
    try:
        amount = Decimal(str(value.get("value")))
    except (InvalidOperation, ValueError):
        raise ContractViolation(f"{where}.value is a number") from None
    currency = value.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise ContractViolation(f"{where}.currency is a currency code")
    return amount, currency


def _return_amount(body: dict[str, Any], claim: SimClaim) -> str:
    """A return's refund: its lines, their total, within the claim's amount."""
    if set(body) - {"refundDetail", "comments"}:
        raise ContractViolation("a return's refund takes refundDetail and comments only")
    detail = body.get("refundDetail")
    if not isinstance(detail, dict) or set(detail) != {"itemizedRefundDetail", "totalAmount"}:
        raise ContractViolation("refundDetail has itemizedRefundDetail and totalAmount")
    lines = detail["itemizedRefundDetail"]
    if not isinstance(lines, list) or not lines:
        raise ContractViolation("itemizedRefundDetail lists at least one refund")
    total = Decimal(0)
    for line in lines:
        if not isinstance(line, dict) or set(line) != {"refundAmount", "refundFeeType"}:
            raise ContractViolation("each itemized refund has refundAmount and refundFeeType")
        if line["refundFeeType"] not in FEE_TYPES:
            raise ContractViolation(f"refundFeeType is one of {sorted(FEE_TYPES)}")
        value, currency = _money(line["refundAmount"], "refundAmount")
        if currency != claim.currency:
            raise ContractViolation("the refund's currency is the return's")
        total += value
    declared, _currency = _money(detail["totalAmount"], "totalAmount")
    if declared != total:
        raise ContractViolation("totalAmount is the sum of the itemized refunds")
    if total <= 0 or total > Decimal(claim.amount):
        raise ebay_error(400, 1501, "The refund amount is not valid for this return.")
    return str(total.quantize(Decimal("0.01")))
