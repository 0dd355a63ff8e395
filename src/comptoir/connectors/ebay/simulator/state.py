"""eBay's side of the simulator: its conversations, orders and pictures, its clock, and the
scripting calls tests and the demo use (a buyer writes, eBay notifies, an order is placed).

The API modules (`message_api`, `fulfillment_api`, `post_order`) subclass `EbayMarketplace`
to serve this state over HTTP; `server.EbaySimulator` puts them together.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema

from comptoir.connectors import contract
from comptoir.connectors.simulator import HttpError, Request, Simulator

MESSAGE_BASE = "/commerce/message/v1"
FULFILLMENT_BASE = "/sell/fulfillment/v1"
# getOrders: `orderIds` takes at most 50, `limit` at most 200 (the Fulfillment API's words).
MAX_ORDER_IDS = 50
MAX_ORDERS_LIMIT = 200
MESSAGE_SPEC = "ebay/commerce_message_v1_oas3.json"
FULFILLMENT_SPEC = "ebay/sell_fulfillment_v1_oas3.json"
CONVERSATION_TYPES = ("FROM_MEMBERS", "FROM_EBAY")
MEDIA_TYPES = ("IMAGE", "PDF", "DOC", "TXT")
MAX_LIMIT = 50
DEFAULT_LIMIT = 25
MAX_TEXT = 2000
MAX_MEDIA = 5
EBAY_SENDER = "eBay"


def iso(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ebay_error(status: int, error_id: int, message: str, long: str = "") -> HttpError:
    """eBay's REST error shape: `{"errors": [{errorId, domain, category, message, ...}]}`."""
    error = {
        "errorId": error_id,
        "domain": "API_MESSAGE" if status < 500 else "API",
        "category": "REQUEST",
        "message": message,
    }
    if long:
        error["longMessage"] = long
    return HttpError(status, {"errors": [error]})


def media_type(content_type: str) -> str:
    if content_type.startswith("image/"):
        return "IMAGE"
    if content_type == "application/pdf":
        return "PDF"
    if content_type.startswith("text/"):
        return "TXT"
    return "DOC"


@dataclass
class SimMessage:
    message_id: str
    sender: str
    recipient: str
    body: str
    subject: str
    created: datetime
    media: list[dict[str, str]] = field(default_factory=list)
    read: bool = False

    def detail(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "createdDate": iso(self.created),
            "messageBody": self.body,
            "messageId": self.message_id,
            "readStatus": self.read,
            "recipientUsername": self.recipient,
            "senderUsername": self.sender,
            "subject": self.subject,
        }
        if self.media:
            data["messageMedia"] = [dict(m) for m in self.media]
        return data


@dataclass
class SimConversation:
    conversation_id: str
    conversation_type: str
    title: str
    other_party: str
    created: datetime
    reference_id: str = ""
    status: str = "ACTIVE"
    messages: list[SimMessage] = field(default_factory=list)

    @property
    def latest(self) -> SimMessage:
        return max(self.messages, key=lambda m: (m.created, int(m.message_id)))

    def detail(self, seller: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "conversationId": self.conversation_id,
            "conversationStatus": self.status,
            "conversationTitle": self.title,
            "conversationType": self.conversation_type,
            "createdDate": iso(self.created),
            "latestMessage": self.latest.detail(),
            "unreadCount": sum(1 for m in self.messages if not m.read and m.sender != seller),
        }
        if self.reference_id:
            data["referenceType"] = "LISTING"
            data["referenceId"] = self.reference_id
        return data


