"""Which stored messages are a marketplace's claim, and what the claim says: read from the
message as its connector handed it over (`InboundRecord.raw`, its `meta`).

- eBay (Post-Order API): `meta["ebay_case"]` (a return, an inquiry, a case), with its status,
  reason, amount and respond-by.
- Cdiscount: a discussion with a claim type (`meta["claim_type"]`).
- Fnac: an incident (`meta["fnac_incident_id"]`).
- Mirakl: an incident on an order line (`meta["mirakl_incident"]`), Spartoo's returns
  (`meta["spartoo_return"]`) and Amazon A-to-z claims known from Amazon's mail:
  `cases.more_claims`.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from comptoir.cases import more_claims
from comptoir.cases.actions import Claim
from comptoir.cases.models import Stage
from comptoir.inbox.models import Message
from comptoir.lib import cases as words
from comptoir.lib import intents

# eBay's statuses (ReturnStateEnum, InquiryStatusEnum, CaseStatusEnum) that say whose move it
# is; a status not named leaves the stage as it is.
EBAY_STAGES = {
    "CLOSED": Stage.RESOLVED,
    "CLOSED_WITH_ESCALATION": Stage.RESOLVED,
    "WAITING_BUYER_RESPONSE": Stage.WAITING_BUYER,
    "WAITING_CS": Stage.WAITING_MARKETPLACE,
    "ON_HOLD": Stage.WAITING_MARKETPLACE,
    "WAITING_DELIVERY": Stage.WAITING_CARRIER,
    "ITEM_SHIPPED": Stage.WAITING_CARRIER,
}
FNAC_STAGES = {"CLOSED": Stage.RESOLVED}


def kind_of_reason(reason: str, fallback_intent: str = "") -> str:
    """The case kind a marketplace's reason names; a claim whose reason says nothing we know
    is a "marketplace claim"."""
    intent = intents.from_reason(reason) if reason else ""
    return words.KIND_OF_INTENT.get(intent or fallback_intent, "marketplace_claim")


def _time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _decimal(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount.quantize(Decimal("0.01")) if amount > 0 else None


def _ebay(case: dict[str, Any]) -> Claim | None:
    kind, claim_id = str(case.get("type") or ""), str(case.get("id") or "")
    if kind not in ("return", "inquiry", "case") or not claim_id:
        return None
    found = case.get("amount")
    amount: dict[str, Any] = found if isinstance(found, dict) else {}
    status = str(case.get("status") or "")
    reason = str(case.get("reason") or "")
    return Claim(
        external_id=f"{kind}:{claim_id}",
        claim_kind=f"ebay_{kind}",
        kind=kind_of_reason(reason, "return_request" if kind == "return" else ""),
        reason=reason,
        status=status,
        stage=EBAY_STAGES.get(status, ""),
        deadline=_time(case.get("respond_by")),
        claimed_amount=_decimal(amount.get("value")),
        currency=str(amount.get("currency") or ""),
        opened_at=_time(case.get("opened_at")),
    )


def claim_of(message: Message, meta: dict[str, Any]) -> Claim | None:
    """The claim `message` belongs to, or None for an ordinary message."""
    if isinstance(meta.get("ebay_case"), dict):
        return _ebay(meta["ebay_case"])
    if meta.get("claim_type") and meta.get("discussion_id"):
        reason = str(meta["claim_type"])
        return Claim(
            external_id=f"discussion:{meta['discussion_id']}",
            claim_kind="cdiscount_claim",
            kind=kind_of_reason(reason),
            reason=reason,
        )
    if meta.get("fnac_incident_id"):
        status = str(meta.get("claim_status") or "")
        return Claim(
            external_id=f"incident:{meta['fnac_incident_id']}",
            claim_kind="fnac_incident",
            kind=kind_of_reason(str(meta.get("claim_label") or "")),
            reason=str(meta.get("claim_type") or ""),
            status=status,
            stage=FNAC_STAGES.get(status, ""),
        )
    if isinstance(meta.get("mirakl_incident"), dict):
        return more_claims.mirakl(meta["mirakl_incident"])
    if isinstance(meta.get("spartoo_return"), dict):
        return more_claims.spartoo(meta["spartoo_return"])
    return more_claims.amazon_atoz(message)


def meta_of(message: Message) -> dict[str, Any]:
    """The `meta` the connector gave the message (kept in its raw inbound record)."""
    record = message.inbound_record
    if record is None:
        return {}
    try:
        found = json.loads(bytes(record.raw)).get("meta")
    except (ValueError, AttributeError):
        return {}
    return found if isinstance(found, dict) else {}
