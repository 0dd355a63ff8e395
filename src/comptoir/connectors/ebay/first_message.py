"""Writing first to an eBay buyer about an order (proactive care): `sendMessage` without a
`conversationId`, to the order's buyer (`otherPartyUsername`, the Fulfillment API's
`buyer.username`) about the order's listing (`reference` LISTING, the first line's
`legacyItemId`). eBay opens a FROM_MEMBERS conversation; its id, which the answer does not
give, is read back from `getConversations` (that member, that listing) and becomes the
Comptoir conversation's thread, so the buyer's answer threads into it on the next poll.

Exactly once: a first message whose answer was lost is looked for in the conversations with
that member about that listing (the seller's message of this text, by `Connector.pick_sent`)
before it is posted again."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from comptoir.connectors.base import (
    ConnectorError,
    OutboundMessage,
    SendResult,
    SentCandidate,
)
from comptoir.connectors.ebay.calls import EbayCalls
from comptoir.connectors.ebay.sending import send_body
from comptoir.connectors.ebay.values import parse_time

MESSAGE_API = "/commerce/message/v1"
FULFILLMENT_API = "/sell/fulfillment/v1"
PAGE_LIMIT = 50


class FirstMessageMixin(EbayCalls):
    """The first-message part of `EbayConnector`."""

    opens_order_threads: ClassVar[bool] = True

    def _buyer_and_listing(self, order_number: str) -> tuple[str, str]:
        """The order's buyer and the listing of its first line, as eBay has them now."""
        if not order_number:
            raise ConnectorError(
                "this conversation has neither an eBay conversation nor an order to write about",
                permanent=True,
                about_message=True,
            )
        page = self._get(f"{FULFILLMENT_API}/order", params={"orderIds": order_number}) or {}
        order: dict[str, Any] = next(
            (o for o in page.get("orders") or [] if o.get("orderId") == order_number), {}
        )
        buyer = str((order.get("buyer") or {}).get("username") or "")
        listing = next(
            (str(i["legacyItemId"]) for i in order.get("lineItems") or [] if i.get("legacyItemId")),
            "",
        )
        if not buyer or not listing:
            raise ConnectorError(
                f"eBay does not give the buyer and the listing of order {order_number}: "
                "cannot write to the buyer first",
                permanent=True,
                about_message=True,
            )
        return buyer, listing

    def _open_conversation(self, outbound: OutboundMessage) -> SendResult:
        """Post the first message; the new conversation's id is its thread from now on."""
        try:
            return self._post_first(outbound)
        finally:
            self.close()

    def _post_first(self, outbound: OutboundMessage) -> SendResult:
        buyer, listing = self._buyer_and_listing(outbound.order_number)
        body = send_body(outbound, lambda: self.conf().media_url_template, first=True)
        body["otherPartyUsername"] = buyer
        body["reference"] = {"referenceType": "LISTING", "referenceId": listing}
        answer = self._call("POST", f"{MESSAGE_API}/send_message", json_body=body) or {}
        message_id = str(answer.get("messageId") or "")
        created = answer.get("createdDate")
        try:
            found = self._seller_messages(buyer, listing)
        except ConnectorError as exc:
            # eBay has the message: whatever happens next, it must not be posted again blindly.
            raise ConnectorError(
                f"eBay accepted the first message, then: {exc}", maybe_sent=True
            ) from exc
        thread = next((cid for cid, c in found if c.external_id == message_id), "")
        if not message_id or not thread:
            # Delivered, but not yet found in its conversation: the retry looks for it.
            raise ConnectorError(
                "eBay accepted the first message but its conversation was not found yet",
                maybe_sent=True,
            )
        return SendResult(
            external_id=message_id,
            sent_at=parse_time(created) if created else None,
            thread_id=thread,
        )

    def _find_opened(self, outbound: OutboundMessage) -> SendResult | None:
        """A first message whose answer was lost: ours among the seller's messages in the
        conversations with the order's buyer about its listing."""
        try:
            buyer, listing = self._buyer_and_listing(outbound.order_number)
            found = self._seller_messages(buyer, listing)
        finally:
            self.close()
        result = self.pick_sent(outbound, [c for _, c in found])
        if result is None:
            return None
        result.thread_id = next(cid for cid, c in found if c.external_id == result.external_id)
        return result

    def _seller_messages(self, buyer: str, listing: str) -> list[tuple[str, SentCandidate]]:
        """(conversation id, message) for the seller's messages in the conversations with
        `buyer` about `listing` (the newest 50 of each: a first message is recent)."""
        me = self.username().casefold()
        listed = (
            self._get(
                f"{MESSAGE_API}/conversation",
                {
                    "conversation_type": "FROM_MEMBERS",
                    "other_party_username": buyer,
                    "reference_type": "LISTING",
                    "reference_id": listing,
                    "limit": PAGE_LIMIT,
                },
            )
            or {}
        )
        found: list[tuple[str, SentCandidate]] = []
        for conv in listed.get("conversations") or []:
            cid = str(conv.get("conversationId") or "")
            if not cid:
                continue
            page = (
                self._get(
                    f"{MESSAGE_API}/conversation/{quote(cid, safe='')}",
                    {"conversation_type": "FROM_MEMBERS", "limit": PAGE_LIMIT},
                )
                or {}
            )
            for m in page.get("messages") or []:
                if m.get("messageId") and str(m.get("senderUsername") or "").casefold() == me:
                    at = parse_time(m["createdDate"]) if m.get("createdDate") else None
                    found.append(
                        (
                            cid,
                            SentCandidate(str(m["messageId"]), str(m.get("messageBody") or ""), at),
                        )
                    )
        return found
