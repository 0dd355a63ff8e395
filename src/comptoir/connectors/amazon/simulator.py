"""A local Amazon Selling Partner API, for tests and the demo.

Endpoints, as in Amazon's published models (`amazon/*.json` in the specs folder):
- Login with Amazon `POST /auth/o2/token` (grant_type=refresh_token): an access token that
  expires (`token_lifetime`, on the `http.monotonic` clock); SP-API calls carry it in
  `x-amz-access-token`. An expired one gets Amazon's 403 "The access token you provided has
  expired."; an unknown one a plain 403 "Access to requested resource is denied.".
- Orders v0: `GET /orders/v0/orders` (getOrders, NextToken; `AmazonOrderIds` narrows it to
  those orders, 50 at most, more is a 400 `InvalidInput`), `GET /orders/v0/orders/{orderId}`
  (getOrder), `GET /orders/v0/orders/{orderId}/orderItems` (getOrderItems, NextToken, with the
  page faults).
- Messaging v1: `GET /messaging/v1/orders/{amazonOrderId}` (the allowed message types under
  `_links.actions`) and `POST /messaging/v1/orders/{amazonOrderId}/messages/{type}`. A type the
  order does not allow is answered as Amazon does: 403 "Invalid amazonOrderId and template
  combination.".
- Uploads 2020-11-01: `POST /uploads/2020-11-01/uploadDestinations/{resource}` returns a
  destination whose `url` (here `PUT /_upload/{id}`, standing for Amazon's storage) takes the
  file; its MD5 must match `contentMD5`.

Each operation has Amazon's default usage plan (Messaging 1 request/s, burst 5; getOrder 0.5/s,
burst 30...), enforced as a token bucket: over it, a 429 `QuotaExceeded` with
`x-amzn-RateLimit-Limit`. Requests are checked against the models when they are present (query
parameters, body schemas), and by hand otherwise; a body field the operation does not define is
refused too (stricter than Amazon, which ignores it: a misspelt field must not pass unnoticed).

The base simulator's `expired_token` fault answers 401 (Amazon says 403 with "expired"): both
go through the connector's token refresh. Buyers do not write here: their messages reach the
seller by email (the email channel). What the seller sent is in `seller_messages()`;
`seed_orders()` fills the shop for the demo, the same for the same seed.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from comptoir.connectors.amazon import swagger
from comptoir.connectors.simulator import (
    ContractViolation,
    HttpError,
    Request,
    Response,
    Simulator,
)
from comptoir.lib import http

MESSAGING = "amazon/messaging.json"
ORDERS = "amazon/ordersV0.json"
# getOrders' AmazonOrderIds: maxItems in the Orders v0 model.
MAX_ORDER_IDS = 50
UPLOADS = "amazon/uploads_2020-11-01.json"

# Amazon's default usage plans (requests per second, burst), per operation.
USAGE_PLANS: dict[str, tuple[float, int]] = {
    "getOrders": (0.0167, 20),
    "getOrder": (0.5, 30),
    "getOrderItems": (0.5, 30),
    "getMessagingActionsForOrder": (1.0, 5),
    "createMessage": (1.0, 5),
    "createUploadDestinationForResource": (10.0, 10),
}

# What each message type's body may hold: text (max length) and attachments.
MESSAGE_BODIES: dict[str, dict[str, Any]] = {
    "confirmCustomizationDetails": {"text": 800, "attachments": True},
    "confirmDeliveryDetails": {"text": 2000},
    "legalDisclosure": {"attachments": True},
    "confirmOrderDetails": {"text": 2000},
    "confirmServiceDetails": {"text": 2000},
    "warranty": {"attachments": True, "coverageStartDate": True, "coverageEndDate": True},
    "digitalAccessKey": {"text": 400, "attachments": True},
    "unexpectedProblem": {"text": 2000},
    "invoice": {"attachments": True},
}

# What Amazon typically allows by order status (a test can set any list per order).
ALLOWED_BY_STATUS: dict[str, list[str]] = {
    "Pending": [],
    "Unshipped": [
        "confirmCustomizationDetails",
        "confirmOrderDetails",
        "unexpectedProblem",
        "legalDisclosure",
        "invoice",
    ],
    "PartiallyShipped": ["confirmDeliveryDetails", "unexpectedProblem", "invoice"],
    "Shipped": [
        "confirmDeliveryDetails",
        "unexpectedProblem",
        "legalDisclosure",
        "invoice",
        "warranty",
    ],
    "Canceled": [],
}

CATALOGUE = [
    ("LAMP-LAITON", "Lampe de chevet en laiton", "49.90"),
    ("SUSP-ROTIN", "Suspension en rotin 40 cm", "89.00"),
    ("APPL-OPALE", "Applique murale opaline", "64.50"),
    ("AMP-E27-FIL", "Ampoule filament E27 (lot de 2)", "12.90"),
    ("ABJ-LIN-30", "Abat-jour en lin 30 cm", "24.00"),
    ("LAMPD-NOIR", "Lampadaire liseuse noir", "129.00"),
]

EXPIRED = "The access token you provided has expired."
TEMPLATE_REFUSED = "Invalid amazonOrderId and template combination."
# The base simulator's `expired_token` fault answers this; it stands for an SP-API token.
_EXPIRED_FAULT_BODY = {"message": "token expired (simulated)"}


def amazon_errors(status: int, code: str, message: str, details: str = "") -> HttpError:
    return HttpError(status, {"errors": [{"code": code, "message": message, "details": details}]})


@dataclass
class SentMessage:
    order_id: str
    kind: str
    text: str
    attachments: list[tuple[str, bytes]]
    at: datetime


@dataclass
class _Upload:
    id: str
    resource: str
    content_md5: str
    content_type: str
    data: bytes | None = None


@dataclass
class _Bucket:
    rate: float
    burst: int
    tokens: float = -1.0
    at: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.at = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now
        # A hair of tolerance: the client's bucket computes the same refill with float error.
        if self.tokens < 1 - 1e-6:
            return False
        self.tokens = max(0.0, self.tokens - 1)
        return True


@dataclass
class _Order:
    payload: dict[str, Any]
    items: list[dict[str, Any]]
    allowed: list[str] | None = None  # None: by status


@dataclass
class _Token:
    expires_at: float
    expired: bool = False


class AmazonSimulator(Simulator):
    """Amazon SP-API (LWA, Orders v0, Messaging v1, Uploads 2020-11-01) on 127.0.0.1."""

    name = "amazon"

    def __init__(
        self,
        *,
        seed: int = 0,
        client_id: str = "amzn1.application-oa2-client.comptoir-sim",
        client_secret: str = "sim-client-secret",
        refresh_token: str = "Atzr|sim-refresh-token",
        marketplace_id: str = "A13V1IB3VIYZZH",
        seller_id: str = "A2SIMSELLER0001",
        token_lifetime: float = 3600.0,
        items_page_size: int = 2,
        orders_page_size: int = 2,
        enforce_rate_limits: bool = True,
    ) -> None:
        super().__init__(seed=seed)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.marketplace_id = marketplace_id
        self.seller_id = seller_id
        self.token_lifetime = token_lifetime
        self.items_page_size = items_page_size
        self.orders_page_size = orders_page_size
        self.enforce_rate_limits = enforce_rate_limits
        self.random = random.Random(seed)
        self.orders: dict[str, _Order] = {}
        self.sent: list[SentMessage] = []
        self.uploads: dict[str, _Upload] = {}
        self.tokens: dict[str, _Token] = {}
        self.tokens_issued = 0
        self.denied = False  # the seller removed the app's authorisation: every token is 403
        self.rate_limited: list[str] = []  # operations answered 429 by the usage plan
        # The demo's shop: every well-formed order id a buyer names exists (the buyers' mail
        # comes through the Amazon mailbox's own simulator, which makes up the order ids).
        self.every_order_exists = False
        self._buckets: dict[str, _Bucket] = {}
        self._token_ids = itertools.count(1)
        self.route("POST", r"/auth/o2/token", self._token)
        self.route("GET", r"/orders/v0/orders", self._get_orders)
        self.route("GET", r"/orders/v0/orders/(?P<orderId>[^/]+)", self._get_order)
        self.route("GET", r"/orders/v0/orders/(?P<orderId>[^/]+)/orderItems", self._get_items)
        self.route("GET", r"/messaging/v1/orders/(?P<orderId>[^/]+)", self._get_actions)
        self.route(
            "POST",
            r"/messaging/v1/orders/(?P<orderId>[^/]+)/messages/(?P<kind>[A-Za-z]+)",
            self._create_message,
        )
        self.route(
            "POST", r"/uploads/2020-11-01/uploadDestinations/(?P<resource>.+)", self._upload_dest
        )
        self.route("PUT", r"/_upload/(?P<id>[^/]+)", self._upload_put)

    # -- scripting ----------------------------------------------------------------------------

    def new_order_id(self) -> str:
        r = self.random
        return f"{r.randrange(100, 1000)}-{r.randrange(10**7):07d}-{r.randrange(10**7):07d}"

    def add_order(
        self,
        order_id: str | None = None,
        *,
        status: str = "Unshipped",
        items: list[tuple[str, str, int, str]] | None = None,
        currency: str = "EUR",
        purchased: datetime | None = None,
        allowed: list[str] | None = None,
        buyer_email: str = "",
        fulfillment: str = "MFN",
    ) -> str:
        """An order with `items` as (sku, title, quantity, line price); returns its id."""
        with self.lock:
            order_id = order_id or self.new_order_id()
            purchased = purchased or datetime.now(UTC) - timedelta(days=2)
            lines = items or [("SKU-1", "Lampe de chevet en laiton", 1, "49.90")]
            rows: list[dict[str, Any]] = []
            total = Decimal(0)
            shipped = 0
            for n, (sku, title, qty, price) in enumerate(lines, 1):
                total += Decimal(price)
                shipped += qty if status == "Shipped" else 0
                rows.append(
                    {
                        "ASIN": f"B0{self.random.randrange(10**8):08d}",
                        "SellerSKU": sku,
                        "OrderItemId": f"{order_id.replace('-', '')[:10]}{n:04d}",
                        "Title": title,
                        "QuantityOrdered": qty,
                        "QuantityShipped": qty if status == "Shipped" else 0,
                        "ItemPrice": {"CurrencyCode": currency, "Amount": price},
                    }
                )
            payload: dict[str, Any] = {
                "AmazonOrderId": order_id,
                "PurchaseDate": _iso(purchased),
                "LastUpdateDate": _iso(purchased + timedelta(hours=1)),
                "OrderStatus": status,
                "FulfillmentChannel": fulfillment,
                "SalesChannel": "Amazon.fr",
                "ShipServiceLevel": "Std FR Dom",
                "OrderTotal": {"CurrencyCode": currency, "Amount": f"{total:.2f}"},
                "NumberOfItemsShipped": shipped,
                "NumberOfItemsUnshipped": sum(line[2] for line in lines) - shipped,
                "MarketplaceId": self.marketplace_id,
                "OrderType": "StandardOrder",
                "EarliestShipDate": _iso(purchased + timedelta(days=1)),
                "LatestShipDate": _iso(purchased + timedelta(days=2)),
                "EarliestDeliveryDate": _iso(purchased + timedelta(days=3)),
                "LatestDeliveryDate": _iso(purchased + timedelta(days=5)),
                "IsBusinessOrder": False,
                "IsPrime": False,
                "IsReplacementOrder": False,
                "BuyerInfo": {"BuyerEmail": buyer_email or self._alias()},
            }
            self.orders[order_id] = _Order(payload, rows, allowed)
            return order_id

    def seed_orders(self, count: int, *, now: datetime | None = None) -> list[str]:
        """`count` orders of a lighting shop, the same for the same seed (for the demo)."""
        now = now or datetime.now(UTC)
        ids = []
        for n in range(count):
            lines = [
                (sku, title, qty, f"{Decimal(price) * qty:.2f}")
                for sku, title, price in self.random.sample(CATALOGUE, self.random.randint(1, 3))
                for qty in [self.random.randint(1, 2)]
            ]
            ids.append(
                self.add_order(
                    status=self.random.choice(["Unshipped", "Shipped", "Shipped", "Pending"]),
                    items=lines,
                    purchased=now - timedelta(hours=6 * (count - n)),
                )
            )
        return ids

    def _alias(self) -> str:
        return f"{self.random.getrandbits(64):016x}@marketplace.amazon.fr"

    def allowed_for(self, order_id: str) -> list[str]:
        order = self.orders[order_id]
        if order.allowed is not None:
            return list(order.allowed)
        return list(ALLOWED_BY_STATUS.get(order.payload["OrderStatus"], []))

    def seller_messages(self, order_id: str | None = None) -> list[SentMessage]:
        with self.lock:
            return [m for m in self.sent if order_id is None or m.order_id == order_id]

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now (as after an hour)."""
        with self.lock:
            for token in self.tokens.values():
                token.expired = True

    def revoke(self) -> None:
        """The seller removed the app: the refresh token is refused, access tokens are 403."""
        with self.lock:
            self.refresh_token = f"revoked-{uuid.uuid4().hex}"
            self.denied = True

    # -- plumbing -----------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response | None:
        response = super().dispatch(request)
        if (
            response is not None
            and response.status == 401
            and response.body == _EXPIRED_FAULT_BODY
            and not request.path.startswith(("/orders/", "/messaging/", "/uploads/"))
        ):
            # Only SP-API calls carry an access token that can expire: elsewhere (the login
            # service, the upload store) this fault stands for an outage before anything ran.
            return Response(503, {"message": "Service Unavailable (simulated)"})
        return response

    def authenticate(self, request: Request) -> None:
        if request.path.startswith(("/auth/", "/_upload/")):
            return
        value = request.headers.get("x-amz-access-token", "")
        if not value:
            raise amazon_errors(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The request has no x-amz-access-token header.",
            )
        with self.lock:
            token = self.tokens.get(value)
            expired = token is not None and (token.expired or token.expires_at <= http.monotonic())
            denied = self.denied
        if token is None or denied:
            raise amazon_errors(403, "Unauthorized", "Access to requested resource is denied.")
        if expired:
            raise amazon_errors(
                403, "Unauthorized", "Access to requested resource is denied.", EXPIRED
            )

    def _throttle(self, operation: str) -> None:
        rate, burst = USAGE_PLANS[operation]
        if not self.enforce_rate_limits:
            return
        with self.lock:
            bucket = self._buckets.setdefault(operation, _Bucket(rate, burst))
            allowed = bucket.take(http.monotonic())
            if not allowed:
                self.rate_limited.append(operation)
        if not allowed:
            raise HttpError(
                429,
                {
                    "errors": [
                        {
                            "code": "QuotaExceeded",
                            "message": "You exceeded your quota for the requested resource.",
                            "details": "",
                        }
                    ]
                },
                {"x-amzn-RateLimit-Limit": f"{rate:g}", "x-amzn-RequestId": str(uuid.uuid4())},
            )

    def _check(self, spec: str, request: Request, body: Any = None) -> None:
        model = swagger.load(spec)
        if model is None:
            return
        problems = model.check_request(request.method, request.path, request.query, body)
        if problems:
            raise ContractViolation("; ".join(problems))

    def _marketplace(self, request: Request, name: str) -> None:
        values = request.query.get(name) or []
        ids = [v for value in values for v in value.split(",") if v]
        if len(ids) != 1:
            raise ContractViolation(f"{name} must name exactly one marketplace, got {ids}")
        if ids[0] != self.marketplace_id:
            raise amazon_errors(
                400, "InvalidInput", f"Invalid marketplace id {ids[0]!r} for this seller."
            )

    def _order(self, order_id: str) -> _Order:
        order = self.orders.get(order_id)
        if order is None and self.every_order_exists and _ORDER_ID.fullmatch(order_id):
            self._invent_order(order_id)
            order = self.orders.get(order_id)
        if order is None:
            raise amazon_errors(404, "NotFound", "Order not found.", order_id)
        return order

    def _ok(self, body: Any, operation: str, status: int = 200) -> Response:
        rate = USAGE_PLANS[operation][0]
        return Response(
            status,
            body,
            {"x-amzn-RateLimit-Limit": f"{rate:g}", "x-amzn-RequestId": str(uuid.uuid4())},
        )

    # -- Login with Amazon --------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            raise ContractViolation("the token request must be form-encoded")
        form = {k: v[-1] for k, v in request.form().items()}
        unknown = set(form) - {"grant_type", "refresh_token", "client_id", "client_secret"}
        if unknown:
            raise ContractViolation(f"token request fields not in LWA: {sorted(unknown)}")
        if form.get("grant_type") != "refresh_token":
            raise HttpError(
                400,
                {"error": "unsupported_grant_type", "error_description": "grant_type invalid"},
            )
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            raise HttpError(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
            )
        with self.lock:
            if form.get("refresh_token") != self.refresh_token:
                raise HttpError(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "The request has an invalid grant parameter : "
                        "refresh_token",
                    },
                )
            value = f"Atza|sim-{next(self._token_ids)}-{uuid.uuid4().hex}"
            self.tokens[value] = _Token(http.monotonic() + self.token_lifetime)
            self.tokens_issued += 1
        return Response(
            200,
            {
                "access_token": value,
                "refresh_token": self.refresh_token,
                "token_type": "bearer",
                "expires_in": int(self.token_lifetime),
            },
        )

    # -- Orders v0 ----------------------------------------------------------------------------

    def _get_orders(self, request: Request) -> Response:
        self._check(ORDERS, request)
        self._throttle("getOrders")
        token = request.arg("NextToken")
        if token is None:
            self._marketplace(request, "MarketplaceIds")
            if not (request.arg("CreatedAfter") or request.arg("LastUpdatedAfter")):
                raise amazon_errors(
                    400, "InvalidInput", "Either CreatedAfter or LastUpdatedAfter is required."
                )
        after = request.arg("CreatedAfter") or "1970-01-01T00:00:00Z"
        ids = [i for v in request.query.get("AmazonOrderIds") or [] for i in v.split(",") if i]
        if len(ids) > MAX_ORDER_IDS:
            # The model's maxItems; Amazon answers it as invalid input.
            raise amazon_errors(
                400,
                "InvalidInput",
                f"AmazonOrderIds accepts at most {MAX_ORDER_IDS} values, got {len(ids)}.",
            )
        with self.lock:
            if ids and self.every_order_exists:
                for order_id in ids:
                    if order_id not in self.orders and _ORDER_ID.fullmatch(order_id):
                        self._invent_order(order_id)
            orders = sorted(
                (
                    o.payload
                    for o in self.orders.values()
                    if o.payload["PurchaseDate"] >= after
                    and (not ids or o.payload["AmazonOrderId"] in ids)
                ),
                key=lambda p: (p["PurchaseDate"], p["AmazonOrderId"]),
            )
        size = int(request.arg("MaxResultsPerPage") or self.orders_page_size)
        start = int(token.removeprefix("page-")) if token else 0
        page = orders[start : start + size]
        body: dict[str, Any] = {"Orders": page, "CreatedBefore": _iso(datetime.now(UTC))}
        if start + size < len(orders):
            body["NextToken"] = f"page-{start + size}"
        return self._ok({"payload": body}, "getOrders")

    def _get_order(self, request: Request) -> Response:
        self._check(ORDERS, request)
        self._throttle("getOrder")
        with self.lock:
            payload = dict(self._order(request.params["orderId"]).payload)
        return self._ok({"payload": payload}, "getOrder")

    def _get_items(self, request: Request) -> Response:
        self._check(ORDERS, request)
        self._throttle("getOrderItems")
        order_id = request.params["orderId"]
        with self.lock:
            items = [dict(i) for i in self._order(order_id).items]
        token = request.arg("NextToken")
        start = 0
        if token:
            match = re.fullmatch(r"items-(\d+)", token)
            if match is None:
                raise amazon_errors(400, "InvalidInput", "Invalid NextToken.")
            start = int(match.group(1))
        size = self.items_page_size
        page = items[start : start + size]
        fault = self.page_fault(request)
        if fault == "duplicate_page" and start:
            page = items[max(0, start - size) : start] + page
        elif fault == "reorder_page":
            page = self.random.sample(page, len(page))
        body: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": page}
        if start + size < len(items):
            body["NextToken"] = f"items-{start + size}"
        return self._ok({"payload": body}, "getOrderItems")

    # -- Messaging v1 -------------------------------------------------------------------------

    def _get_actions(self, request: Request) -> Response:
        self._check(MESSAGING, request)
        self._marketplace(request, "marketplaceIds")
        self._throttle("getMessagingActionsForOrder")
        order_id = request.params["orderId"]
        with self.lock:
            self._order(order_id)
            allowed = self.allowed_for(order_id)
        query = f"?marketplaceIds={self.marketplace_id}"
        base = f"/messaging/v1/orders/{order_id}"
        return self._ok(
            {
                "_links": {
                    "self": {"href": base + query},
                    "actions": [
                        {"href": f"{base}/messages/{kind}{query}", "name": kind} for kind in allowed
                    ],
                },
                "_embedded": {
                    "actions": [
                        {
                            "_links": {
                                "self": {"href": f"{base}/messages/{kind}{query}", "name": kind},
                                "schema": {
                                    "href": f"{base}/messages/{kind}/schema",
                                    "name": kind,
                                },
                            }
                        }
                        for kind in allowed
                    ]
                },
            },
            "getMessagingActionsForOrder",
        )

    def _create_message(self, request: Request) -> Response:
        kind = request.params["kind"]
        if kind not in MESSAGE_BODIES:
            raise amazon_errors(404, "NotFound", f"Unknown message type {kind!r}.")
        body = request.json()
        if not isinstance(body, dict):
            raise ContractViolation("the message body must be a JSON object")
        self._check(MESSAGING, request, body)
        unknown = set(body) - set(MESSAGE_BODIES[kind])
        if unknown:
            raise ContractViolation(f"body fields not defined for {kind}: {sorted(unknown)}")
        self._marketplace(request, "marketplaceIds")
        self._throttle("createMessage")
        order_id = request.params["orderId"]
        with self.lock:
            self._order(order_id)
            if kind not in self.allowed_for(order_id):
                raise amazon_errors(403, "Unauthorized", TEMPLATE_REFUSED)
            files: list[tuple[str, bytes]] = []
            for attachment in body.get("attachments") or []:
                upload = self.uploads.get(attachment.get("uploadDestinationId", ""))
                resource = f"messaging/v1/orders/{order_id}/messages/{kind}"
                if upload is None or upload.data is None or upload.resource != resource:
                    raise amazon_errors(
                        400,
                        "InvalidInput",
                        "Invalid uploadDestinationId.",
                        attachment.get("uploadDestinationId", ""),
                    )
                files.append((attachment["fileName"], upload.data))
            if (
                "text" in MESSAGE_BODIES[kind]
                and not MESSAGE_BODIES[kind].get("attachments")
                and not body.get("text")
            ):
                raise amazon_errors(400, "InvalidInput", "text is required.")
            if kind == "invoice" and not files:
                raise amazon_errors(400, "InvalidInput", "An invoice needs an attachment.")
            self.sent.append(
                SentMessage(order_id, kind, body.get("text", ""), files, datetime.now(UTC))
            )
        # Amazon answers 201 with an empty object: no message id, and no way to read it back.
        return self._ok({}, "createMessage", status=201)

    # -- Uploads 2020-11-01 -------------------------------------------------------------------

    def _upload_dest(self, request: Request) -> Response:
        self._check(UPLOADS, request)
        self._marketplace(request, "marketplaceIds")
        self._throttle("createUploadDestinationForResource")
        md5 = request.arg("contentMD5") or ""
        try:
            if len(base64.b64decode(md5, validate=True)) != 16:
                raise ValueError(md5)
        except ValueError:
            raise ContractViolation(f"contentMD5 {md5!r} is not a base64 MD5 digest") from None
        resource = request.params["resource"]
        if not re.fullmatch(r"messaging/v1/orders/[^/]+/messages/[A-Za-z]+", resource):
            raise amazon_errors(400, "InvalidInput", f"Unsupported resource {resource!r}.")
        upload = _Upload(
            id=str(uuid.UUID(int=self.random.getrandbits(128))),
            resource=resource,
            content_md5=md5,
            content_type=request.arg("contentType") or "",
        )
        with self.lock:
            self.uploads[upload.id] = upload
        headers = {"Content-MD5": md5}
        if upload.content_type:
            headers["Content-Type"] = upload.content_type
        return self._ok(
            {
                "payload": {
                    "uploadDestinationId": upload.id,
                    "url": f"{self.url}/_upload/{upload.id}",
                    "headers": headers,
                }
            },
            "createUploadDestinationForResource",
            status=201,
        )

    def _upload_put(self, request: Request) -> Response:
        if "x-amz-access-token" in request.headers:
            raise ContractViolation("the SP-API access token must not go to the upload store")
        with self.lock:
            upload = self.uploads.get(request.params["id"])
        if upload is None:
            raise HttpError(404, b"<Error><Code>NoSuchUpload</Code></Error>")
        digest = base64.b64encode(hashlib.md5(request.body).digest()).decode()
        if digest != upload.content_md5 or request.headers.get("content-md5") != digest:
            raise HttpError(400, b"<Error><Code>BadDigest</Code></Error>")
        with self.lock:
            upload.data = request.body
        return Response(200, b"", content_type="application/xml")

    def _invent_order(self, order_id: str) -> None:
        """The order `order_id` as the shop sold it, the same every time it is asked for."""
        rng = random.Random(order_id)
        picked = rng.sample(CATALOGUE, rng.randint(1, 2))
        self.add_order(
            order_id,
            status=rng.choice(["Shipped", "Shipped", "Shipped", "Unshipped"]),
            items=[(sku, title, 1, price) for sku, title, price in picked],
            purchased=datetime.now(UTC) - timedelta(days=rng.randint(2, 12), hours=rng.random()),
        )


_ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")


class _Demo:
    """The shop's Amazon SP-API authorisation (for `comptoir demo`): it reads the orders named
    in the Amazon mailbox's buyer mail and sends proactive messages. Buyers do not write
    through it (Amazon relays their mail to the mailbox)."""

    buyers_write = False

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = AmazonSimulator(seed=seed, enforce_rate_limits=False)
        self.simulator.every_order_exists = True

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "refresh_token": sim.refresh_token,
            "seller_id": sim.seller_id,
            "marketplace_id": sim.marketplace_id,
            "shop_name": "Maison Lumière",
            "endpoint": sim.url,
            "token_url": f"{sim.url}/auth/o2/token",
        }

    def adopt(self, threads: list[Any]) -> None:
        """Nothing to know: the mailbox holds the conversations, and every order exists."""

    def buyer_writes(self, written: Any) -> None:
        raise NotImplementedError("Amazon buyers write through the Amazon mailbox")


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
