"""A local eBay for tests and the demo: the Message API, the Fulfillment API's order reads, the
OAuth token endpoint and the Identity API's user call, over real HTTP on 127.0.0.1.

Endpoints followed (paths, fields and paging as eBay publishes them):
- `POST /identity/v1/oauth2/token` (grant_type=refresh_token, HTTP Basic client credentials):
  user access tokens that expire after `token_lifetime` seconds of the simulator's clock.
- `GET /commerce/identity/v1/user/`: the seller's username.
- `GET /commerce/message/v1/conversation`: conversations of one `conversation_type`, the most
  recently active first, `limit` (at most 50) and `offset` paging, `start_time`/`end_time` for
  FROM_MEMBERS only.
- `GET /commerce/message/v1/conversation/{conversation_id}`: its messages, newest first, paged.
- `POST /commerce/message/v1/send_message`, `POST /commerce/message/v1/update_conversation`.
- `GET /sell/fulfillment/v1/order` (getOrders) by `orderIds` (50 at most, more is a 400; ids
  it does not know come back as `warnings`) or, without them, every order, newest first, with
  `limit` (at most 200) and `offset`; `GET /sell/fulfillment/v1/order/{orderId}` and
  `.../shipping_fulfillment`. An order names its shipments in `fulfillmentHrefs`.
- `GET /media/{name}`: the pictures buyers attach, public like eBay's hosted pictures.
- The Post-Order API v2 (returns, inquiries, cases): see `claims_simulator.py`.

Requests are checked against eBay's OpenAPI descriptions (`contract.load`) and, by hand, against
what those descriptions only say in prose (valid values, maximums, unknown body fields): a
breach is answered 400 and kept in `violations`. Ids are deterministic counters, events are
strictly ordered in time (eBay's clock is the wall clock plus `advance()`), and `seed` drives
the random faults and page shuffles.
"""

from __future__ import annotations

import base64
import itertools
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import jsonschema

from comptoir.connectors import contract
from comptoir.connectors.ebay.claims_simulator import ClaimsMixin
from comptoir.connectors.simulator import (
    ContractViolation,
    HttpError,
    Request,
    Response,
    Simulator,
)

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


def _ebay_error(status: int, error_id: int, message: str, long: str = "") -> HttpError:
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


