"""A local Octopia Seller API v2 (Cdiscount marketplace), for tests and the demo.

It follows the public Octopia contract as far as it is documented:
- `POST /auth/realms/maas/protocol/openid-connect/token` (form: `grant_type=client_credentials`,
  `client_id`, `client_secret`) gives a bearer token that expires (2 h on Octopia; `token_ttl`
  here), then every call carries `Authorization: Bearer <token>` and the `SellerId` header.
- `GET /seller/v2/sellers`: the seller's account (`sellerId`, `login`, `shopName`).
- `GET /seller/v2/discussions`: filters `updatedAtMin`, `updatedAtMax` (at most 6 months
  apart), `isOpen`, `orderId`, `salesChannel`, `graduationCode`, `processStatus`; paging
  `pageIndex` (from 1) and `pageSize` (at most 100); answers `{itemsPerPage, items, _links}`
  with `_links.next` while there is more, oldest `updatedAt` first.
- `GET /seller/v2/discussions/{discussionId}`: the discussion with its `messages` and the
  `eligibleReceivers` of a reply.
- `POST /seller/v2/discussions/{discussionId}/messages`: multipart, a `body` and `receivers`
  part and up to 3 `attachments` of 4 MB in all, of the accepted file types.
- `GET /seller/v2/discussions/{discussionId}/attachments/{attachmentId}`: the file.
- `POST /seller/v2/discussions` opens one on an order; `.../{discussionId}/close` and
  `.../{discussionId}/open` close and reopen it.
- `GET /seller/v2/orders/{orderId}`: one order.
Errors are `application/problem+json` (`type`, `title`, `status`, `detail`).

The base `Simulator.start` is repeated here with TCP_NODELAY on the answers and a short poll
interval (see `start`): both belong in the base class.

Requests that stray from it (an unknown or missing field or parameter, no `SellerId`) are
contract violations: answered 400 and recorded in `violations`.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from comptoir.connectors.simulator import (
    ContractViolation,
    HttpError,
    Request,
    Response,
    Simulator,
)

API = "/seller/v2"
TOKEN_PATH = "/auth/realms/maas/protocol/openid-connect/token"
MAX_PAGE_SIZE = 100
MAX_SEARCH_WINDOW = timedelta(days=183)
MAX_ATTACHMENTS = 3
MAX_ATTACHMENTS_BYTES = 4 * 1024 * 1024
ACCEPTED_EXTENSIONS = frozenset(
    {"png", "gif", "bmp", "jpg", "tif", "pdf", "jpeg", "doc", "docx", "xls"}
)
LIST_PARAMS = frozenset(
    {
        "updatedAtMin",
        "updatedAtMax",
        "isOpen",
        "orderId",
        "salesChannel",
        "graduationCode",
        "processStatus",
        "pageIndex",
        "pageSize",
    }
)
ORDER_STATUSES = (
    "Processing",
    "WaitingAcceptance",
    "Refused",
    "Accepted",
    "InPreparation",
    "Shipped",
    "Delivered",
    "Cancelled",
)
FIRST_NAMES = ("Jeanne", "Lucas", "Chloé", "Hugo", "Léa", "Nathan", "Manon", "Louis")
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand")


@dataclass
class SimAttachment:
    attachment_id: str
    file_name: str
    content_type: str
    data: bytes


@dataclass
class SimMessage:
    message_id: str
    discussion_id: str
    body: str
    sender_type: str  # Customer, Seller or GrcOperator
    sender_id: str
    receivers: list[str]
    created_at: datetime
    attachments: list[SimAttachment] = field(default_factory=list)
    has_read: bool = False


@dataclass
class SimDiscussion:
    discussion_id: str
    order_id: str
    subject: str
    customer_id: str
    first_name: str
    last_name: str
    created_at: datetime
    updated_at: datetime
    sales_channel: str = "CDISFR"
    typology_code: str = "Order"
    sub_typology_code: str = "orderNotShipped"
    graduation: str = "Discussion"  # Discussion, Claim, Level_1
    claim_type: str = ""
    is_open: bool = True
    messages: list[SimMessage] = field(default_factory=list)

    @property
    def process_status(self) -> str:
        if not self.is_open:
            return "Closed"
        last = self.messages[-1] if self.messages else None
        if last is None or last.sender_type != "Seller":
            return "WaitingForSellerAnswer"
        return "WaitingForCustomerAnswer"


@dataclass
class SimOrder:
    order_id: str
    status: str = "Shipped"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    currency: str = "EUR"
    lines: list[dict[str, Any]] = field(default_factory=list)
    max_shipping_date: datetime | None = None
    shipped_at: datetime | None = None
    carrier: str = ""
    parcel_number: str = ""
    tracking_url: str = ""
    customer_id: str = ""


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_date(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ContractViolation(f"{name}={value!r} is not an ISO 8601 date") from None
    if parsed.tzinfo is None:
        raise ContractViolation(f"{name}={value!r} has no time zone")
    return parsed


def problem(status: int, title: str, detail: str) -> HttpError:
    return HttpError(
        status,
        {
            "type": f"https://httpstatuses.io/{status}",
            "title": title,
            "status": status,
            "detail": detail,
        },
    )


class CdiscountSimulator(Simulator):
    """The Octopia Seller API v2 discussions, orders and OAuth token endpoint, in memory."""

    name = "cdiscount"

    def __init__(
        self,
        *,
        seed: int = 0,
        client_id: str = "comptoir-client",
        client_secret: str = "s3cret",
        seller_id: str = "98979",
        shop_name: str = "Maison Lumière",
        token_ttl: float = 7200.0,
    ) -> None:
        super().__init__(seed=seed)
        self.client_id = client_id
        self.client_secret = client_secret
        self.seller_id = seller_id
        self.shop_name = shop_name
        self.token_ttl = token_ttl
        self.random = random.Random(seed)
        # Tokens from their own generator: how many are asked for leaves the ids unchanged.
        self._token_random = random.Random(seed + 1)
        self.discussions: dict[str, SimDiscussion] = {}
        self.orders: dict[str, SimOrder] = {}
        self.tokens: dict[str, float] = {}  # token -> monotonic expiry
        self.tokens_issued = 0
        self.disabled = False  # the client was revoked: tokens are refused (403)
        self._ids = itertools.count(1)
        self._last_time = datetime(1970, 1, 1, tzinfo=UTC)
        self._time_lock = threading.Lock()
        self.route("POST", TOKEN_PATH, self._token)
        self.route("GET", f"{API}/sellers", self._seller)
        self.route("GET", f"{API}/discussions", self._list)
        self.route("POST", f"{API}/discussions", self._open_new)
        self.route("GET", f"{API}/discussions/(?P<did>[^/]+)", self._get)
        self.route("POST", f"{API}/discussions/(?P<did>[^/]+)/messages", self._reply)
        self.route(
            "GET", f"{API}/discussions/(?P<did>[^/]+)/attachments/(?P<aid>[^/]+)", self._file
        )
        self.route("POST", f"{API}/discussions/(?P<did>[^/]+)/close", self._close)
        self.route("POST", f"{API}/discussions/(?P<did>[^/]+)/open", self._reopen)
        self.route("GET", f"{API}/orders/(?P<oid>[^/]+)", self._order)

    # -- scripting (tests and the demo) -------------------------------------------------------

    def now(self) -> datetime:
        """Strictly increasing: two events never share an `updatedAt`."""
        with self._time_lock:
            now = max(datetime.now(UTC), self._last_time + timedelta(microseconds=1))
            self._last_time = now
            return now

    def _new_id(self, prefix: str) -> str:
        # Octopia ids are opaque strings: a counter keeps runs reproducible for a seed.
        return f"{prefix}{next(self._ids):08d}{self.random.randrange(16**4):04x}"

    def add_order(self, order_id: str, **fields: Any) -> SimOrder:
        with self.lock:
            order = SimOrder(order_id=order_id, **fields)
            if not order.lines:
                order.lines = [
                    {
                        "lineId": "1",
                        "sellerProductId": f"SKU-{order_id[-4:]}",
                        "productTitle": "Lampe de chevet en laiton",
                        "quantity": 1,
                        "unitPrice": "49.90",
                    }
                ]
            self.orders[order_id] = order
            return order

    def buyer_writes(
        self,
        *,
        order_id: str,
        text: str,
        attachments: list[tuple[str, str, bytes]] | None = None,
        discussion_id: str = "",
        subject: str = "",
        customer_id: str = "",
        claim_type: str = "",
        sub_typology_code: str = "orderNotShipped",
    ) -> str:
        """The buyer writes about an order (in `discussion_id`, or the order's open discussion,
        or a new one); returns the new message's id."""
        with self.lock:
            discussion = self.discussions.get(discussion_id) if discussion_id else None
            if discussion is None and not discussion_id:
                discussion = next(
                    (
                        d
                        for d in self.discussions.values()
                        if d.order_id == order_id
                        and d.is_open
                        and not claim_type
                        and not d.claim_type
                    ),
                    None,
                )
            if discussion is None:
                discussion = self._new_discussion(
                    order_id,
                    subject=subject,
                    customer_id=customer_id,
                    claim_type=claim_type,
                    sub_typology_code=sub_typology_code,
                    discussion_id=discussion_id,
                )
            discussion.is_open = True
            return self._add_message(
                discussion, "Customer", discussion.customer_id, text, ["Seller"], attachments
            ).message_id

    def operator_writes(self, discussion_id: str, text: str) -> str:
        """Cdiscount's customer care writes into a discussion (a claim being escalated)."""
        with self.lock:
            discussion = self.discussions[discussion_id]
            return self._add_message(
                discussion, "GrcOperator", "grc", text, ["Seller", "Customer"], None
            ).message_id

    def seller_writes_on_portal(self, discussion_id: str, text: str) -> str:
        """The seller answers from the Cdiscount seller portal, outside Comptoir."""
        with self.lock:
            discussion = self.discussions[discussion_id]
            return self._add_message(
                discussion, "Seller", self.seller_id, text, ["Customer"], None
            ).message_id

    def seller_messages(self) -> list[SimMessage]:
        with self.lock:
            return [
                m
                for d in self.discussions.values()
                for m in d.messages
                if m.sender_type == "Seller"
            ]

    def all_messages(self) -> list[SimMessage]:
        with self.lock:
            return [m for d in self.discussions.values() for m in d.messages]

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def _new_discussion(
        self,
        order_id: str,
        *,
        subject: str,
        customer_id: str,
        claim_type: str,
        sub_typology_code: str,
        discussion_id: str = "",
    ) -> SimDiscussion:
        now = self.now()
        order = self.orders.get(order_id)
        customer_id = (
            customer_id
            or (order.customer_id if order else "")
            or (f"CUST{self.random.randrange(10**6):06d}")
        )
        if order is not None and not order.customer_id:
            order.customer_id = customer_id
        discussion = SimDiscussion(
            discussion_id=discussion_id or self._new_id("d"),
            order_id=order_id,
            subject=subject or f"Commande {order_id}",
            customer_id=customer_id,
            first_name=self.random.choice(FIRST_NAMES),
            last_name=self.random.choice(LAST_NAMES),
            created_at=now,
            updated_at=now,
            sub_typology_code=sub_typology_code,
            graduation="Claim" if claim_type else "Discussion",
            claim_type=claim_type,
        )
        self.discussions[discussion.discussion_id] = discussion
        return discussion

    def _add_message(
        self,
        discussion: SimDiscussion,
        sender_type: str,
        sender_id: str,
        text: str,
        receivers: list[str],
        attachments: list[tuple[str, str, bytes]] | None,
    ) -> SimMessage:
        now = self.now()
        message = SimMessage(
            message_id=self._new_id("m"),
            discussion_id=discussion.discussion_id,
            body=text,
            sender_type=sender_type,
            sender_id=sender_id,
            receivers=receivers,
            created_at=now,
            attachments=[
                SimAttachment(self._new_id("a"), name, ctype, data)
                for name, ctype, data in attachments or []
            ],
        )
        discussion.messages.append(message)
        discussion.updated_at = now
        return message

    # -- the contract -------------------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        if request.path == TOKEN_PATH:
            return
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            raise problem(401, "Unauthorized", "a bearer token is required")
        with self.lock:
            expiry = self.tokens.get(header.removeprefix("Bearer "))
            if expiry is None or expiry < time.monotonic():
                raise problem(401, "Unauthorized", "the token is invalid or has expired")
        if self.disabled:
            raise problem(403, "Forbidden", "this client's access to the seller was revoked")
        seller = request.headers.get("sellerid")
        if not seller:
            raise ContractViolation("the SellerId header is required on every call")
        if seller != self.seller_id:
            raise problem(403, "Forbidden", f"the client may not act for seller {seller}")

    def _token(self, request: Request) -> Response:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            raise ContractViolation(f"the token request must be form-encoded, not {ctype!r}")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        unknown = set(form) - {"grant_type", "client_id", "client_secret"}
        if unknown:
            raise ContractViolation(f"unknown token request fields {sorted(unknown)}")
        if form.get("grant_type") != "client_credentials":
            raise ContractViolation(f"grant_type {form.get('grant_type')!r} is not supported")
        for name in ("client_id", "client_secret"):
            if not form.get(name):
                raise ContractViolation(f"{name} is required")
        if (form["client_id"], form["client_secret"]) != (self.client_id, self.client_secret):
            raise HttpError(
                401,
                {"error": "invalid_client", "error_description": "Invalid client credentials"},
            )
        with self.lock:
            token = f"{self._token_random.getrandbits(128):032x}"
            self.tokens[token] = time.monotonic() + self.token_ttl
            self.tokens_issued += 1
        return Response(
            200,
            {
                "access_token": token,
                "expires_in": int(self.token_ttl),
                "token_type": "Bearer",
                "scope": "profile email",
            },
        )

    def _only(self, request: Request, allowed: frozenset[str] | set[str]) -> None:
        unknown = set(request.query) - set(allowed)
        if unknown:
            raise ContractViolation(
                f"{request.method} {request.path}: unknown query parameters {sorted(unknown)}"
            )

    def _seller(self, request: Request) -> Response:
        self._only(request, set())
        return Response(
            200, {"sellerId": self.seller_id, "login": "maison-lumiere", "shopName": self.shop_name}
        )

    def _discussion(self, request: Request) -> SimDiscussion:
        discussion = self.discussions.get(request.params["did"])
        if discussion is None:
            raise problem(404, "Not Found", f"discussion {request.params['did']} does not exist")
        return discussion

    def _list(self, request: Request) -> Response:
        self._only(request, LIST_PARAMS)
        page_index = self._int(request, "pageIndex", 1)
        page_size = self._int(request, "pageSize", 50)
        if page_index < 1:
            raise ContractViolation(f"pageIndex={page_index} must be 1 or more")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ContractViolation(f"pageSize={page_size} must be between 1 and {MAX_PAGE_SIZE}")
        low = self._date(request, "updatedAtMin")
        high = self._date(request, "updatedAtMax")
        if low is not None and (high or datetime.now(UTC)) - low > MAX_SEARCH_WINDOW:
            raise problem(400, "Bad Request", "the search period may not exceed 6 months")
        is_open = request.arg("isOpen")
        if is_open not in (None, "true", "false"):
            raise ContractViolation(f"isOpen={is_open!r} is not true or false")
        with self.lock:
            found = [
                d
                for d in self.discussions.values()
                if (low is None or d.updated_at >= low)
                and (high is None or d.updated_at <= high)
                and (is_open is None or d.is_open == (is_open == "true"))
                and (request.arg("orderId") in (None, d.order_id))
                and (request.arg("salesChannel") in (None, d.sales_channel))
                and (request.arg("graduationCode") in (None, d.graduation))
                and (request.arg("processStatus") in (None, d.process_status))
            ]
            found.sort(key=lambda d: (d.updated_at, d.discussion_id))
            start = (page_index - 1) * page_size
            page = [self._summary(d) for d in found[start : start + page_size]]
            fault = self.page_fault(request)
            if fault == "duplicate_page" and start > 0:
                page = [self._summary(d) for d in found[max(0, start - 3) : start]] + page
            elif fault == "reorder_page":
                self.faults.random.shuffle(page)
        links: dict[str, Any] = {"self": {"href": self._href(request, page_index)}}
        if start + page_size < len(found):
            links["next"] = {"href": self._href(request, page_index + 1)}
        return Response(200, {"itemsPerPage": page_size, "items": page, "_links": links})

    def _href(self, request: Request, page_index: int) -> str:
        query = {k: v[-1] for k, v in request.query.items()}
        query["pageIndex"] = str(page_index)
        return f"{API}/discussions?{urlencode(query)}"

    def _int(self, request: Request, name: str, default: int) -> int:
        value = request.arg(name)
        if value is None:
            return default
        if not value.isdigit():
            raise ContractViolation(f"{name}={value!r} is not an integer")
        return int(value)

    def _date(self, request: Request, name: str) -> datetime | None:
        value = request.arg(name)
        return None if value is None else parse_date(name, value)

    def _summary(self, d: SimDiscussion) -> dict[str, Any]:
        return {
            "discussionId": d.discussion_id,
            "orderId": d.order_id,
            "salesChannel": d.sales_channel,
            "subject": d.subject,
            "typologyCode": d.typology_code,
            "subTypologyCode": d.sub_typology_code,
            "graduation": d.graduation,
            "claimType": d.claim_type or None,
            "isOpen": d.is_open,
            "processStatus": d.process_status,
            "createdAt": iso(d.created_at),
            "updatedAt": iso(d.updated_at),
            "customer": {
                "customerId": d.customer_id,
                "firstName": d.first_name,
                "lastName": d.last_name,
            },
        }

    def _message_json(self, m: SimMessage) -> dict[str, Any]:
        return {
            "messageId": m.message_id,
            "body": m.body,
            "sender": {"userType": m.sender_type, "userId": m.sender_id},
            "receivers": [{"userType": r} for r in m.receivers],
            "createdAt": iso(m.created_at),
            "hasRead": m.has_read,
            "attachments": [
                {
                    "attachmentId": a.attachment_id,
                    "fileName": a.file_name,
                    "contentType": a.content_type,
                    "size": len(a.data),
                }
                for a in m.attachments
            ],
        }

    def _get(self, request: Request) -> Response:
        self._only(request, set())
        with self.lock:
            d = self._discussion(request)
            body = {
                **self._summary(d),
                "messages": [self._message_json(m) for m in d.messages],
                "eligibleReceivers": ["Customer", "GrcOperator"]
                if d.graduation != "Discussion"
                else ["Customer"],
            }
        return Response(200, body)

    def _reply(self, request: Request) -> Response:
        self._only(request, set())
        parts = request.multipart()
        fields: dict[str, list[str]] = {}
        files = []
        for part in parts:
            if part.name == "attachments":
                if not part.filename:
                    raise ContractViolation("an attachments part needs a filename")
                files.append(part)
            elif part.name in ("body", "receivers"):
                fields.setdefault(part.name, []).append(part.data.decode("utf-8"))
            else:
                raise ContractViolation(f"unknown multipart field {part.name!r}")
        if len(fields.get("body", [])) != 1 or not fields["body"][0].strip():
            raise ContractViolation("exactly one non-empty body part is required")
        receivers = fields.get("receivers", [])
        if not receivers:
            raise ContractViolation("receivers is required (Customer, GrcOperator)")
        for receiver in receivers:
            if receiver not in ("Customer", "GrcOperator"):
                raise ContractViolation(f"receivers value {receiver!r} is not known")
        if len(files) > MAX_ATTACHMENTS:
            raise problem(400, "Bad Request", f"a message has at most {MAX_ATTACHMENTS} files")
        if sum(len(f.data) for f in files) > MAX_ATTACHMENTS_BYTES:
            raise problem(400, "Bad Request", "the attachments of a message exceed 4 MB")
        for f in files:
            if f.filename.rsplit(".", 1)[-1].lower() not in ACCEPTED_EXTENSIONS:
                raise problem(400, "Bad Request", f"file type of {f.filename!r} is not accepted")
        with self.lock:
            d = self._discussion(request)
            eligible = ["Customer", "GrcOperator"] if d.graduation != "Discussion" else ["Customer"]
            for receiver in receivers:
                if receiver not in eligible:
                    raise problem(400, "Bad Request", f"{receiver} may not receive this reply")
            if not d.is_open:
                raise problem(409, "Conflict", "the discussion is closed")
            message = self._add_message(
                d,
                "Seller",
                self.seller_id,
                fields["body"][0],
                receivers,
                [(f.filename, f.content_type, f.data) for f in files],
            )
            return Response(201, self._message_json(message))

    def _file(self, request: Request) -> Response:
        self._only(request, set())
        with self.lock:
            d = self._discussion(request)
            for m in d.messages:
                for a in m.attachments:
                    if a.attachment_id == request.params["aid"]:
                        return Response(200, a.data, content_type=a.content_type)
        raise problem(404, "Not Found", f"attachment {request.params['aid']} does not exist")

    def _open_new(self, request: Request) -> Response:
        self._only(request, set())
        body = request.json()
        if not isinstance(body, dict):
            raise ContractViolation("the body must be a JSON object")
        allowed = {"orderId", "subject", "subTypologyCode", "salesChannel", "message"}
        unknown = set(body) - allowed
        if unknown:
            raise ContractViolation(f"unknown fields {sorted(unknown)}")
        for name in ("orderId", "subTypologyCode", "message"):
            if not body.get(name):
                raise ContractViolation(f"{name} is required")
        message = body["message"]
        if not isinstance(message, dict) or set(message) - {"body", "receiver"}:
            raise ContractViolation("message takes body and receiver")
        if not message.get("body") or message.get("receiver") not in ("Customer", "GrcOperator"):
            raise ContractViolation("message.body and message.receiver are required")
        with self.lock:
            if body["orderId"] not in self.orders:
                raise problem(404, "Not Found", f"order {body['orderId']} does not exist")
            d = self._new_discussion(
                body["orderId"],
                subject=body.get("subject", ""),
                customer_id="",
                claim_type="",
                sub_typology_code=body["subTypologyCode"],
            )
            self._add_message(
                d, "Seller", self.seller_id, message["body"], [message["receiver"]], None
            )
            return Response(201, self._summary(d))

    def _close(self, request: Request) -> Response:
        return self._set_open(request, False)

    def _reopen(self, request: Request) -> Response:
        return self._set_open(request, True)

    def _set_open(self, request: Request, is_open: bool) -> Response:
        self._only(request, set())
        if request.body and json.loads(request.body or b"null") not in (None, {}):
            raise ContractViolation("close and open take no body")
        with self.lock:
            d = self._discussion(request)
            d.is_open = is_open
            d.updated_at = self.now()
            return Response(200, self._summary(d))

    def _order(self, request: Request) -> Response:
        self._only(request, set())
        with self.lock:
            order = self.orders.get(request.params["oid"])
            if order is None:
                raise problem(404, "Not Found", f"order {request.params['oid']} does not exist")
            total = sum(float(line["unitPrice"]) * line["quantity"] for line in order.lines)
            body = {
                "orderId": order.order_id,
                "status": order.status,
                "salesChannelId": "CDISFR",
                "createdAt": iso(order.created_at),
                "currency": order.currency,
                "totalPrice": round(total, 2),
                "maxShippingDate": iso(order.max_shipping_date)
                if order.max_shipping_date
                else None,
                "lines": [
                    {
                        "lineId": line["lineId"],
                        "offer": {
                            "sellerProductId": line["sellerProductId"],
                            "productTitle": line["productTitle"],
                        },
                        "quantity": line["quantity"],
                        "sellingPrice": float(line["unitPrice"]),
                    }
                    for line in order.lines
                ],
                "parcels": [
                    {
                        "parcelNumber": order.parcel_number,
                        "carrierName": order.carrier,
                        "trackingUrl": order.tracking_url,
                        "shippedAt": iso(order.shipped_at) if order.shipped_at else None,
                    }
                ]
                if order.parcel_number
                else [],
                "customer": {"customerId": order.customer_id},
            }
        return Response(200, body)


