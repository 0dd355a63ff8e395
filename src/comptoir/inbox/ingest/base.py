"""What the ingest modules share: the results, the error, a message on its way."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from comptoir.connectors.base import InboundMessage
from comptoir.inbox.models import (
    Channel,
    Event,
    InboundRecord,
)
from comptoir.sla.policies import Policy


@dataclass(frozen=True)
class Stored:
    """A message just stored, as the after-ingest hooks see it: what ingest knows anyway, so
    that a hook needs no query to tell whether it has anything to do."""

    message_id: int
    conversation_id: int
    channel_id: int  # the conversation's
    order_number: str  # the conversation's
    order_id: int | None  # the conversation's order, when one is linked


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    FAILED = "failed"


@dataclass
class Result:
    outcome: Outcome
    record_id: int
    message_id: int | None = None
    conversation_id: int | None = None
    error: str = ""


class IngestError(ValueError):
    """The message cannot be stored as it is; the reason is shown to a human."""


@dataclass
class _Pending:
    record: InboundRecord
    msg: InboundMessage
    channel: Channel
    policy: Policy  # the channel's SLA policy (cached per process: no query per message)
    new_conversation: bool = False
    events: list[Event] = field(default_factory=list)