class EbaySimulator(Simulator, ClaimsMixin):
    """eBay's Message API, order reads and OAuth, with a scriptable buyer (`buyer_writes`) and
    eBay's own notices (`ebay_notifies`); `seller_messages()` is what the seller sent."""

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

        self.route("POST", "/identity/v1/oauth2/token", self._token)
        self.route("GET", "/commerce/identity/v1/user/?", self._user)
        self.route("GET", f"{MESSAGE_BASE}/conversation", self._conversations)
        self.route("GET", f"{MESSAGE_BASE}/conversation/(?P<cid>[^/]+)", self._conversation)
        self.route("POST", f"{MESSAGE_BASE}/send_message", self._send_message)
        self.route("POST", f"{MESSAGE_BASE}/update_conversation", self._update_conversation)
        self.route("GET", f"{FULFILLMENT_BASE}/order", self._orders)
        self.route("GET", f"{FULFILLMENT_BASE}/order/(?P<oid>[^/]+)", self._order)
        self.route(
            "GET",
            f"{FULFILLMENT_BASE}/order/(?P<oid>[^/]+)/shipping_fulfillment",
            self._shipping_fulfillments,
        )
        self.route("GET", "/media/(?P<name>[^/]+)", self._media)
        self._init_claims()

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
            media = []
            for filename, content_type, data in attachments or []:
                name = f"{len(self.media) + 1}-{filename}"
                self.media[name] = (content_type, data)
                media.append(
                    {
                        "mediaName": filename,
                        "mediaType": _media_type(content_type),
                        # Where the connector downloads it: this simulator (eBay's are HTTPS).
                        "mediaUrl": f"{self.url}/media/{name}",
                    }
                )
            return self._add_message(conv, buyer, self.seller, text, subject, media)

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
        line_items = [
            {
                "lineItemId": f"{order_id}-{n}",
                "legacyItemId": f"1{n:011d}",
                "sku": sku,
                "title": title,
                "quantity": qty,
                "lineItemCost": {"value": price, "currency": currency},
                "lineItemFulfillmentStatus": "FULFILLED" if tracking else "NOT_STARTED",
                "lineItemFulfillmentInstructions": {
                    "shipByDate": iso(ship_by),
                    "maxEstimatedDeliveryDate": iso(ship_by + timedelta(days=3)),
                    "guaranteedDelivery": False,
                },
            }
            for n, (sku, title, qty, price) in enumerate(items, 1)
        ]
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
            "lineItems": line_items,
            "fulfillmentHrefs": [],
        }
        with self.lock:
            self.orders[order_id] = order
            self.fulfillments[order_id] = []
            if tracking:
                carrier, number = tracking
                # eBay lists each shipment's getShippingFulfillment URI on the order.
                order["fulfillmentHrefs"] = [
                    f"https://api.ebay.com{FULFILLMENT_BASE}/order/{order_id}"
                    f"/shipping_fulfillment/{number}"
                ]
                self.fulfillments[order_id].append(
                    {
                        "fulfillmentId": number,
                        "shipmentTrackingNumber": number,
                        "shippingCarrierCode": carrier,
                        "shippedDate": iso(self.tick()),
                        "lineItems": [{"lineItemId": li["lineItemId"]} for li in line_items],
                    }
                )
        self._check_answer(self.fulfillment_contract, order, "Order")

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

    # -- auth -----------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        if request.path.startswith(("/identity/", "/media/")):
            return  # the token endpoint checks client credentials itself; pictures are public
        header = request.headers.get("authorization", "")
        # The Post-Order API takes the same OAuth user token, named "IAF" rather than Bearer.
        scheme = "IAF " if request.path.startswith("/post-order/") else "Bearer "
        if header and not header.startswith(scheme):
            raise ContractViolation(f"the Authorization header must be '{scheme}<token>'")
        token = header.removeprefix(scheme)
        with self.lock:
            expiry = self.tokens.get(token)
            valid = expiry is not None and expiry > self.now()
        if not valid:
            raise _ebay_error(
                401,
                1001,
                "Invalid access token",
                "Invalid access token. Check the value of the Authorization HTTP request header.",
            )
        if self.forbidden:
            raise _ebay_error(
                403, 1100, "Access denied", "Insufficient permissions to fulfill the request."
            )

    def _token(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != (
            "application/x-www-form-urlencoded"
        ):
            raise ContractViolation("the token request must be application/x-www-form-urlencoded")
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization", "") != f"Basic {expected}":
            raise HttpError(
                401,
                {"error": "invalid_client", "error_description": "client authentication failed"},
            )
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        unknown = set(form) - {"grant_type", "refresh_token", "scope"}
        if unknown:
            raise ContractViolation(f"unknown token request fields {sorted(unknown)}")
        if form.get("grant_type") != "refresh_token":
            raise HttpError(
                400,
                {"error": "unsupported_grant_type", "error_description": "grant type unsupported"},
            )
        if form.get("refresh_token") != self.refresh_token or self.refresh_token_revoked:
            raise HttpError(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "the provided authorization refresh token is invalid "
                    "or was issued to another client",
                },
            )
        with self.lock:
            token = f"v^1.1#i^1#p^3#access-{next(self._token_ids)}"
            self.tokens[token] = self.now() + timedelta(seconds=self.token_lifetime)
            self.tokens_issued += 1
        return Response(
            200,
            {
                "access_token": token,
                "expires_in": int(self.token_lifetime),
                "token_type": "User Access Token",
            },
        )

    def _user(self, request: Request) -> Response:
        return Response(200, {"userId": "u-" + self.seller, "username": self.seller})

    # -- Message API ----------------------------------------------------------------------------

    def _check(self, request: Request, body: Any = None) -> None:
        """The published contract first, then what the spec says only in words."""
        if self.message_contract is not None:
            problems = self.message_contract.check_request(
                request.method, request.path, request.query, body, base_path=MESSAGE_BASE
            )
            if problems:
                raise ContractViolation("; ".join(problems))
        ctype = request.arg("conversation_type")
        if request.method == "GET" and ctype not in CONVERSATION_TYPES:
            raise ContractViolation(
                f"conversation_type={ctype!r} is not one of FROM_MEMBERS|FROM_EBAY"
            )
        for name in ("limit", "offset"):
            value = request.arg(name)
            if value is not None and not re.fullmatch(r"\d+", value):
                raise ContractViolation(f"{name}={value!r} is not a non-negative integer")
        if int(request.arg("limit") or DEFAULT_LIMIT) > MAX_LIMIT:
            raise ContractViolation(f"limit={request.arg('limit')} is over the maximum {MAX_LIMIT}")
        for name in ("start_time", "end_time"):
            value = request.arg(name)
            if value is None:
                continue
            if ctype != "FROM_MEMBERS":
                raise ContractViolation(f"{name} is only available for FROM_MEMBERS")
            if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value):
                raise ContractViolation(f"{name}={value!r} is not yyyy-MM-ddThh:mm:ss.sssZ")
        if request.method == "POST":
            if request.headers.get("content-type", "").split(";")[0] != "application/json":
                raise ContractViolation("the Content-Type header must be application/json")
            if self.message_contract is not None:
                operation = self.message_contract.operation(
                    "POST", request.path.removeprefix(MESSAGE_BASE)
                )
                schema = (operation or {}).get("requestBody", {}).get("content", {})
                ref = schema.get("application/json", {}).get("schema", {}).get("$ref", "")
                self._no_unknown_fields(body, ref.rsplit("/", 1)[-1], "body")

    def _no_unknown_fields(self, value: Any, schema_name: str, where: str) -> None:
        """eBay's schemas do not say `additionalProperties: false`, but eBay ignores a field it
        does not know, which for a misspelt one means silently losing it: flag it."""
        if self.message_contract is None or not isinstance(value, dict) or not schema_name:
            return
        schema = self.message_contract.spec["components"]["schemas"][schema_name]
        props = schema.get("properties", {})
        for key, item in value.items():
            if key not in props:
                raise ContractViolation(f"{where}[{key!r}] is not a field of {schema_name}")
            ref = props[key].get("$ref") or props[key].get("items", {}).get("$ref", "")
            if ref:
                children = item if isinstance(item, list) else [item]
                for n, child in enumerate(children):
                    self._no_unknown_fields(child, ref.rsplit("/", 1)[-1], f"{where}[{key!r}][{n}]")

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

    def _page(self, request: Request) -> tuple[int, int]:
        return int(request.arg("limit") or DEFAULT_LIMIT), int(request.arg("offset") or 0)

    def _links(self, request: Request, limit: int, offset: int, total: int) -> dict[str, Any]:
        query = {k: v[-1] for k, v in request.query.items()}

        def href(at: int) -> str:
            return f"{self.url}{request.path}?{urlencode({**query, 'limit': limit, 'offset': at})}"

        links: dict[str, Any] = {"href": href(offset), "limit": limit, "offset": offset}
        links["total"] = total
        if offset + limit < total:
            links["next"] = href(offset + limit)
        if offset > 0:
            links["prev"] = href(max(0, offset - limit))
        return links

    def _paged(self, request: Request, items: list[Any], limit: int, offset: int) -> list[Any]:
        page = items[offset : offset + limit]
        fault = self.page_fault(request)
        if fault == "duplicate_page" and offset > 0:
            page = items[max(0, offset - 2) : offset] + page
        elif fault == "reorder_page":
            page = list(page)
            self.random.shuffle(page)
        return page

    def _conversations(self, request: Request) -> Response:
        self._check(request)
        ctype = request.arg("conversation_type")
        start = request.arg("start_time")
        end = request.arg("end_time")
        status = request.arg("conversation_status")
        with self.lock:
            convs = [
                c
                for c in self.conversations.values()
                if c.conversation_type == ctype
                and (status is None or c.status == status)
                and (start is None or c.latest.created >= parse_iso(start))
                and (end is None or c.latest.created <= parse_iso(end))
                and (request.arg("other_party_username") in (None, c.other_party))
                and (request.arg("reference_id") in (None, c.reference_id))
            ]
            convs.sort(key=lambda c: (c.latest.created, int(c.latest.message_id)), reverse=True)
            limit, offset = self._page(request)
            page = self._paged(request, convs, limit, offset)
            body = {
                "conversations": [c.detail(self.seller) for c in page],
                **self._links(request, limit, offset, len(convs)),
            }
        self._check_answer(self.message_contract, body, "GetAllMyConversationsResponse")
        return Response(200, body)

    def _conversation(self, request: Request) -> Response:
        self._check(request)
        with self.lock:
            conv = self.conversations.get(request.params["cid"])
            if conv is None or conv.conversation_type != request.arg("conversation_type"):
                raise _ebay_error(404, 355002, "The conversation was not found.")
            messages = sorted(
                conv.messages, key=lambda m: (m.created, int(m.message_id)), reverse=True
            )
            limit, offset = self._page(request)
            page = self._paged(request, messages, limit, offset)
            body = {
                "conversationStatus": conv.status,
                "conversationTitle": conv.title,
                "conversationType": conv.conversation_type,
                "messages": [m.detail() for m in page],
                **self._links(request, limit, offset, len(messages)),
            }
        self._check_answer(self.message_contract, body, "GetMessagesByConversationIdResponse")
        return Response(200, body)

    def _send_message(self, request: Request) -> Response:
        body = request.json()
        self._check(request, body)
        if not isinstance(body, dict):
            raise ContractViolation("the body must be a SendMessageRequest object")
        has_conv, has_user = "conversationId" in body, "otherPartyUsername" in body
        if has_conv == has_user:
            raise ContractViolation("give exactly one of conversationId and otherPartyUsername")
        text = body.get("messageText")
        if not isinstance(text, str) or not text.strip():
            raise ContractViolation("messageText is required")
        if len(text) > MAX_TEXT:
            raise _ebay_error(400, 355013, f"messageText is longer than {MAX_TEXT} characters")
        media = body.get("messageMedia") or []
        if len(media) > MAX_MEDIA:
            raise _ebay_error(400, 355014, f"at most {MAX_MEDIA} messageMedia per message")
        for n, item in enumerate(media):
            if not str(item.get("mediaUrl", "")).startswith("https://"):
                raise ContractViolation(f"messageMedia[{n}].mediaUrl must be an HTTPS URL")
            if item.get("mediaType") not in MEDIA_TYPES:
                raise ContractViolation(f"messageMedia[{n}].mediaType is not one of {MEDIA_TYPES}")
            if not item.get("mediaName"):
                raise ContractViolation(f"messageMedia[{n}].mediaName is required")
        with self.lock:
            if has_conv:
                conv = self.conversations.get(body["conversationId"])
                if conv is None:
                    raise _ebay_error(404, 355002, "The conversation was not found.")
                if conv.conversation_type != "FROM_MEMBERS":
                    raise _ebay_error(400, 355010, "eBay's own messages cannot be answered.")
            else:
                conv = self._new_conversation(
                    "FROM_MEMBERS", "A message from the seller", body["otherPartyUsername"], ""
                )
            message_id = self._add_message(
                conv, self.seller, conv.other_party, text, conv.title, [dict(m) for m in media]
            )
            sent = next(m for m in conv.messages if m.message_id == message_id)
        answer = {
            "createdDate": iso(sent.created),
            "messageBody": sent.body,
            "messageId": sent.message_id,
            "readStatus": False,
            "recipientUserName": sent.recipient,
            "senderUserName": sent.sender,
            "subject": sent.subject,
        }
        if sent.media:
            answer["messageMedia"] = sent.media
        self._check_answer(self.message_contract, answer, "SendMessageResponse")
        return Response(201, answer)

    def _update_conversation(self, request: Request) -> Response:
        body = request.json()
        self._check(request, body)
        if not isinstance(body, dict) or not body.get("conversationId"):
            raise ContractViolation("conversationId is required")
        if body.get("conversationType") not in CONVERSATION_TYPES:
            raise ContractViolation("conversationType (the existing type) is required")
        if "read" not in body and "conversationStatus" not in body:
            raise ContractViolation("give read or conversationStatus")
        with self.lock:
            conv = self.conversations.get(body["conversationId"])
            if conv is None or conv.conversation_type != body["conversationType"]:
                raise _ebay_error(404, 355002, "The conversation was not found.")
            if "read" in body:
                for m in conv.messages:
                    if m.sender != self.seller:
                        m.read = bool(body["read"])
            elif body["conversationStatus"] in ("ACTIVE", "ARCHIVE", "DELETE"):
                conv.status = body["conversationStatus"]
            else:
                raise ContractViolation("conversationStatus is not ACTIVE, ARCHIVE or DELETE")
        return Response(204, b"")

    # -- Fulfillment API ------------------------------------------------------------------------

    def _check_fulfillment(self, request: Request) -> None:
        if self.fulfillment_contract is None:
            return
        problems = self.fulfillment_contract.check_request(
            request.method, request.path, request.query, None, base_path=FULFILLMENT_BASE
        )
        if problems:
            raise ContractViolation("; ".join(problems))

    def _orders(self, request: Request) -> Response:
        self._check_fulfillment(request)
        ids = [i for i in (request.arg("orderIds") or "").split(",") if i]
        if len(ids) > MAX_ORDER_IDS:
            raise _ebay_error(
                400,
                32800,
                f"The orderIds parameter takes at most {MAX_ORDER_IDS} order ids, got {len(ids)}.",
            )
        if ids:
            # With orderIds every other parameter is ignored: one page holds them all.
            with self.lock:
                found = [self.orders[i] for i in dict.fromkeys(ids) if i in self.orders]
            body: dict[str, Any] = {"orders": found, "total": len(found)}
            missing = [i for i in dict.fromkeys(ids) if i not in self.orders]
            if missing:
                body["warnings"] = [
                    {
                        "errorId": 32100,
                        "domain": "API_FULFILLMENT",
                        "category": "REQUEST",
                        "message": f"Order not found: {order_id}",
                    }
                    for order_id in missing
                ]
            return Response(200, body)
        if request.arg("filter"):
            raise ContractViolation("the simulator reads getOrders by orderIds or unfiltered")
        limit = int(request.arg("limit") or 50)
        if not 1 <= limit <= MAX_ORDERS_LIMIT:
            raise _ebay_error(400, 30700, f"The limit must be 1 to {MAX_ORDERS_LIMIT}.")
        offset = int(request.arg("offset") or 0)
        with self.lock:
            everything = sorted(
                self.orders.values(), key=lambda o: str(o["creationDate"]), reverse=True
            )
        page = everything[offset : offset + limit]
        body = {"orders": page, "total": len(everything), "limit": limit, "offset": offset}
        if offset + limit < len(everything):
            body["next"] = f"{FULFILLMENT_BASE}/order?limit={limit}&offset={offset + limit}"
        return Response(200, body)

    def _order(self, request: Request) -> Response:
        self._check_fulfillment(request)
        with self.lock:
            order = self.orders.get(request.params["oid"])
        if order is None:
            raise _ebay_error(404, 32100, "Order not found.")
        return Response(200, order)

    def _shipping_fulfillments(self, request: Request) -> Response:
        self._check_fulfillment(request)
        with self.lock:
            if request.params["oid"] not in self.orders:
                raise _ebay_error(404, 32100, "Order not found.")
            fulfillments = list(self.fulfillments[request.params["oid"]])
        return Response(200, {"fulfillments": fulfillments, "total": len(fulfillments)})

    def _media(self, request: Request) -> Response:
        with self.lock:
            found = self.media.get(request.params["name"])
        if found is None:
            raise HttpError(404, {"message": "no such picture"})
        return Response(200, found[1], content_type=found[0])


