"""The seller's answer to a return, inquiry or case, told to eBay through the Post-Order API v2
(`Connector.send_case_operation`), exactly once.

Calls (eBay's call reference, developer.ebay.com/Devzone/post-order; no OpenAPI description is
published, so what it leaves open is guessed, and said so here):
- answer: `POST /post-order/v2/return/{returnId}/send_message` and
  `/inquiry/{inquiryId}/send_message` (`{"message": {"content"}}`). Cases take no message
  from the seller through the API (eBay's staff run them).
- refund: `POST /post-order/v2/return/{returnId}/issue_refund` (`refundDetail` with one
  `itemizedRefundDetail` of fee type PURCHASE_PRICE and its `totalAmount`; a partial refund
  is an amount below the claim's), `POST /post-order/v2/inquiry/{inquiryId}/issue_refund` and
  `/casemanagement/{caseId}/issue_refund` (a full refund only, `comments` optional).
- close: eBay's close calls (`/inquiry/{id}/close`, `/casemanagement/{id}/close`,
  `/return/{id}/cancel`) act for the buyer; a seller's claim closes when it is refunded. No
  close step is offered: the case closes here only.

Guessed: the history entry a refund leaves (the simulator writes `SELLER_ISSUE_REFUND` by
the seller; any seller entry whose action names a refund is taken) and the refund answer's
shape (only its status is read, `refundStatus` at the top or in `refundResult`).

Exactly once: none of these calls takes an idempotency key. Before a retry the claim's
history is read (`find_case_operation`): a seller refund entry, or an answer with the same
text, written after the first attempt began (less `CLOCK_SKEW`), is the step already done.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from comptoir.connectors.base import (
    CLOCK_SKEW,
    CaseOperationOut,
    ConnectorError,
    SendResult,
    same_text,
)
from comptoir.connectors.ebay.calls import EbayCalls
from comptoir.connectors.ebay.claims import POST_ORDER, entry_id, split_thread

STEPS = {
    "return": frozenset({"respond", "refund"}),
    "inquiry": frozenset({"respond", "refund"}),
    "case": frozenset({"refund"}),
}
REFUND_PATH = {"return": "return", "inquiry": "inquiry", "case": "casemanagement"}
# Refund statuses that say eBay did not refund (the others: done, or under way).
REFUND_REFUSED = {"FAILED", "REFUND_FAILED"}


class EbayCaseOperations(EbayCalls):
    """The case steps of `EbayConnector` (it comes first in its bases, before `Connector`)."""

    @classmethod
    def case_operations(cls, claim_id: str) -> frozenset[str]:
        kind, _ = split_thread(claim_id)
        return STEPS.get(kind, frozenset())

    def send_case_operation(self, operation: CaseOperationOut) -> SendResult:
        kind, claim_id = split_thread(operation.claim_id)
        if operation.kind not in STEPS.get(kind, frozenset()):
            raise ConnectorError(
                f"eBay does not take this step ({operation.kind}) on a {kind or 'claim'} "
                "through its API: do it on eBay (Resolution Centre)",
                permanent=True,
                about_message=True,
            )
        try:
            if operation.kind == "respond":
                self._post(kind, claim_id, "send_message", _message_body(operation))
            else:
                answer = self._post(kind, claim_id, "issue_refund", _refund_body(kind, operation))
                _check_refund(answer)
            # eBay names neither step: it is read back from the claim's history. It was done
            # whatever happens now, so a failure to read it back is not a failure.
            try:
                found = self._find(operation, kind, claim_id)
            except ConnectorError:
                found = None
        finally:
            self.close()
        return found or SendResult(external_id=f"{operation.claim_id}:{operation.kind}")

    def find_case_operation(self, operation: CaseOperationOut) -> SendResult | None:
        kind, claim_id = split_thread(operation.claim_id)
        if not kind:
            return None
        try:
            return self._find(operation, kind, claim_id)
        finally:
            self.close()

    def _post(self, kind: str, claim_id: str, call: str, body: dict[str, Any]) -> Any:
        base = REFUND_PATH[kind] if call == "issue_refund" else kind
        try:
            return self._call(
                "POST",
                f"{POST_ORDER}/{base}/{quote(claim_id, safe='')}/{call}",
                json_body=body,
                which="postorder",
            )
        except ConnectorError as exc:
            if exc.permanent and exc.status not in (401, 403):
                # eBay refused this step (refunded already, too much): the step fails, the
                # channel stays healthy.
                raise ConnectorError(
                    f"eBay refused: {_words(exc)}",
                    permanent=True,
                    about_message=True,
                    status=exc.status,
                ) from exc
            raise

    def _find(self, operation: CaseOperationOut, kind: str, claim_id: str) -> SendResult | None:
        not_before = (
            operation.attempt_started_at - CLOCK_SKEW if operation.attempt_started_at else None
        )
        for at, raw_date, author, action, text in self._claim_entries(
            kind, self._claim_detail(kind, claim_id)
        ):
            if author.upper() != "SELLER" or (not_before is not None and at < not_before):
                continue
            if operation.kind == "refund":
                matches = "REFUND" in action.upper()
            else:
                matches = "MESSAGE" in action.upper() and same_text(text, operation.text)
            if matches:  # entries come oldest first: the first one is ours
                return SendResult(
                    external_id=entry_id(kind, claim_id, raw_date, author, action, text),
                    sent_at=at,
                )
        return None


def _words(exc: ConnectorError) -> str:
    """eBay's own messages from its `errors` list, else what the client read."""
    try:
        errors = json.loads(exc.detail)
        found = [str(e.get("longMessage") or e.get("message")) for e in errors]
    except (ValueError, TypeError, AttributeError):
        return exc.detail or str(exc)
    return "; ".join(found) or str(exc)


def _message_body(operation: CaseOperationOut) -> dict[str, Any]:
    text = operation.text.strip()
    if not text:
        raise ConnectorError("eBay needs a message text", permanent=True, about_message=True)
    return {"message": {"content": text}}


def _refund_body(kind: str, operation: CaseOperationOut) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if operation.text.strip():
        body["comments"] = {"content": operation.text.strip()}
    if kind != "return":
        return body  # inquiries and cases: a full refund, eBay knows its amount
    try:
        value = float(Decimal(operation.amount))
    except (InvalidOperation, ValueError):
        raise ConnectorError(
            f"eBay needs the refund's amount ({operation.amount!r})",
            permanent=True,
            about_message=True,
        ) from None
    amount = {"value": value, "currency": operation.currency or "EUR"}
    body["refundDetail"] = {
        "itemizedRefundDetail": [{"refundAmount": amount, "refundFeeType": "PURCHASE_PRICE"}],
        "totalAmount": amount,
    }
    return body


def _check_refund(answer: Any) -> None:
    found = answer if isinstance(answer, dict) else {}
    status = str(found.get("refundStatus") or (found.get("refundResult") or {}).get("refundStatus"))
    if status.upper() in REFUND_REFUSED:
        raise ConnectorError(
            f"eBay did not refund (status {status})", permanent=True, about_message=True
        )
