"""The contract between the inbox and a connector (one package per kind of channel).

A connector turns a channel's source into `InboundMessage` records (`fetch`) and delivers
`OutboundMessage`s (`send`). The inbox never imports a specific connector: it goes through
`connectors.registry`. Transient failures raise `ConnectorError(permanent=False)` and are retried
with backoff; permanent ones mark the channel unhealthy with the reason.

This module sits below the inbox and knows none of it: a connector sees its channel as a
`ChannelInfo` (identity, settings, cursor) and asks what the inbox stores through the
`ChannelStore` port, which the inbox provides at start-up (`provide_store`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    field_validator,
)

from comptoir.connectors.ports import ChannelInfo as ChannelInfo
from comptoir.connectors.ports import ChannelStore as ChannelStore
from comptoir.connectors.ports import StoredChannel as StoredChannel
from comptoir.connectors.ports import channel_store as channel_store
from comptoir.connectors.ports import provide_store as provide_store
from comptoir.lib import http, intents

# Dates outside this window are not real messages (bad clocks, epoch 0, year 9999).
EARLIEST_DATE = datetime(1995, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=2)

Text = Annotated[str, StringConstraints(max_length=500)]
ShortId = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]


def _b64decode(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("attachment data is not valid base64") from None
    raise ValueError("attachment data must be bytes or base64 text")


Base64Bytes = Annotated[
    bytes,
    PlainSerializer(lambda b: base64.b64encode(b).decode(), return_type=str, when_used="json"),
]


class ConnectorError(http.HttpError):
    """A channel could not be read or written. `permanent` errors need a human.

    `maybe_sent`: a send that may have reached the marketplace (a timeout after the request
    went out): the next attempt asks the connector (`find_sent`) before sending again.
    `about_message`: a permanent refusal of this one message (a file too big, a refused
    recipient): the message fails, the channel stays healthy.
    `retry_after` and `status` (the HTTP status, when there was one): see `HttpError`.
    """


class HttpClient(http.HttpClient):
    """The shared outbound HTTP client (`comptoir.lib.http`) as connectors use it: it raises
    `ConnectorError`, which connectors catch and the tasks running them record."""

    error = ConnectorError


def parse_json(response: http.Response, name: str) -> Any:
    """The JSON of a marketplace's answer, or a `ConnectorError` saying it is not JSON."""
    return http.parse_json(response, name, error=ConnectorError)


class InboundAttachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: Annotated[str, StringConstraints(max_length=255)] = "attachment"
    content_type: Annotated[str, StringConstraints(max_length=255)] = "application/octet-stream"
    data: Base64Bytes = b""
    content_id: Annotated[str, StringConstraints(max_length=255)] = ""
    inline: bool = False
    # Left out by the connector (e.g. over the channel's size cap): `data` is then empty and
    # `size` says how big it was.
    dropped_reason: Annotated[str, StringConstraints(max_length=255)] = ""
    size: int = Field(default=0, ge=0)
    # Already kept by the connector with `inbox.files.store_bytes` (big files are written once,
    # not carried in memory and in the raw record): its sha256; `data` is then empty and `size`
    # is the file's. Only a connector may name a stored file; ingest refuses it from outside.
    sha256: Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{64})?$")] = ""

    @field_validator("data", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> bytes:
        return _b64decode(value)


class Party(BaseModel):
    """Who wrote: the buyer's identity on this channel."""

    model_config = ConfigDict(extra="forbid")

    # "email", "amazon_alias", "ebay_user", "mirakl_customer"...: with value, a unique identity.
    identity_kind: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "email"
    identity_value: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    email: Annotated[str, StringConstraints(max_length=254)] = ""


class InboundMessage(BaseModel):
    """One message as a connector (or the API, or an import) hands it to `inbox.ingest`."""

    model_config = ConfigDict(extra="forbid")

    channel_id: int
    external_id: ShortId
    direction: Literal["in", "out"] = "in"
    sender: Party
    subject: Text = ""
    text: str = ""
    # What is new in `text` (quoted history and signature cut off) when the connector knows.
    new_text: str = ""
    html: str = ""
    sent_at: AwareDatetime
    thread_id: Annotated[str, StringConstraints(max_length=255)] = ""
    message_id: Annotated[str, StringConstraints(max_length=998)] = ""
    in_reply_to: Annotated[str, StringConstraints(max_length=998)] = ""
    references: list[Annotated[str, StringConstraints(max_length=998)]] = Field(
        default_factory=list, max_length=200
    )
    order_number: Annotated[str, StringConstraints(max_length=64)] = ""
    language: Annotated[str, StringConstraints(max_length=8)] = ""
    # The marketplace's own reason for this message as it gave it (eBay claim reason, Mirakl
    # reason code, Cdiscount claim type, Fnac incident type) and the intent it means
    # (`comptoir.lib.intents`): triage takes the marketplace's word before its own reading.
    reason: Annotated[str, StringConstraints(max_length=64)] = ""
    intent: str = ""
    is_auto: bool = False
    # Marketplaces that say whether the seller must answer (Mirakl) override our own guess.
    needs_reply: bool | None = None
    attachments: list[InboundAttachment] = Field(default_factory=list, max_length=100)
    # The original as received (e.g. an .eml), already kept by the connector with
    # `inbox.files.store_bytes`: its sha256.
    source_sha256: Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{64})?$")] = ""
    meta: dict[str, Any] = Field(default_factory=dict)
    # A conversation the connector recognised (e.g. from our reply token): used after the
    # thread id and the references, and only on the same channel.
    conversation_hint: int | None = None
    # Last resort (mail): the same sender's conversation with the same subject, if recent.
    thread_by_subject: bool = False
    # Tags the conversation gets (e.g. the marketplace whose relay the mail came through).
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=10
    )

    @field_validator("intent")
    @classmethod
    def _known_intent(cls, value: str) -> str:
        if value and value not in intents.INTENTS:
            raise ValueError(f"intent {value!r} is not one of {', '.join(intents.INTENTS)}")
        return value

    @field_validator("sent_at")
    @classmethod
    def _plausible_date(cls, value: datetime) -> datetime:
        now = datetime.now(UTC)
        if value < EARLIEST_DATE:
            raise ValueError(f"sent_at {value.isoformat()} is before {EARLIEST_DATE.year}")
        if value > now + FUTURE_TOLERANCE:
            raise ValueError(f"sent_at {value.isoformat()} is in the future")
        return value


