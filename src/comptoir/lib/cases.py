"""The words of cases (returns, refunds, disputes, marketplace claims): kinds, stages, outcomes
and the marketplace's own procedures, with their names for people. One fixed vocabulary here,
with no Django model, because the inbox's timeline tells a case's events (it cannot import the
cases app above it) and the cases app, its rules and analytics all speak it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext_lazy

# Every label has the context "case": a case is masculine in French (un dossier) where a
# conversation's "Open" and "Resolved" are feminine.

KINDS: dict[str, Promise] = {
    "return": pgettext_lazy("case", "Return"),
    "refund": pgettext_lazy("case", "Refund"),
    "not_received": pgettext_lazy("case", "Item not received"),
    "damaged": pgettext_lazy("case", "Damaged or defective item"),
    "wrong_item": pgettext_lazy("case", "Wrong item"),
    "cancellation": pgettext_lazy("case", "Cancellation"),
    "marketplace_claim": pgettext_lazy("case", "Marketplace claim"),
}
# The marketplace's own procedure a claim runs under ("" for a case the seller opened).
CLAIM_KINDS: dict[str, Promise] = {
    "ebay_return": pgettext_lazy("case", "eBay return"),
    "ebay_inquiry": pgettext_lazy("case", "eBay item-not-received inquiry"),
    "ebay_case": pgettext_lazy("case", "eBay case"),
    "amazon_atoz": pgettext_lazy("case", "Amazon A-to-z claim"),
    "cdiscount_claim": pgettext_lazy("case", "Cdiscount claim"),
    "fnac_incident": pgettext_lazy("case", "Fnac incident"),
    "mirakl_incident": pgettext_lazy("case", "Mirakl incident"),
    "spartoo_return": pgettext_lazy("case", "Spartoo return"),
}
# In the order a case usually goes; "resolved" is the end (a case may be reopened).
STAGES: dict[str, Promise] = {
    "open": pgettext_lazy("case", "Open"),
    "waiting_buyer": pgettext_lazy("case", "Waiting on the buyer"),
    "waiting_carrier": pgettext_lazy("case", "Waiting on the carrier"),
    "waiting_marketplace": pgettext_lazy("case", "Waiting on the marketplace"),
    "resolved": pgettext_lazy("case", "Resolved"),
}
OUTCOMES: dict[str, Promise] = {
    "full_refund": pgettext_lazy("case", "Full refund"),
    "partial_refund": pgettext_lazy("case", "Partial refund"),
    "replacement": pgettext_lazy("case", "Replacement"),
    "return_label": pgettext_lazy("case", "Return label sent"),
    "rejected": pgettext_lazy("case", "Rejected"),
}
REFUNDS = frozenset({"full_refund", "partial_refund"})
OPENERS: dict[str, Promise] = {
    "agent": pgettext_lazy("case", "An agent"),
    "rule": pgettext_lazy("case", "A rule"),
    "marketplace": pgettext_lazy("case", "The marketplace"),
}
# The seller's steps told to the marketplace (`cases.CaseOperation`).
OPERATIONS: dict[str, Promise] = {
    "respond": pgettext_lazy("case", "Answer"),
    "refund": pgettext_lazy("case", "Refund"),
    "close": pgettext_lazy("case", "Closure"),
    "accept_return": pgettext_lazy("case", "Return accepted"),
    "refuse_return": pgettext_lazy("case", "Return refused"),
}

# The case kind a triage intent names (lib.intents): a rule or a claim reason opens that kind.
KIND_OF_INTENT = {
    "return_request": "return",
    "refund": "refund",
    "not_received": "not_received",
    "damaged_or_defective": "damaged",
    "wrong_or_missing_item": "wrong_item",
    "cancellation": "cancellation",
}


def _name(table: dict[str, Promise], code: str) -> str:
    return str(table.get(code, code))


def kind_label(kind: str) -> str:
    return _name(KINDS, kind)


def stage_label(stage: str) -> str:
    return _name(STAGES, stage)


def outcome_label(outcome: str) -> str:
    return _name(OUTCOMES, outcome)


def claim_label(claim_kind: str) -> str:
    return _name(CLAIM_KINDS, claim_kind) if claim_kind else ""


def money(amount: Any, currency: str) -> str:
    """ "25.00 EUR", "1 234,50 EUR" in French: two decimals whatever was stored ("25", "25.5"),
    grouped and pointed as the active language writes numbers."""
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return f"{amount} {currency}".strip()
    return f"{number_format(value, 2, force_grouping=True)} {currency}".strip()


def event_text(kind: str, data: dict[str, Any]) -> str:
    """A case event on the timeline ("Case opened: damaged item"), "" for another event."""
    if kind == "case_opened":
        # A marketplace's procedure keeps its capitals ("eBay return"); a kind reads in a
        # sentence ("Case opened: damaged or defective item").
        what = (
            claim_label(data.get("claim_kind", "")) or kind_label(data.get("case_kind", "")).lower()
        )
        return gettext("Case opened: %(kind)s") % {"kind": what}
    if kind != "case_changed":
        return ""
    change = data.get("change")
    if change == "stage":
        return gettext("Case: %(stage)s") % {"stage": stage_label(data.get("stage", "")).lower()}
    if change == "outcome":
        outcome = data.get("outcome", "")
        if outcome in REFUNDS and data.get("amount") is not None:
            return gettext("Refund of %(amount)s recorded") % {
                "amount": money(data["amount"], data.get("currency", ""))
            }
        if outcome == "rejected" and data.get("reason"):
            return gettext("Case rejected: %(reason)s") % {"reason": data["reason"]}
        return gettext("Case outcome: %(outcome)s") % {"outcome": outcome_label(outcome).lower()}
    if change == "deadline":
        if not data.get("deadline"):
            return gettext("Case deadline removed")
        return gettext("Case deadline set")
    if change == "closed":
        return gettext("Case closed")
    if change in ("operation_queued", "operation_sent", "operation_failed"):
        return operation_text(change, data)
    return ""


def operation_text(change: str, data: dict[str, Any]) -> str:
    """A step told to the marketplace: queued (who asked is the event's actor), received, or
    failed with the marketplace's reason. Whole sentences: French contracts "de le"."""
    what = data.get("operation", "")
    amount = {"amount": money(data.get("amount"), data.get("currency", ""))}
    error = {"error": data.get("error", "")}
    if change == "operation_queued":
        if what == "refund":
            return gettext("Sending the refund of %(amount)s to the marketplace") % amount
        if what == "respond":
            return gettext("Sending the answer to the claim to the marketplace")
        return gettext("Sending the closure of the claim to the marketplace")
    if change == "operation_sent":
        if what == "refund":
            return gettext("The marketplace received the refund of %(amount)s") % amount
        if what == "respond":
            return gettext("The marketplace received the answer to the claim")
        return gettext("The marketplace received the closure of the claim")
    if what == "refund":
        return gettext("The refund of %(amount)s failed: %(error)s") % {**amount, **error}
    if what == "respond":
        return gettext("The answer to the claim failed: %(error)s") % error
    return gettext("The closure of the claim failed: %(error)s") % error


# The marketplaces' own claim states (eBay, Amazon A-to-z, Mirakl...), as the case panel names them.
MARKETPLACE_STATES: dict[str, Promise] = {
    "OPEN": pgettext_lazy("case", "Open at the marketplace"),
    "CLOSED": pgettext_lazy("case", "Closed at the marketplace"),
    "PENDING": pgettext_lazy("case", "Pending"),
    "ESCALATED": pgettext_lazy("case", "Escalated"),
    "WAITING_SELLER_RESPONSE": pgettext_lazy("case", "Waiting for your answer"),
    "WAITING_BUYER_RESPONSE": pgettext_lazy("case", "Waiting for the buyer"),
    "ON_HOLD": pgettext_lazy("case", "On hold"),
    "RETURN_REQUESTED": pgettext_lazy("case", "Return requested"),
    "ITEM_SHIPPED": pgettext_lazy("case", "Item sent back"),
    "ITEM_DELIVERED": pgettext_lazy("case", "Item returned"),
    "REFUNDED": pgettext_lazy("case", "Refunded"),
}


def marketplace_state_label(raw: str) -> str:
    """A marketplace's raw claim state for people: a known one translated, an unknown one as it
    is, but "SOME_STATE" read as "Some state" rather than shouted."""
    key = raw.strip().upper().replace(" ", "_").replace("-", "_")
    if key in MARKETPLACE_STATES:
        return str(MARKETPLACE_STATES[key])
    if raw.isupper() or "_" in raw:
        return raw.replace("_", " ").strip().capitalize()
    return raw
