"""The demo's world: its shops, channels, accounts, and the shares and rhythms of its story."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from comptoir.accounts.models import Role
from comptoir.inbox.models import EventKind

DEMO_PASSWORD = "comptoir-demo"

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class ShopSpec:
    slug: str
    name: str


@dataclass(frozen=True)
class ChannelSpec:
    key: str
    shop: str
    kind: str
    marketplace: str
    name: str
    team: str
    weight: int
    languages: tuple[tuple[str, int], ...]
    identity_kind: str

    @property
    def is_email(self) -> bool:
        return self.kind == "email"


@dataclass(frozen=True)
class UserSpec:
    username: str
    first_name: str
    last_name: str
    role: str
    teams: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    is_staff: bool = False
    is_superuser: bool = False


SHOPS = (ShopSpec("maison-lumiere", "Maison Lumière"), ShopSpec("technoplus", "TechnoPlus"))
TEAMS = ("Marketplaces", "Own shop")

_FR = (("fr", 1),)
AMAZON_API = "amazon-api"  # the SP-API channel: orders, no conversations of its own
SPARTOO_API = "spartoo-api"  # Spartoo's web services: orders and returns, beside its mailbox
CHANNELS = (
    ChannelSpec(
        "amazon", "maison-lumiere", "email", "amazon", "Amazon FR mailbox", "Marketplaces", 35,
        (("fr", 55), ("de", 15), ("es", 10), ("it", 10), ("en", 10)), "email",
    ),
    ChannelSpec(
        "cdiscount", "maison-lumiere", "cdiscount", "cdiscount", "Cdiscount", "Marketplaces", 15,
        _FR, "cdiscount_customer",
    ),
    ChannelSpec(
        "shop", "maison-lumiere", "email", "shop", "Maison Lumière shop mailbox", "Own shop", 15,
        (("fr", 80), ("en", 8), ("de", 4), ("es", 4), ("it", 4)), "email",
    ),
    ChannelSpec(
        "fnac", "technoplus", "fnac", "fnac", "Fnac", "Marketplaces", 10, _FR, "fnac_customer",
    ),
    ChannelSpec(
        "darty", "technoplus", "mirakl", "darty", "Darty via Mirakl", "Marketplaces", 10, _FR,
        "mirakl_customer",
    ),
    ChannelSpec(
        "ebay", "technoplus", "ebay", "ebay", "eBay", "Marketplaces", 15,
        (("fr", 50), ("en", 20), ("de", 15), ("es", 8), ("it", 7)), "ebay_user",
    ),
    ChannelSpec(
        "rakuten", "technoplus", "rakuten", "rakuten", "Rakuten France", "Marketplaces", 5, _FR,
        "rakuten_user",
    ),
    # Spartoo's buyers write through Spartoo, which mails the shop: a mailbox, as for Amazon.
    ChannelSpec(
        "spartoo", "maison-lumiere", "email", "spartoo", "Spartoo mailbox", "Marketplaces", 4,
        _FR, "email",
    ),
)  # fmt: skip

# Meta's channels: no invented history (their buyers write live, through the simulator's
# webhooks, once `comptoir demo --serve` runs), so the seeded year stays as it was.
META_CHANNELS = (("messenger", "Messenger"), ("instagram", "Instagram"), ("whatsapp", "WhatsApp"))

USERS = (
    UserSpec("supervisor", "Claire", "Martin", Role.SUPERVISOR, TEAMS, is_staff=True),
    UserSpec("agent1", "Julien", "Moreau", Role.AGENT, ("Marketplaces",), ("fr", "en", "de")),
    UserSpec("agent2", "Camille", "Dubois", Role.AGENT, TEAMS, ("fr", "en")),
    UserSpec("agent3", "Sofia", "Rossi", Role.AGENT, ("Marketplaces",), ("fr", "it", "es", "en")),
    UserSpec("agent4", "Lena", "Schmidt", Role.AGENT, ("Own shop",), ("fr", "de", "en")),
    UserSpec("analyst", "Hugo", "Bernard", Role.ANALYST),
    UserSpec("admin", "Alex", "Admin", Role.OWNER, is_staff=True, is_superuser=True),
)

# How long each agent takes to answer, against the team's usual pace (the year's history):
# Julien is quick, Lena takes her time; an unassigned conversation waits at the usual pace.
AGENT_PACE: dict[str, float] = {"agent1": 0.6, "agent2": 1.0, "agent3": 1.3, "agent4": 1.8}

# What each marketplace's buyers write about more (or less) than the demo's usual mix, in the
# year's history: Amazon's mailbox gets the parcels that never came, the own shop the invoices
# and the questions before buying, Cdiscount and Rakuten the "where is it".
HISTORY_INTENTS: dict[str, dict[str, float]] = {
    "amazon": {"not_received": 1.6, "refund": 1.3, "product_question": 0.5},
    "cdiscount": {"where_is_order": 1.5, "cancellation": 1.4},
    "shop": {"invoice": 2.0, "product_question": 2.0, "not_received": 0.6},
    "fnac": {"damaged": 1.5, "wrong_item": 1.4},
    "darty": {"damaged": 1.8, "return": 1.3},
    "ebay": {"product_question": 1.6, "return": 1.3},
    "rakuten": {"where_is_order": 1.6, "refund": 1.3},
    "spartoo": {"return": 1.8, "wrong_item": 1.3},
}

# Final state of a conversation → share of the demo (resolved 55 %, open and owed a reply 25 %...).
# The live weeks' conversations still open now (all but "resolved") are about this many days'
# worth of conversations, in these proportions: a desk's steady state, the backlog the year's
# history shows each evening too (`planner.live_outcomes`).
OPEN_DAYS = 2.5
OUTCOMES: dict[str, int] = {
    "resolved": 55,
    "needs_reply": 25,
    "pending": 10,
    "snoozed": 3,
    "open_replied": 7,
}

# Timeline of each action inside an agent's step, relative to the reply.
EVENT_OFFSETS: dict[str, timedelta] = {
    EventKind.ASSIGNED: -4 * MINUTE,
    EventKind.PRIORITY_CHANGED: -3 * MINUTE,
    EventKind.TAGGED: -2 * MINUTE,
    EventKind.NOTE_ADDED: -MINUTE,
    EventKind.REPLIED: timedelta(0),
    EventKind.DELIVERED: timedelta(seconds=20),
    EventKind.STATUS_CHANGED: timedelta(seconds=30),
    EventKind.SNOOZED: timedelta(seconds=30),
}

# Hours (local) when buyers write, 7h..23h: a morning peak and an evening one.
BUYER_HOURS = tuple(range(7, 24))
BUYER_HOUR_WEIGHTS = (1, 3, 5, 6, 6, 5, 5, 5, 4, 4, 4, 5, 6, 6, 5, 3, 2)