class EbayMarketplace(Simulator):
    """eBay's state and scripting; `_register_routes` (the subclass's) serves it."""

    name = "ebay"

    def __init__(
        self,
        *,
        seed: int = 0,
        seller: str = "maison-lumiere",
        client_id: str = "MaisonLu-Comptoir-PRD-0123456789",
        client_secret: str = "PRD-secret-0123456789",
        refresh_token: str = "v^1.1#i^1#r^1#refresh-0123456789",
        token_lifetime: float = 7200.0,
    ) -> None:
        super().__init__(seed=seed)
        self.seller = seller
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.token_lifetime = token_lifetime
        self.refresh_token_revoked = False
        self.forbidden = False  # the token lacks the Message API scope: 403 everywhere
        self.random = random.Random(seed)
        self.offset = timedelta(0)
        self.clock = datetime.now(UTC)
        self.conversations: dict[str, SimConversation] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.fulfillments: dict[str, list[dict[str, Any]]] = {}
        self.media: dict[str, tuple[str, bytes]] = {}
        self.tokens: dict[str, datetime] = {}
        self.tokens_issued = 0
        self._conversation_ids = itertools.count(2_100_000_001)
        self._message_ids = itertools.count(3_500_000_001)
        self._token_ids = itertools.count(1)
        self._validators: dict[tuple[int, str], jsonschema.Draft202012Validator] = {}
        self.message_contract = contract.load(MESSAGE_SPEC)
        self.fulfillment_contract = contract.load(FULFILLMENT_SPEC)
        self._register_routes()

    def _register_routes(self) -> None:
        """Serve eBay's APIs: the simulator class registers its routes here, once the state
        they read exists."""

    # -- the marketplace's side: buyers, eBay, the clock ----------------------------------------

    def now(self) -> datetime:
        """eBay's clock: the wall clock, plus what `advance` added."""
        return datetime.now(UTC) + self.offset

    def tick(self) -> datetime:
        """The time of a new event: now, and always after the previous event (by 1 ms at
        least, eBay's resolution), so that order never depends on the machine's speed."""
        self.clock = max(self.now(), self.clock + timedelta(milliseconds=1))
        self.clock = self.clock.replace(microsecond=self.clock.microsecond // 1000 * 1000)
        return self.clock

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.offset += timedelta(seconds=seconds)

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (as when they reach their expiry)."""
        with self.lock:
            self.tokens.clear()

    def buyer_writes(
        self,
        text: str,
        *,
        buyer: str = "jeanne_m75",
        order_id: str = "",
        listing_id: str = "",
        conversation_id: str = "",
        attachments: list[tuple[str, str, bytes]] | None = None,
    ) -> str:
        """A buyer writes to the seller; returns eBay's message id. The conversation is the
        buyer's one about the listing (or `conversation_id`). eBay names an order only in the
        subject of the message a buyer sends from the order's page."""
        with self.lock:
            conv = self.conversations.get(conversation_id) if conversation_id else None
            if conv is None:
                conv = next(
                    (
                        c
                        for c in self.conversations.values()
                        if c.conversation_type == "FROM_MEMBERS"
                        and c.other_party == buyer
                        and c.reference_id == listing_id
                    ),
                    None,
                )
            subject = f"{buyer} sent a message about your item"
            if order_id:
                subject = f"{buyer} sent a message about order {order_id}"
            if conv is None:
                conv = self._new_conversation("FROM_MEMBERS", subject, buyer, listing_id)
            media = [self._host_picture(*attachment) for attachment in attachments or []]
            return self._add_message(conv, buyer, self.seller, text, subject, media)

    def _host_picture(self, filename: str, content_type: str, data: bytes) -> dict[str, str]:
        """Keep a buyer's attachment where eBay hosts pictures; its `messageMedia` entry."""
        name = f"{len(self.media) + 1}-{filename}"
        self.media[name] = (content_type, data)
        return {
            "mediaName": filename,
            "mediaType": media_type(content_type),
            # Where the connector downloads it: this simulator (eBay's are HTTPS).
            "mediaUrl": f"{self.url}/media/{name}",
        }

    def ebay_notifies(self, text: str, *, subject: str = "", order_id: str = "") -> str:
        """eBay itself writes to the seller (a FROM_EBAY conversation); returns the message id."""
        with self.lock:
            subject = subject or (
                f"Update on order {order_id}" if order_id else "A message from eBay"
            )
            conv = self._new_conversation("FROM_EBAY", subject, EBAY_SENDER, "")
            return self._add_message(conv, EBAY_SENDER, self.seller, text, subject, [])

    def seller_messages(self, conversation_id: str = "") -> list[dict[str, Any]]:
        """What the seller sent, oldest first, as eBay shows it (plus `conversationId`)."""
        with self.lock:
            return [
                {**m.detail(), "conversationId": c.conversation_id}
                for c in self.conversations.values()
                if not conversation_id or c.conversation_id == conversation_id
                for m in sorted(c.messages, key=lambda m: int(m.message_id))
                if m.sender == self.seller
            ]

    def conversation_for(self, message_id: str) -> str:
        """The id of the conversation holding a message."""
        with self.lock:
            return next(
                c.conversation_id
                for c in self.conversations.values()
                if any(m.message_id == message_id for m in c.messages)
            )

    def all_message_ids(self) -> list[str]:
        with self.lock:
            return [m.message_id for c in self.conversations.values() for m in c.messages]

    def add_order(
        self,
        order_id: str,
        *,
        buyer: str = "jeanne_m75",
        items: list[tuple[str, str, int, str]] | None = None,
        currency: str = "EUR",
        fulfillment_status: str = "NOT_STARTED",
        payment_status: str = "PAID",
        cancel_state: str = "NONE_REQUESTED",
        ship_by: datetime | None = None,
        tracking: tuple[str, str] | None = None,
    ) -> None:
        """An order as the Fulfillment API returns it; `items` are (sku, title, qty, price)."""
        items = items or [("LAMP-01", "Lampe de chevet", 1, "49.90")]
        total = sum(float(price) * qty for _, _, qty, price in items)
        created = self.tick()
        ship_by = ship_by or created + timedelta(days=2)
        order = {
            "orderId": order_id,
            "creationDate": iso(created),
            "lastModifiedDate": iso(created),
            "orderFulfillmentStatus": fulfillment_status,
            "orderPaymentStatus": payment_status,
            "sellerId": self.seller,
            "buyer": {"username": buyer},
            "pricingSummary": {"total": {"value": f"{total:.2f}", "currency": currency}},
            "cancelStatus": {"cancelState": cancel_state, "cancelRequests": []},
            "lineItems": _line_items(order_id, items, currency, ship_by, shipped=bool(tracking)),
            "fulfillmentHrefs": [],
        }
        with self.lock:
            self.orders[order_id] = order
            self.fulfillments[order_id] = []
            if tracking:
                self._ship(order, *tracking)
        self._check_answer(self.fulfillment_contract, order, "Order")

    def _ship(self, order: dict[str, Any], carrier: str, number: str) -> None:
        """The order's whole shipment, under the tracking number `number`."""
        order_id = order["orderId"]
        # eBay lists each shipment's getShippingFulfillment URI on the order.
        order["fulfillmentHrefs"] = [
            f"https://api.ebay.com{FULFILLMENT_BASE}/order/{order_id}/shipping_fulfillment/{number}"
        ]
        self.fulfillments[order_id].append(
            {
                "fulfillmentId": number,
                "shipmentTrackingNumber": number,
                "shippingCarrierCode": carrier,
                "shippedDate": iso(self.tick()),
                "lineItems": [{"lineItemId": li["lineItemId"]} for li in order["lineItems"]],
            }
        )

    def _new_conversation(
        self, ctype: str, title: str, other: str, listing_id: str
    ) -> SimConversation:
        conv = SimConversation(
            conversation_id=str(next(self._conversation_ids)),
            conversation_type=ctype,
            title=title,
            other_party=other,
            created=self.tick(),
            reference_id=listing_id,
        )
        self.conversations[conv.conversation_id] = conv
        return conv

    def _add_message(
        self,
        conv: SimConversation,
        sender: str,
        recipient: str,
        text: str,
        subject: str,
        media: list[dict[str, str]],
    ) -> str:
        message = SimMessage(
            message_id=str(next(self._message_ids)),
            sender=sender,
            recipient=recipient,
            body=text,
            subject=subject,
            created=self.tick(),
            media=media,
        )
        conv.messages.append(message)
        return message.message_id

    # -- answers shared by the APIs -------------------------------------------------------------

    def _check_answer(
        self, spec: contract.OpenApiContract | None, value: Any, schema_name: str
    ) -> None:
        """The simulator's own answers follow the published schema too."""
        if spec is None:
            return
        key = (id(spec), schema_name)
        validator = self._validators.get(key)
        if validator is None:
            # One validator per schema: building one per answer costs more than the answer.
            document = {
                "components": spec.spec.get("components", {}),
                **spec.component(schema_name),
            }
            validator = self._validators[key] = jsonschema.Draft202012Validator(document)
        problems = [error.message for error in validator.iter_errors(value)]
        if problems:
            raise AssertionError(f"the simulator answers {schema_name} off-contract: {problems}")

    def _paged(self, request: Request, items: list[Any], limit: int, offset: int) -> list[Any]:
        page = items[offset : offset + limit]
        fault = self.page_fault(request)
        if fault == "duplicate_page" and offset > 0:
            page = items[max(0, offset - 2) : offset] + page
        elif fault == "reorder_page":
            page = list(page)
            self.random.shuffle(page)
        return page


def _line_items(
    order_id: str,
    items: list[tuple[str, str, int, str]],
    currency: str,
    ship_by: datetime,
    *,
    shipped: bool,
) -> list[dict[str, Any]]:
    return [
        {
            "lineItemId": f"{order_id}-{n}",
            "legacyItemId": f"1{n:011d}",
            "sku": sku,
            "title": title,
            "quantity": qty,
            "lineItemCost": {"value": price, "currency": currency},
            "lineItemFulfillmentStatus": "FULFILLED" if shipped else "NOT_STARTED",
            "lineItemFulfillmentInstructions": {
                "shipByDate": iso(ship_by),
                "maxEstimatedDeliveryDate": iso(ship_by + timedelta(days=3)),
                "guaranteedDelivery": False,
            },
        }
        for n, (sku, title, qty, price) in enumerate(items, 1)
    ]