def _media_type(content_type: str) -> str:
    if content_type.startswith("image/"):
        return "IMAGE"
    if content_type == "application/pdf":
        return "PDF"
    if content_type.startswith("text/"):
        return "TXT"
    return "DOC"


class _Demo:
    """An eBay seller account whose buyers write about their orders (for `comptoir demo`)."""

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = EbaySimulator(seed=seed)
        self.conversations: dict[str, str] = {}  # order -> eBay conversation id

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "refresh_token": sim.refresh_token,
            "api_url": sim.url,
            "apiz_url": sim.url,
        }

    def adopt(self, threads: list[Any]) -> None:
        sim = self.simulator
        for seeded in threads:
            if seeded.order_id and seeded.order_id not in sim.orders:
                sim.add_order(seeded.order_id, buyer=seeded.customer_id)
            subject = f"{seeded.customer_id} sent a message about your item"
            if seeded.order_id:
                subject = f"{seeded.customer_id} sent a message about order {seeded.order_id}"
            conv = SimConversation(
                conversation_id=seeded.thread_id,
                conversation_type="FROM_MEMBERS",
                title=subject,
                other_party=seeded.customer_id,
                created=seeded.messages[0].sent_at,
            )
            for m in seeded.messages:
                seller, buyer = sim.seller, seeded.customer_id
                conv.messages.append(
                    SimMessage(
                        message_id=m.external_id,
                        sender=seller if m.outbound else buyer,
                        recipient=buyer if m.outbound else seller,
                        body=m.text,
                        subject=subject,
                        created=m.sent_at,
                        read=True,
                    )
                )
            sim.conversations[seeded.thread_id] = conv

    def buyer_writes(self, written: Any) -> None:
        sim = self.simulator
        number = int("".join(c for c in written.order_id if c.isdigit()) or "0")
        order_id = f"{number % 100:02d}-{number % 100_000:05d}-{number * 7 % 100_000:05d}"
        if order_id not in sim.orders:
            sim.add_order(order_id, buyer=written.customer_id)
        sim.buyer_writes(
            written.text,
            buyer=written.customer_id,
            order_id=order_id,
            listing_id=f"1100{written.order_id[-5:]}",
        )


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
