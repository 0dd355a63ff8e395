"""Fnac's side of the simulator: the shop's messages, orders, claims (incidents) and tokens,
and the scripting calls tests and the demo use (a buyer writes, a claim opens or closes).
"""

from __future__ import annotations

import random
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from comptoir.connectors.simulator import Simulator

PREFIX = "/api.php"
TOKEN_ERROR = "ERR_TOKEN"  # the code this simulator gives token errors
XML = "text/xml; charset=utf-8"


@dataclass
class SimFile:
    file_id: str
    name: str
    content_type: str
    data: bytes


@dataclass
class SimMessage:
    message_id: str
    referer_type: str  # ORDER or OFFER
    referer: str  # the order id or the offer id
    from_type: str  # CLIENT, SELLER, CALLCENTER
    from_name: str
    subject: str
    description: str
    created_at: datetime
    updated_at: datetime
    state: str = "UNREAD"
    archived: bool = False
    files: list[SimFile] = field(default_factory=list)
    to: str = ""  # for the seller's messages: CLIENT, CALLCENTER or ALL
    offer_title: str = ""


@dataclass
class SimOrderLine:
    detail_id: int
    product_name: str
    offer_seller_id: str
    price: Decimal
    quantity: int = 1
    shipping_price: Decimal = Decimal("3.99")
    tracking_number: str = ""


@dataclass
class SimOrder:
    order_id: str
    client_id: str
    firstname: str
    lastname: str
    email: str
    state: str
    created_at: datetime
    lines: list[SimOrderLine] = field(default_factory=list)


@dataclass
class SimIncident:
    incident_id: str
    order_id: str
    claim_type: int
    message: str
    opened_by: str
    created_at: datetime
    updated_at: datetime
    status: str = "OPENED"
    waiting: bool = True
    closed_status: int | None = None
    # When the seller refunded it (incidents_update, `incidents_update.py`), and how much.
    refunded_at: datetime | None = None
    refunded_amount: str = ""


BUYER_TEXTS = (
    "Bonjour, ma commande n'est toujours pas arrivée, pouvez-vous me donner le suivi ?",
    "Le produit reçu ne correspond pas à la description, comment faire un retour ?",
    "Bonjour, est-il possible d'avoir une facture au nom de ma société ?",
    "Le colis est arrivé abîmé, je vous joins une photo.",
    "Pouvez-vous me confirmer la date d'expédition ?",
)
FIRST_NAMES = ("Jeanne", "Louis", "Camille", "Hugo", "Léa", "Arthur", "Chloé", "Jules")
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand")
PRODUCTS = ("Casque audio", "Liseuse 6 pouces", "Enceinte Bluetooth", "Roman poche", "Vinyle")


def utc_now() -> datetime:
    return datetime.now(UTC)


