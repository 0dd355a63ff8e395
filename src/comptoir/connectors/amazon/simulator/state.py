"""Amazon's side of the SP-API simulator: the shop's orders, the messages the seller sent, the
access tokens and the usage plans, the scripting calls tests and the demo use, and what every
SP-API call shares (the model check, the marketplace id, throttling, the answer's headers).
"""

from __future__ import annotations

import itertools
import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from comptoir.connectors.amazon import swagger
from comptoir.connectors.simulator import ContractViolation, HttpError, Request, Response, Simulator
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
EXPIRED_FAULT_BODY = {"message": "token expired (simulated)"}


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
class SimUpload:
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
class SimOrder:
    payload: dict[str, Any]
    items: list[dict[str, Any]]
    allowed: list[str] | None = None  # None: by status


@dataclass
class SimToken:
    expires_at: float
    expired: bool = False


ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AmazonMarketplace(Simulator):
    """The shop's side and what every SP-API call shares; `_register_routes` (the subclass's)
    serves it."""

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
        self.orders: dict[str, SimOrder] = {}
        self.sent: list[SentMessage] = []
        self.uploads: dict[str, SimUpload] = {}
        self.tokens: dict[str, SimToken] = {}
        self.tokens_issued = 0
        self.denied = False  # the seller removed the app's authorisation: every token is 403
        self.rate_limited: list[str] = []  # operations answered 429 by the usage plan
        # The demo's shop: every well-formed order id a buyer names exists (the buyers' mail
        # comes through the Amazon mailbox's own simulator, which makes up the order ids).
        self.every_order_exists = False
        self._buckets: dict[str, _Bucket] = {}
        self._token_ids = itertools.count(1)
        self._register_routes()

    def _register_routes(self) -> None:
        """Serve the SP-API: the simulator class registers its routes here, once the state they
        read exists."""

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
                "PurchaseDate": iso(purchased),
                "LastUpdateDate": iso(purchased + timedelta(hours=1)),
                "OrderStatus": status,
                "FulfillmentChannel": fulfillment,
                "SalesChannel": "Amazon.fr",
                "ShipServiceLevel": "Std FR Dom",
                "OrderTotal": {"CurrencyCode": currency, "Amount": f"{total:.2f}"},
                "NumberOfItemsShipped": shipped,
                "NumberOfItemsUnshipped": sum(line[2] for line in lines) - shipped,
                "MarketplaceId": self.marketplace_id,
                "OrderType": "StandardOrder",
                "EarliestShipDate": iso(purchased + timedelta(days=1)),
                "LatestShipDate": iso(purchased + timedelta(days=2)),
                "EarliestDeliveryDate": iso(purchased + timedelta(days=3)),
                "LatestDeliveryDate": iso(purchased + timedelta(days=5)),
                "IsBusinessOrder": False,
                "IsPrime": False,
                "IsReplacementOrder": False,
                "BuyerInfo": {"BuyerEmail": buyer_email or self._alias()},
            }
            self.orders[order_id] = SimOrder(payload, rows, allowed)
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

    # -- what every SP-API call shares --------------------------------------------------------

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

    def _order(self, order_id: str) -> SimOrder:
        order = self.orders.get(order_id)
        if order is None and self.every_order_exists and ORDER_ID.fullmatch(order_id):
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