class _Demo:
    """A Cdiscount seller whose buyers write about their orders (for `comptoir demo`)."""

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = CdiscountSimulator(seed=seed)

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "seller_id": sim.seller_id,
            "base_url": f"{sim.url}{API}",
            "auth_url": sim.url,
        }

    def adopt(self, threads: list[Any]) -> None:
        sim = self.simulator
        for seeded in threads:
            if not seeded.order_id:
                continue  # Octopia's discussions are all about an order
            if seeded.order_id not in sim.orders:
                sim.add_order(seeded.order_id, customer_id=seeded.customer_id)
            discussion = SimDiscussion(
                discussion_id=seeded.thread_id,
                order_id=seeded.order_id,
                subject=seeded.subject or f"Commande {seeded.order_id}",
                customer_id=seeded.customer_id,
                first_name=seeded.first_name,
                last_name=seeded.last_name,
                created_at=seeded.messages[0].sent_at,
                updated_at=seeded.messages[-1].sent_at,
            )
            discussion.messages = [
                SimMessage(
                    message_id=m.external_id,
                    discussion_id=seeded.thread_id,
                    body=m.text,
                    sender_type="Seller" if m.outbound else "Customer",
                    sender_id=sim.seller_id if m.outbound else seeded.customer_id,
                    receivers=["Customer"] if m.outbound else ["Seller"],
                    created_at=m.sent_at,
                    has_read=True,
                )
                for m in seeded.messages
            ]
            sim.discussions[seeded.thread_id] = discussion

    def buyer_writes(self, written: Any) -> None:
        sim = self.simulator
        order_id = written.order_id.replace("-", "")
        if order_id not in sim.orders:
            sim.add_order(order_id, customer_id=written.customer_id)
        sim.buyer_writes(
            order_id=order_id,
            text=written.text,
            subject=written.subject,
            customer_id=written.customer_id,
            attachments=written.attachments,
        )


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