class FnacMarketplace(Simulator):
    """Fnac's state and scripting; `_register_routes` (the subclass's) serves it."""

    name = "fnac"

    def __init__(
        self,
        *,
        seed: int = 0,
        partner_id: str | None = None,
        shop_id: str | None = None,
        key: str = "fnac-secret-key",
        token_ttl: timedelta = timedelta(hours=1),
    ) -> None:
        super().__init__(seed=seed)
        self.random = random.Random(seed)
        self.partner_id = partner_id or self.new_id()
        self.shop_id = shop_id or self.new_id()
        self.key = key
        self.token_ttl = token_ttl
        self.tokens: dict[str, datetime] = {}
        self.messages: list[SimMessage] = []
        self.orders: dict[str, SimOrder] = {}
        self.incidents: list[SimIncident] = []
        self.incident_refunds: list[str] = []  # incidents the seller refunded, in order
        self.files: dict[str, SimFile] = {}
        self.answer_problems: list[str] = []
        # The latest valid requests, for tests to inspect (bounded: a demo runs for hours).
        self.received: deque[ET.Element] = deque(maxlen=10_000)
        # Checking big answers against the XSD costs far more than making them: a long run
        # may check one answer in N (requests are always all checked).
        self.check_answers_every = 1
        self._answers = 0
        self.refuse_tokens = False  # every token is refused, even a fresh one
        # Messages are this far apart, from 20 days back: date filters see distinct times.
        self.step = timedelta(minutes=10)
        self._clock = utc_now() - timedelta(days=20)
        self._shuffle = random.Random(seed + 1)  # page faults must not shift the ids drawn
        self._register_routes()

    def _register_routes(self) -> None:
        """Serve Fnac's services: the simulator class registers its routes here, once the state
        they read exists."""

    # -- scripting ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def now(self) -> datetime:
        """Distinct, increasing times in the past: messages sort the same every run."""
        with self.lock:
            step = self._clock + self.step
            self._clock = max(self._clock + timedelta(milliseconds=1), min(step, utc_now()))
            return self._clock

    def catch_up(self) -> None:
        """What buyers write from now on is dated now (the backlog stays in the past)."""
        with self.lock:
            self._clock = max(self._clock, utc_now() - timedelta(seconds=1))

    def add_order(
        self,
        *,
        order_id: str | None = None,
        state: str = "Shipped",
        firstname: str | None = None,
        lastname: str | None = None,
        lines: int = 1,
    ) -> str:
        with self.lock:
            order_id = order_id or "".join(
                self.random.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(13)
            )
            first = firstname or self.random.choice(FIRST_NAMES)
            last = lastname or self.random.choice(LAST_NAMES)
            order = SimOrder(
                order_id=order_id,
                client_id=self.new_id(),
                firstname=first,
                lastname=last,
                email=f"{first.lower()}.{last.lower()}@client.example",
                state=state,
                created_at=self.now() - timedelta(days=3),
            )
            for n in range(lines):
                order.lines.append(
                    SimOrderLine(
                        detail_id=n + 1,
                        product_name=self.random.choice(PRODUCTS),
                        offer_seller_id=f"SKU-{self.random.randint(1000, 9999)}",
                        price=Decimal(self.random.randint(500, 9900)) / 100,
                        tracking_number=f"6A{self.random.randint(10**9, 10**10 - 1)}"
                        if state in ("Shipped", "Received", "NotReceived")
                        else "",
                    )
                )
            self.orders[order_id] = order
            return order_id

    def buyer_writes(
        self,
        *,
        order_id: str | None = None,
        offer_id: str | None = None,
        text: str = "Bonjour, où en est ma commande ?",
        subject: str = "order_information",
        attachments: list[tuple[str, str, bytes]] | None = None,
        from_type: str = "CLIENT",
    ) -> str:
        """A buyer message on an order (created when not given) or on an offer; its id."""
        with self.lock:
            if offer_id is None and (order_id is None or order_id not in self.orders):
                order_id = self.add_order(order_id=order_id)
            when = self.now()
            if offer_id is not None:
                kind, referer, name = "OFFER", offer_id, "Visiteur"
            else:
                assert order_id is not None
                order = self.orders[order_id]
                kind, referer, name = "ORDER", order_id, f"{order.firstname} {order.lastname[0]}."
            files = []
            for filename, ctype, data in attachments or []:
                file = SimFile(self.new_id(), filename, ctype, data)
                self.files[file.file_id] = file
                files.append(file)
            message = SimMessage(
                message_id=self.new_id(),
                referer_type=kind,
                referer=referer,
                from_type=from_type,
                from_name=name if from_type == "CLIENT" else "Service client Fnac",
                subject=subject,
                description=text,
                created_at=when,
                updated_at=when,
                files=files,
                offer_title="Casque audio" if kind == "OFFER" else "",
            )
            self.messages.append(message)
            return message.message_id

    def populate(self, *, orders: int = 10, claims: int = 2) -> list[str]:
        """A plausible backlog for a demo: buyers writing on orders, a few claims; the ids of
        the messages."""
        ids = []
        for n in range(orders):
            order_id = self.add_order()
            ids.append(self.buyer_writes(order_id=order_id, text=BUYER_TEXTS[n % len(BUYER_TEXTS)]))
            if n < claims:
                self.open_incident(order_id, claim_type=1 if n % 2 == 0 else 13)
        return ids

    def open_incident(
        self,
        order_id: str,
        *,
        claim_type: int = 1,
        message: str = "Je n'ai pas reçu mon colis.",
        opened_by: str = "client",
    ) -> str:
        with self.lock:
            if order_id not in self.orders:
                self.add_order(order_id=order_id)
            when = self.now()
            incident = SimIncident(
                self.new_id(), order_id, claim_type, message, opened_by, when, when
            )
            self.incidents.append(incident)
            return incident.incident_id

    def close_incident(self, incident_id: str, *, closed_status: int = 1) -> None:
        with self.lock:
            for incident in self.incidents:
                if incident.incident_id == incident_id:
                    incident.status, incident.waiting = "CLOSED", False
                    incident.closed_status = closed_status
                    incident.updated_at = self.now()

    def seller_messages(self) -> list[SimMessage]:
        with self.lock:
            return [m for m in self.messages if m.from_type == "SELLER"]

    def message(self, message_id: str) -> SimMessage | None:
        with self.lock:
            return next((m for m in self.messages if m.message_id == message_id), None)

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()
