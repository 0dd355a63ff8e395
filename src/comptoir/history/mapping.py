"""From a row of another tool's export to an `InboundMessage`: fields, presets, values."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from comptoir.connectors.base import InboundMessage, Party

# What a row may say; `conversation`, `timestamp` and `text` are required.
FIELDS = (
    "conversation",
    "channel",
    "direction",
    "author_name",
    "author_email",
    "timestamp",
    "text",
    "subject",
    "status",
    "message_id",
    "public",
    "private",
)
REQUIRED = ("conversation", "timestamp", "text")

IN_WORDS = frozenset(
    [
        "in",
        "inbound",
        "incoming",
        "customer",
        "end-user",
        "end_user",
        "enduser",
        "requester",
        "buyer",
        "contact",
        "client",
        "received",
        "user",
    ]
)
OUT_WORDS = frozenset(
    [
        "out",
        "outbound",
        "outgoing",
        "agent",
        "admin",
        "staff",
        "seller",
        "support",
        "sent",
        "operator",
        "helpdesk",
    ]
)
TRUE_WORDS = frozenset(["true", "1", "yes", "y", "t"])

# Each field maps to the columns that may hold it, first present wins (an export's CSV and
# JSON name some of them differently; JSON columns are dotted paths into nested objects).
PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "zendesk": {
        "conversation": ("ticket_id", "Ticket ID", "ticket.id"),
        "channel": ("via.channel", "via_channel", "Via"),
        "direction": ("author.role", "author_role", "Author role"),
        "author_name": ("author.name", "author_name", "Author"),
        "author_email": ("author.email", "author_email", "Author email"),
        "timestamp": ("created_at", "Created at"),
        "text": ("plain_body", "body", "Comment"),
        "subject": ("ticket.subject", "subject", "Subject"),
        "status": ("ticket.status", "status", "Status"),
        "message_id": ("id",),
        "public": ("public", "Public"),
    },
    "freshdesk": {
        "conversation": ("ticket_id", "Ticket ID"),
        "channel": ("source_name", "Source"),
        "direction": ("incoming", "Incoming"),
        "author_name": ("user_name", "Agent", "Full name"),
        "author_email": ("from_email", "Email"),
        "timestamp": ("created_at", "Created time"),
        "text": ("body_text", "Description"),
        "subject": ("subject", "Subject"),
        "status": ("status", "Status"),
        "message_id": ("id",),
        "private": ("private", "Private"),
    },
    "gorgias": {
        "conversation": ("ticket_id", "Ticket ID"),
        "channel": ("channel", "Channel"),
        "direction": ("from_agent", "From agent"),
        "author_name": ("sender.name", "sender_name", "Sender name"),
        "author_email": ("sender.email", "sender_email", "Sender email"),
        "timestamp": ("created_datetime", "sent_datetime", "Created date"),
        "text": ("body_text", "Body text"),
        "subject": ("subject", "Subject"),
        "status": ("ticket.status", "status", "Status"),
        "message_id": ("message_id", "id"),
        "public": ("public", "Public"),
    },
}
# How a preset's direction column reads: Freshdesk says whether a note is `incoming`,
# Gorgias whether it is `from_agent` (the opposite), Zendesk gives the author's role.
PRESET_DIRECTIONS: dict[str, dict[str, str]] = {
    "freshdesk": {"true": "in", "false": "out"},
    "gorgias": {"true": "out", "false": "in"},
}

# A source's channel value ("email", "amazon", "chat"...) to our marketplace choices.
MARKETPLACES = {
    "amazon": "amazon",
    "ebay": "ebay",
    "cdiscount": "cdiscount",
    "octopia": "cdiscount",
    "fnac": "fnac",
    "rakuten": "rakuten",
    "darty": "darty",
    "boulanger": "boulanger",
    "conforama": "conforama",
    "leroymerlin": "leroymerlin",
    "leroy merlin": "leroymerlin",
    "carrefour": "carrefour",
}
OWN_SHOP_CHANNELS = frozenset(
    [
        "email",
        "mail",
        "web",
        "form",
        "contact_form",
        "chat",
        "chat_widget",
        "api",
        "phone",
        "voice",
        "sms",
        "helpcenter",
        "help_center",
        "portal",
        "shopify",
        "widget",
    ]
)

_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%d.%m.%Y %H:%M",
    "%a, %d %b %Y %H:%M:%S %z",
)


# Statuses that mean the other tool closed the conversation: it is resolved here too.
CLOSED_WORDS = frozenset(["solved", "closed", "resolved", "done", "archived"])
# Freshdesk's API gives its statuses as numbers: 4 resolved, 5 closed.
PRESET_CLOSED: dict[str, frozenset[str]] = {"freshdesk": frozenset(["4", "5"])}


class BadRow(ValueError):
    """A row that cannot be imported; its line is reported, the import goes on."""


class Skip(Exception):
    """A row that is not a message to the buyer (a private note)."""


@dataclass
class ColumnMap:
    """Which columns hold which field, and how the direction column reads."""

    columns: dict[str, tuple[str, ...]]
    directions: dict[str, str] = field(default_factory=dict)
    default_channel: str = "history"
    closed: frozenset[str] = CLOSED_WORDS

    @classmethod
    def build(
        cls, preset: str | None, maps: list[str], default_channel: str = "history"
    ) -> ColumnMap:
        columns = dict(PRESETS[preset]) if preset else {}
        for item in maps:
            column, sep, name = item.partition("=")
            if not sep or name.strip() not in FIELDS or not column.strip():
                raise ValueError(
                    f"--map {item!r}: expected column=field, field one of {', '.join(FIELDS)}"
                )
            columns[name.strip()] = (column.strip(),)
        return cls(
            columns,
            dict(PRESET_DIRECTIONS.get(preset or "", {})),
            default_channel,
            CLOSED_WORDS | PRESET_CLOSED.get(preset or "", frozenset()),
        )

    def missing(self) -> list[str]:
        return [name for name in REQUIRED if name not in self.columns]

    def value(self, row: Mapping[str, Any], name: str) -> str:
        for column in self.columns.get(name, ()):
            found = _lookup(row, column)
            if found is not None and found != "":
                return str(found).strip()
        return ""


def _lookup(row: Mapping[str, Any], column: str) -> Any:
    if column in row:
        return row[column]
    value: Any = row
    for part in column.split("."):  # a dotted path into a JSON object
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return None if isinstance(value, Mapping | list) else value


def direction_of(value: str, table: dict[str, str]) -> str:
    word = value.strip().lower()
    if word in table:
        return table[word]
    if not word or word in IN_WORDS:
        return "in"
    if word in OUT_WORDS:
        return "out"
    raise BadRow(f"direction {value!r} is neither inbound nor outbound")


def parse_timestamp(value: str) -> datetime:
    """ISO 8601, common day/month orders, RFC 2822 or Unix seconds; UTC when naive."""
    text = value.strip()
    parsed: datetime | None = None
    if re.fullmatch(r"\d{9,10}(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise BadRow(f"timestamp {value!r} is not a date") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def marketplace_of(source_channel: str) -> str:
    word = source_channel.strip().lower()
    if word in MARKETPLACES:
        return MARKETPLACES[word]
    return "shop" if word in OWN_SHOP_CHANNELS or not word else "other"


@dataclass
class RowFacts:
    """What a row says, before its channel is known."""

    channel: str
    direction: str
    message: dict[str, Any]
    status: str = ""


def read_row(row: Mapping[str, Any], mapping: ColumnMap) -> RowFacts:
    """The row's fields, checked: raises `BadRow` (reported) or `Skip` (a private note)."""
    get = mapping.value
    if get(row, "private").lower() in TRUE_WORDS or (
        "public" in mapping.columns and get(row, "public").lower() not in TRUE_WORDS | {""}
    ):
        raise Skip
    conversation, text = get(row, "conversation"), get(row, "text")
    if not conversation:
        raise BadRow("no conversation id")
    if not text:
        raise BadRow("no text")
    sent_at = parse_timestamp(get(row, "timestamp") or _missing("timestamp"))
    direction = direction_of(get(row, "direction"), mapping.directions)
    external_id = get(row, "message_id") or _row_hash(conversation, sent_at, direction, text)
    return RowFacts(
        channel=get(row, "channel") or mapping.default_channel,
        direction=direction,
        status=get(row, "status"),
        message={
            "external_id": external_id[:255],
            "thread_id": conversation[:255],
            "direction": direction,
            "author": (get(row, "author_name")[:200], get(row, "author_email")[:254]),
            "subject": get(row, "subject")[:500],
            "text": text,
            "sent_at": sent_at,
        },
    )


def _missing(name: str) -> str:
    raise BadRow(f"no {name}")


def _row_hash(conversation: str, sent_at: datetime, direction: str, text: str) -> str:
    """A stable id for a row that has none: re-importing the file finds it again."""
    key = "\x1f".join([conversation, sent_at.isoformat(), direction, text])
    return "h-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def party(name: str, email: str, fallback: str) -> Party:
    if email and "@" in email:
        return Party(identity_kind="email", identity_value=email.lower(), name=name, email=email)
    return Party(identity_kind="history", identity_value=(name or fallback)[:320], name=name)


def to_inbound(facts: RowFacts, channel_id: int, buyer: Party) -> InboundMessage:
    """`buyer`: the conversation's buyer (an answer names the buyer it answers, not the agent,
    as a marketplace's synced reply does)."""
    data = dict(facts.message)
    name, _email = data.pop("author")
    meta = {"imported": True, "author": name} if facts.direction == "out" and name else {}
    if facts.status:
        meta["status"] = facts.status
    return InboundMessage(channel_id=channel_id, sender=buyer, meta=meta, **data)
