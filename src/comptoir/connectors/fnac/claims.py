"""Fnac claims (incidents) as messages of their order's conversation: the claim itself, and an
automatic message when Fnac closes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from comptoir.connectors.base import InboundMessage, Party
from comptoir.connectors.fnac import dialect
from comptoir.connectors.fnac.dialect import q, text
from comptoir.connectors.fnac.parsing import CLAIM_TYPES
from comptoir.lib import intents


@dataclass(frozen=True)
class _Claim:
    incident_id: str
    order_id: str
    created: datetime
    updated: datetime
    label: str
    status: str
    opened_by: str
    meta: dict[str, Any]


def claim_messages(
    incident: ET.Element,
    header: ET.Element,
    *,
    channel_id: int,
    buyer: Callable[[str], Party],
) -> Iterator[tuple[InboundMessage, datetime]]:
    """The claim's messages, each with the claim's update time (the cursor's); `buyer` gives
    the buyer of an order."""
    claim = _read(incident, header)
    if claim is None:
        return
    party = buyer(claim.order_id) if claim.opened_by == "client" else _fnac()
    yield _opened(claim, header, party, channel_id), claim.updated
    if claim.status == "CLOSED":
        yield _closed(claim, header, channel_id), claim.updated


def _read(incident: ET.Element, header: ET.Element) -> _Claim | None:
    incident_id = incident.get("id", "")
    order_id = text(header, "order_id")
    created = dialect.parse_datetime(text(header, "created_at"))
    updated = dialect.parse_datetime(text(header, "updated_at")) or created
    if not incident_id or not order_id or created is None or updated is None:
        return None
    detail = incident.find(f"{q('order_details_incident')}/{q('order_detail_incident')}")
    claim_type = text(detail, "type") if detail is not None else ""
    label = CLAIM_TYPES.get(claim_type, "claim")
    opened_by = text(header, "opened_by")
    status = text(header, "status")
    meta = {
        "fnac_incident_id": incident_id,
        "claim_type": claim_type,
        "claim_label": label,
        "claim_status": status,
        "opened_by": opened_by,
        "closed_status": text(header, "closed_status"),
    }
    return _Claim(incident_id, order_id, created, updated, label, status, opened_by, meta)


def _fnac() -> Party:
    return Party(identity_kind="fnac_callcenter", identity_value="fnac", name="Fnac")


def _opened(claim: _Claim, header: ET.Element, party: Party, channel_id: int) -> InboundMessage:
    waiting = text(header, "waiting_for_seller_answer") == "TRUE"
    return InboundMessage(
        channel_id=channel_id,
        external_id=f"incident:{claim.incident_id}",
        sender=party,
        subject=f"Claim on order {claim.order_id}: {claim.label}",
        text=text(header, "message") or f"Claim opened: {claim.label}",
        sent_at=min(claim.created, datetime.now(UTC)),
        thread_id=f"ORDER:{claim.order_id}",
        order_number=claim.order_id,
        needs_reply=waiting and claim.status == "OPENED",
        reason=f"fnac:{claim.meta['claim_type']}"[:64],
        intent=intents.from_reason(claim.label),
        tags=["claim"],
        meta=claim.meta,
    )


def _closed(claim: _Claim, header: ET.Element, channel_id: int) -> InboundMessage:
    """The claim's end is news for the agent, but not a buyer waiting for an answer: an
    automatic message leaves "needs reply" as the buyer's messages set it."""
    closed_at = dialect.parse_datetime(text(header, "closed_at")) or claim.updated
    closed_status, closed_by = claim.meta["closed_status"], text(header, "closed_by")
    return InboundMessage(
        channel_id=channel_id,
        external_id=f"incident:{claim.incident_id}:closed",
        sender=_fnac(),
        subject=f"Claim on order {claim.order_id} closed",
        text=f"Fnac closed the claim ({claim.label}) on order {claim.order_id}"
        + (f", close status {closed_status}" if closed_status else "")
        + (f", by {closed_by}" if closed_by else "")
        + ".",
        sent_at=min(closed_at, datetime.now(UTC)),
        thread_id=f"ORDER:{claim.order_id}",
        order_number=claim.order_id,
        is_auto=True,
        tags=["claim"],
        meta=claim.meta,
    )
