"""Octopia's JSON, read: dates, amounts, and what a discussion's messages share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from comptoir.lib.dates import parse_iso


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def decimal_text(value: Any) -> str:
    try:
        return str(Decimal(str(value))) if value is not None else ""
    except InvalidOperation:
        return ""


@dataclass(frozen=True)
class Discussion:
    """What every message of an Octopia discussion shares."""

    id: str
    buyer_id: str
    buyer_name: str
    subject: str
    order_number: str
    updated_at: datetime | None
    waiting: bool  # for the seller's answer
    is_claim: bool
    details: dict[str, Any]  # for the messages' meta

    @property
    def reason(self) -> str:
        """The claim's type as Cdiscount gave it ("" for a plain discussion)."""
        return str(self.details.get("claim_type") or "")

    @classmethod
    def of(cls, discussion: dict[str, Any], discussion_id: str) -> Discussion:
        customer = discussion.get("customer") or {}
        claim_type = discussion.get("claimType") or (
            discussion.get("subTypologyCode") if discussion.get("graduation") == "Claim" else ""
        )
        details: dict[str, Any] = {
            "typology": discussion.get("typologyCode") or "",
            "subtypology": discussion.get("subTypologyCode") or "",
            "graduation": discussion.get("graduation") or "",
            "sales_channel": discussion.get("salesChannel") or "",
        }
        if claim_type:
            details["claim_type"] = claim_type
        return cls(
            id=discussion_id,
            buyer_id=str(customer.get("customerId") or f"discussion-{discussion_id}"),
            buyer_name=" ".join(
                filter(None, [customer.get("firstName"), customer.get("lastName")])
            ).strip(),
            subject=(discussion.get("subject") or "")[:500],
            order_number=str(discussion.get("orderId") or "")[:64],
            updated_at=parse_iso(discussion.get("updatedAt")),
            waiting=discussion.get("processStatus") == "WaitingForSellerAnswer",
            is_claim=bool(claim_type) or discussion.get("graduation") not in (None, "Discussion"),
            details=details,
        )


def author_of(message: dict[str, Any]) -> str:
    sender = message.get("sender") or {}
    return str(sender.get("userType") or "Customer")
