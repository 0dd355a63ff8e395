"""The seller's answer to a Cdiscount claim, and its closure, told to Octopia (Seller API v2)
through `Connector.send_case_operation`, exactly once.

A claim is a discussion (`discussion:<id>`, as `cases.claims` names it):
- answer: `POST /discussions/{id}/messages` (multipart `body` and `receivers`, as a reply);
- close: `POST /discussions/{id}/close` (no body).
Octopia's v2 API has no refund call for a claim (refunds are made in the seller portal): no
refund step is offered.

Exactly once: before a retry the discussion is read (`find_case_operation`): a seller message
with the same text written after the first attempt began (less `CLOCK_SKEW`), or a discussion
already closed, is the step done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from comptoir.connectors.base import (
    CLOCK_SKEW,
    CaseOperationOut,
    ConnectorError,
    HttpClient,
    OutboundMessage,
    SendResult,
    same_text,
)
from comptoir.connectors.cdiscount.parsing import author_of
from comptoir.lib.dates import parse_iso

STEPS = frozenset({"respond", "close"})


def discussion_of(claim_id: str) -> str:
    kind, _, discussion_id = claim_id.partition(":")
    return discussion_id if kind == "discussion" else ""


class CdiscountCaseOperations:
    """The case steps of `CdiscountConnector` (first in its bases, before `Connector`)."""

    if TYPE_CHECKING:
        # Provided by CdiscountConnector.
        def send(self, outbound: OutboundMessage) -> SendResult: ...
        @property
        def client(self) -> HttpClient: ...
        def _explain(self, exc: ConnectorError) -> ConnectorError: ...
        def close(self) -> None: ...
        def _get(self, path: str, **params: Any) -> Any: ...

    @classmethod
    def case_operations(cls, claim_id: str) -> frozenset[str]:
        return STEPS if discussion_of(claim_id) else frozenset()

    def send_case_operation(self, operation: CaseOperationOut) -> SendResult:
        discussion_id = discussion_of(operation.claim_id)
        if not discussion_id or operation.kind not in STEPS:
            raise ConnectorError(
                f"Cdiscount does not take this step ({operation.kind}) through its API: do it "
                "in the Octopia seller portal",
                permanent=True,
                about_message=True,
            )
        if operation.kind == "close":
            try:
                # Not marked safe to repeat, unlike `close_discussion`: a close that may have
                # landed is looked for (the discussion closed) before it is sent again.
                self.client.request("POST", f"/discussions/{discussion_id}/close")
            except ConnectorError as exc:
                raise self._explain(exc) from None
            finally:
                self.close()
            return SendResult(external_id=f"{operation.claim_id}:close")
        return self.send(
            OutboundMessage(
                message_id=0,
                idempotency_key=operation.idempotency_key,
                conversation_thread_id=discussion_id,
                to="",
                subject="",
                text=operation.text,
            )
        )

    def find_case_operation(self, operation: CaseOperationOut) -> SendResult | None:
        discussion_id = discussion_of(operation.claim_id)
        if not discussion_id:
            return None
        try:
            discussion = self._get(f"/discussions/{discussion_id}")
        finally:
            self.close()
        if operation.kind == "close":
            closed = discussion.get("isOpen") is False
            return SendResult(external_id=f"{operation.claim_id}:close") if closed else None
        not_before = (
            operation.attempt_started_at - CLOCK_SKEW if operation.attempt_started_at else None
        )
        for message in discussion.get("messages") or []:
            created = parse_iso(message.get("createdAt"))
            if author_of(message) != "Seller" or not same_text(
                message.get("body") or "", operation.text
            ):
                continue
            if not_before is None or (created is not None and created >= not_before):
                return SendResult(external_id=str(message.get("messageId") or ""), sent_at=created)
        return None
