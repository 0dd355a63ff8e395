"""The demo as data, before any database: what each conversation holds, and the ids and random
draws the planner makes them from."""

from __future__ import annotations

import random
import string
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from comptoir.demo.world import CHANNELS, EVENT_OFFSETS, ChannelSpec
from comptoir.inbox.models import EventKind


@dataclass
class Buyer:
    first: str
    name: str
    email: str
    identity_kind: str
    identity_value: str
    repeat: bool = False


@dataclass
class OrderPlan:
    external_id: str
    status: str
    items: list[dict[str, object]]
    total: Decimal
    ordered_at: datetime
    ship_by: datetime
    shipped_at: datetime | None = None
    expected_delivery_at: datetime | None = None
    delivered_at: datetime | None = None
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""


@dataclass
class BuyerMessage:
    at: datetime
    subject: str
    text: str
    external_id: str
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)


@dataclass
class AgentStep:
    at: datetime
    actor: str
    assign_to: str = ""
    assign_by: str = ""
    tags: list[str] = field(default_factory=list)
    priority: int | None = None
    note: str = ""
    reply: str = ""
    delivery_id: str = ""
    status: str = ""
    snooze_until: datetime | None = None


@dataclass
class ConversationPlan:
    index: int
    channel: ChannelSpec
    language: str
    intent: str
    outcome: str
    buyer: Buyer
    thread_id: str
    order: OrderPlan | None
    exchanges: list[tuple[BuyerMessage, AgentStep | None]]

    @property
    def last_activity(self) -> datetime:
        buyer, step = self.exchanges[-1]
        return step.at + EVENT_OFFSETS[EventKind.STATUS_CHANGED] if step else buyer.at


# -- draws -------------------------------------------------------------------------------------


def weighted[T](rng: random.Random, items: Sequence[tuple[T, int]]) -> T:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def ascii_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def random_uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


class Ids:
    """The marketplaces' ids (threads, messages, orders), each as that marketplace writes them,
    and never the same twice (`used` also holds the buyers' identities)."""

    def __init__(self, rng: random.Random, tz: ZoneInfo) -> None:
        self.rng = rng
        self.tz = tz
        self.used: set[str] = set()
        self.seq: dict[str, int] = {spec.key: rng.randrange(10**7, 9 * 10**7) for spec in CHANNELS}
        self.shop_orders = rng.randrange(100_000, 200_000)

    def order_number(self, spec: ChannelSpec, ordered: datetime) -> str:
        rng = self.rng
        while True:
            if spec.key == "amazon":  # 3-7-7 digits, as Amazon prints them
                prefix = rng.choice(("171", "402", "403", "404", "405", "406", "407", "408"))
                number = f"{prefix}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
            elif spec.key == "cdiscount":  # date and time of the order, then 5 letters
                stamp = ordered.astimezone(self.tz).strftime("%y%m%d%H%M")
                number = stamp + "".join(rng.choices(string.ascii_uppercase, k=5))
            elif spec.key == "fnac":
                number = "".join(rng.choices(string.ascii_uppercase + string.digits, k=13))
            elif spec.key == "darty":  # Mirakl: commercial id and a suffix per shop
                number = f"{rng.randrange(10**7, 10**8)}-A"
            elif spec.key == "ebay":
                number = f"{rng.randrange(10, 100)}-{rng.randrange(10**4, 10**5)}-"
                number += f"{rng.randrange(10**4, 10**5)}"
            elif spec.key == "rakuten":  # purchase ids are 9-10 digit numbers
                number = str(rng.randrange(10**9, 10**10))
            elif spec.key == "spartoo":  # guessed: 8-digit order ids
                number = str(rng.randrange(10**7, 10**8))
            else:
                self.shop_orders += rng.randint(1, 9)
                number = f"ML-{self.shop_orders}"
            if number not in self.used:
                self.used.add(number)
                return number

    def thread_id(self, spec: ChannelSpec) -> str:
        if spec.key in ("fnac", "darty"):  # Mirakl-style APIs use UUIDs for threads
            return str(random_uuid(self.rng))
        return str(self.rng.randrange(10**9, 10**10))

    def external_id(self, spec: ChannelSpec) -> str:
        if spec.key in ("fnac", "darty"):
            return str(random_uuid(self.rng))
        self.seq[spec.key] += self.rng.randint(1, 40)
        return str(self.seq[spec.key])

    def message_id(self, spec: ChannelSpec, buyer: Buyer | None) -> str:
        token = random_uuid(self.rng).hex
        if buyer is None:
            domain = "mail.maison-lumiere.example"
        elif spec.key == "amazon":
            domain = "eu-west-1.amazonses.example"
        else:
            domain = f"mail.{buyer.email.rsplit('@', 1)[-1]}"
        return f"<{token}@{domain}>"