@dataclass
class OutboundAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class OutboundMessage:
    """A reply to deliver; `idempotency_key` is stable across retries of the same message."""

    message_id: int
    idempotency_key: str
    conversation_thread_id: str
    to: str
    subject: str
    text: str
    html: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    order_number: str = ""
    attachments: list[OutboundAttachment] = field(default_factory=list)
    conversation_subject: str = ""  # for a reply written without a subject of its own
    conversation_id: int = 0
    # When the first attempt to send this message began (None: this is that attempt, or a
    # caller outside the send task). `find_sent` accepts no marketplace message older.
    attempt_started_at: datetime | None = None
    message_type: str = ""  # a typed order message's type (`Connector.order_message_types`)


@dataclass
class CaseOperationOut:
    """One step of the seller's answer to a marketplace's claim (`cases.CaseOperation`):
    `respond` (a text), `refund` (an amount) or `close`. `claim_id` is the claim as the
    connector named it when it read it (`return:5001`, `discussion:D-9`, `incident:I-3`);
    `operation_id` and `idempotency_key` are stable across retries of the same step."""

    operation_id: int
    kind: Literal["respond", "refund", "close", "accept_return", "refuse_return"]
    claim_id: str
    thread_id: str = ""
    order_number: str = ""
    text: str = ""
    amount: str = ""  # decimal as text: JSON keeps it exact
    currency: str = ""
    full: bool = False  # a refund of the whole claim (marketplaces that refund whole lines)
    idempotency_key: str = ""
    # When the first attempt began (None: this is it): what the marketplace shows from
    # before cannot be this step.
    attempt_started_at: datetime | None = None


class OrderItem(BaseModel):
    sku: str = ""
    title: str = ""
    quantity: int = 1
    unit_price: str = ""  # decimal as text: JSON keeps it exact


class OrderData(BaseModel):
    """An order as a connector reads it from its marketplace (see orders.actions.store_order)."""

    external_id: ShortId
    status: Literal[
        "pending",
        "accepted",
        "shipped",
        "delivered",
        "cancelled",
        "refunded",
        "returned",
        "unknown",
    ] = "unknown"
    currency: Annotated[str, StringConstraints(max_length=3)] = "EUR"
    total: str = ""
    items: list[OrderItem] = Field(default_factory=list)
    ordered_at: AwareDatetime | None = None
    ship_by: AwareDatetime | None = None
    shipped_at: AwareDatetime | None = None
    expected_delivery_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    carrier: Annotated[str, StringConstraints(max_length=64)] = ""
    tracking_number: Annotated[str, StringConstraints(max_length=128)] = ""
    tracking_url: Annotated[str, StringConstraints(max_length=500)] = ""
    buyer: Party | None = None


@dataclass
class SentCandidate:
    """A message the marketplace shows as written by the seller, as `find_sent` reads it."""

    external_id: str
    text: str
    created_at: datetime | None  # the marketplace's own date for it


