"""Octopia's side of the Cdiscount simulator: its discussions, orders and tokens, the scripting
calls tests and the demo use (a buyer writes, customer care steps in, an order is placed), and
the request checks every call shares.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from comptoir.connectors.simulator import ContractViolation, HttpError, Request, Simulator

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


class CdiscountMarketplace(Simulator):
    """Octopia's state and scripting; `_register_routes` (the subclass's) serves it."""

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
        # Discussions the seller closed (an open one closed: what tests count).
        self.closed_by_seller: list[str] = []
        self.orders: dict[str, SimOrder] = {}
        self.tokens: dict[str, float] = {}  # token -> monotonic expiry
        self.tokens_issued = 0
        self.disabled = False  # the client was revoked: tokens are refused (403)
        self._ids = itertools.count(1)
        self._last_time = datetime(1970, 1, 1, tzinfo=UTC)
        self._time_lock = threading.Lock()
        self._register_routes()

    def _register_routes(self) -> None:
        """Serve the Octopia API: the simulator class registers its routes here, once the state
        they read exists."""

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

    # -- request checks shared by the calls ---------------------------------------------------

    def _only(self, request: Request, allowed: frozenset[str] | set[str]) -> None:
        unknown = set(request.query) - set(allowed)
        if unknown:
            raise ContractViolation(
                f"{request.method} {request.path}: unknown query parameters {sorted(unknown)}"
            )

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
