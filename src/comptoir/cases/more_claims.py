"""Claims read beside `cases.claims`: Mirakl incidents (`meta["mirakl_incident"]`, from the Mirakl
connector's incidents on order lines) and Amazon A-to-z claims known from Amazon's mail
(`cases.atoz`)."""

from __future__ import annotations

import json
from typing import Any

from comptoir.cases import atoz
from comptoir.cases.actions import Claim
from comptoir.cases.models import Stage
from comptoir.inbox.models import Message

# The line's incident state as the connector tells it → the case's stage.
MIRAKL_STAGES = {"INCIDENT_OPEN": Stage.OPEN, "CLOSED": Stage.RESOLVED}
# Spartoo's return statuses (connectors/spartoo/wire.py): refused (3) and accepted (4) end it.
SPARTOO_STAGES = {3: Stage.RESOLVED, 4: Stage.RESOLVED}


def mirakl(incident: dict[str, Any]) -> Claim | None:
    from comptoir.cases.claims import _decimal, _time, kind_of_reason

    order, line = str(incident.get("order_id") or ""), str(incident.get("line_id") or "")
    if not order or not line:
        return None
    code, label = str(incident.get("reason_code") or ""), str(incident.get("reason_label") or "")
    status = str(incident.get("state") or "")
    return Claim(
        external_id=f"incident:{order}:{line}",
        claim_kind="mirakl_incident",
        kind=kind_of_reason(label or code),
        reason=(label or code)[:64],
        status=status,
        stage=MIRAKL_STAGES.get(status, ""),
        deadline=_time(incident.get("respond_by")),
        claimed_amount=_decimal(incident.get("amount")),
        currency=str(incident.get("currency") or ""),
        opened_at=_time(incident.get("updated_at")) if status != "CLOSED" else None,
    )


def spartoo(found: dict[str, Any]) -> Claim | None:
    """A return read from Spartoo's return export (one product each)."""
    from comptoir.cases.claims import _time, kind_of_reason

    return_id = str(found.get("return_id") or "")
    if not return_id:
        return None
    status = found.get("status")
    reason = str(found.get("reason") or "")
    return Claim(
        external_id=f"return:{return_id}",
        claim_kind="spartoo_return",
        kind=kind_of_reason(reason, "return_request"),
        reason=reason[:64],
        status=str(found.get("status_name") or status or "")[:64],
        stage=SPARTOO_STAGES.get(status, "") if isinstance(status, int) else "",
        opened_at=_time(found.get("created_at")),
    )


def amazon_atoz(message: Message) -> Claim | None:
    """An A-to-z mail received on an email channel."""
    if message.channel.kind != "email" or message.direction != "in":
        return None
    sent_at = message.sent_at or message.received_at
    return atoz.claim_of_mail(_sender(message), message.subject, message.text, sent_at)


def _sender(message: Message) -> str:
    """The sender's address as the connector gave it (kept in the raw inbound record)."""
    record = message.inbound_record
    if record is None:
        return ""
    try:
        sender = json.loads(bytes(record.raw)).get("sender") or {}
    except (ValueError, AttributeError):
        return ""
    return str(sender.get("email") or sender.get("identity_value") or "")