# How far the marketplace's clock may be behind ours. Servers kept by NTP agree within a
# second; a minute covers a badly kept one. Wider would let an identical text written by
# someone else just before our attempt pass for ours (the stored-copy check below still
# refuses those Comptoir already holds).
CLOCK_SKEW = timedelta(seconds=60)


def same_text(a: str, b: str) -> bool:
    """Texts compared as marketplaces keep them: they may re-flow spacing and line ends."""
    return " ".join(a.split()) == " ".join(b.split())


@dataclass
class SendResult:
    external_id: str
    sent_at: datetime | None = None
    message_id: str = ""
    # The marketplace thread a first message opened: the conversation's thread from now on.
    thread_id: str = ""


class Connector:
    """Base class: one subclass per kind of channel, built per channel."""

    kind: ClassVar[str]
    settings_model: ClassVar[type[BaseModel] | None] = None

    def __init__(self, channel: ChannelInfo) -> None:
        self.channel = channel
        # fetch() moves this forward; the poller saves it once the messages are stored.
        self.cursor: dict[str, Any] = dict(channel.cursor or {})

    @classmethod
    def background_services(cls, worker_id: str) -> list[Any]:
        """Long-running helpers a worker runs for this kind of channel (see jobs.periodic)."""
        return []

    @classmethod
    def can_fetch(cls) -> bool:
        return cls.fetch is not Connector.fetch

    def settings(self) -> BaseModel | None:
        """The channel's settings, validated; incomplete or wrong ones are a permanent error
        that names the fields (the channel waits for an admin, who is told once)."""
        if self.settings_model is None:
            return None
        try:
            return self.settings_model.model_validate(self.channel.get_settings())
        except ValidationError as exc:
            fields = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ConnectorError(
                f"the channel's settings are incomplete or wrong ({fields})", permanent=True
            ) from None

    def fetch(self, since: dict[str, Any]) -> Iterable[InboundMessage]:
        """Yield messages newer than the cursor `since` (the channel's stored cursor)."""
        return ()

    def checkpoint(self) -> None:
        """Save `self.cursor` now, before the poll ends (the poller saves it at the end)."""
        channel_store().save_cursor(self.channel, dict(self.cursor))

    def acknowledge(self) -> None:
        """Called once what `fetch` yielded is stored and the cursor saved: the place to tell
        the source (e.g. move mail out of the inbox). Must not raise for a partial failure."""

    def send(self, outbound: OutboundMessage) -> SendResult:
        """Deliver one message; raise ConnectorError on failure."""
        raise ConnectorError(f"the {self.kind} connector cannot send messages", permanent=True)

    @classmethod
    def can_find_sent(cls) -> bool:
        return cls.find_sent is not Connector.find_sent

    def find_sent(self, outbound: OutboundMessage) -> SendResult | None:
        """After a send whose outcome is unknown (a timeout, a worker killed mid-send): the
        message as the marketplace has it, if it got there, else None. Connectors whose
        marketplace has no idempotency key implement it, so that nothing is sent twice.
        Raise ConnectorError when the marketplace cannot be asked now."""
        return None

    # How long after the client gave up on a request that may have reached the marketplace (a
    # timeout, a lost answer, a 5xx, a worker killed mid-send) the marketplace may still store
    # it: until then a retry that does not find it looks again later instead of posting a
    # second copy. Each connector sets it for its marketplace (see its docstring).
    send_settle_seconds: ClassVar[float] = 300.0

    def send_settle_time(self) -> timedelta:
        """From the start of an unanswered request, how long a retry that does not find the
        message keeps looking before posting it again: the client's timeout (the channel's
        `timeout_seconds`), then `send_settle_seconds`."""
        timeout = getattr(self.settings(), "timeout_seconds", 0.0)
        return timedelta(seconds=float(timeout or 0.0) + self.send_settle_seconds)

    def pick_sent(
        self, outbound: OutboundMessage, candidates: Iterable[SentCandidate]
    ) -> SendResult | None:
        """The one rule of every `find_sent`: of the seller's messages the marketplace shows
        in the thread, ours is one with the same text, written after our first attempt began
        (less `CLOCK_SKEW`), that is not already another message Comptoir holds (a template
        sent earlier, by us or from the marketplace's back office). The earliest such one:
        a later one is someone else's."""
        not_before = (
            outbound.attempt_started_at - CLOCK_SKEW if outbound.attempt_started_at else None
        )
        matching = [
            c
            for c in candidates
            if c.external_id
            and same_text(c.text, outbound.text)
            # An undated one cannot be told from an old one: never taken for ours.
            and (not_before is None or (c.created_at is not None and c.created_at >= not_before))
        ]
        if not matching:
            return None
        taken = self.claimed_external_ids(
            [c.external_id for c in matching],
            outbound.message_id,
            stored_before=outbound.attempt_started_at,
        )
        free = [c for c in matching if c.external_id not in taken]
        if not free:
            return None
        # Undated ones (only when no start is known) sort last.
        first = min(free, key=lambda c: (c.created_at is None, c.created_at or datetime.min))
        return SendResult(external_id=first.external_id, sent_at=first.created_at)

    def stored_external_ids(self, external_ids: list[str]) -> set[str]:
        """Which of these marketplace message ids this channel already stores: a poll that
        meets them again (a thread listed whole) need not download their files again."""
        if not external_ids:
            return set()
        return channel_store().stored_external_ids(self.channel.pk, external_ids)

    def claimed_external_ids(
        self, external_ids: list[str], but: int, *, stored_before: datetime | None = None
    ) -> set[str]:
        """Which of these marketplace message ids already are a Comptoir message of this
        channel other than message `but` (for `find_sent`: a text sent twice on purpose is
        two messages): any message Comptoir sent, and any copy a poll stored before
        `stored_before` (when the attempt began: it cannot be the message being sent)."""
        return channel_store().claimed_external_ids(
            self.channel.pk, external_ids, but, stored_before=stored_before
        )

    # Whether a first message about an order opens a thread with its buyer (Mirakl's OR43):
    # agents may then "message the buyer about this order" from Comptoir.
    opens_order_threads: ClassVar[bool] = False
    order_message_types: ClassVar[tuple[str, ...]] = ()  # typed first messages (Amazon's)

    def queued_at(self, message_id: int) -> datetime | None:
        """When the Comptoir message was queued: what the marketplace stored before cannot be
        its delivery (for `find_sent`)."""
        return channel_store().queued_at(message_id)

    # How many orders one `fetch_orders` request reads (the marketplace's published limit):
    # order look-ups are queued in groups of this size.
    order_batch_size: ClassVar[int] = 1

    @classmethod
    def can_fetch_orders(cls) -> bool:
        return (
            cls.fetch_order is not Connector.fetch_order
            or cls.fetch_orders is not Connector.fetch_orders
        )

    def fetch_order(self, order_number: str) -> OrderData | None:
        """The order as the marketplace has it now (None when it does not know it)."""
        return self.fetch_orders([order_number]).get(order_number)

    def fetch_orders(self, order_numbers: Sequence[str]) -> dict[str, OrderData]:
        """The orders the marketplace knows among these (at most `order_batch_size`), by
        number; the ones it does not know are left out. Connectors whose marketplace reads
        many orders in one request override this; the default asks for each in turn."""
        found: dict[str, OrderData] = {}
        if type(self).fetch_order is Connector.fetch_order:
            return found  # neither is implemented: nothing can be read
        for number in order_numbers:
            data = self.fetch_order(number)
            if data is not None:
                found[number] = data
        return found

    @classmethod
    def can_mark_no_response_needed(cls) -> bool:
        """Whether the marketplace's API lets a seller say a buyer message needs no answer
        (so that its late-response rate leaves the message out). None of the published APIs
        in ../shared/specs does (Amazon's button is in Seller Central only): not supported
        unless a connector implements `mark_no_response_needed`."""
        return cls.mark_no_response_needed is not Connector.mark_no_response_needed

    def mark_no_response_needed(self, thread_id: str) -> None:
        """Tell the marketplace the buyer's last message in this thread needs no answer;
        raise ConnectorError on failure."""
        raise ConnectorError(
            f"the {self.kind} connector cannot mark messages as needing no response",
            permanent=True,
        )

    # -- a claim's outcome, told to the marketplace (cases) ------------------------------------

    @classmethod
    def case_operations(cls, claim_id: str) -> frozenset[str]:
        """Which steps (`respond`, `refund`, `close`) the marketplace's API takes from the
        seller on this claim (`CaseOperationOut.claim_id`); none by default."""
        return frozenset()

    def send_case_operation(self, operation: CaseOperationOut) -> SendResult:
        """Carry out one step on the marketplace; raise ConnectorError on failure
        (`maybe_sent` when it may have landed: `find_case_operation` is asked first)."""
        raise ConnectorError(
            f"the {self.kind} connector cannot tell the marketplace a case's outcome",
            permanent=True,
            about_message=True,
        )

    def find_case_operation(self, operation: CaseOperationOut) -> SendResult | None:
        """After an attempt whose outcome is unknown: the step as the marketplace shows it
        (the refund or the closure in the claim's history), else None. Raise ConnectorError
        when the marketplace cannot be asked now."""
        return None

    def test_connection(self) -> str:
        """Return a human-readable success message or raise ConnectorError."""
        return "ok"
