"""The intent labels triage gives a buyer's message: one fixed set, because rules, analytics and
cases depend on it. Connectors map a marketplace's own reason (eBay claim type, Mirakl reason,
Cdiscount claim type, Fnac incident) onto it, and triage never overrules that mapping."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# In the order pages list them: the buyer's order first, money next, pre-sale last.
LABELS: dict[str, Promise] = {
    "order_tracking": _("Order tracking"),
    "not_received": _("Not received"),
    "damaged_or_defective": _("Damaged or defective"),
    "wrong_or_missing_item": _("Wrong or missing item"),
    "return_request": _("Return request"),
    "refund": _("Refund"),
    "cancellation": _("Cancellation"),
    "order_change": _("Order change"),
    "payment": _("Payment"),
    "invoice": _("Invoice"),
    "product_question": _("Product question"),
    "shipping_options": _("Shipping options"),
    "discount": _("Discount"),
    "account": _("Account"),
    "complaint": _("Complaint"),
    "thanks_or_closing": _("Thanks or closing"),
    "other": _("Other"),
}
INTENTS: tuple[str, ...] = tuple(LABELS)
# The classifier's answer below its confidence threshold: no intent rather than a wrong one.
UNSURE = "unsure"
UNSURE_LABEL = _("Unsure")

URGENCIES: dict[str, Promise] = {"low": _("Low"), "normal": _("Normal"), "high": _("High")}
SENTIMENTS: dict[str, Promise] = {
    "negative": _("Negative"),
    "neutral": _("Neutral"),
    "positive": _("Positive"),
}


def label(intent: str) -> str:
    """The intent's name for people ("" for no intent)."""
    if intent == UNSURE:
        return str(UNSURE_LABEL)
    return str(LABELS.get(intent, intent))


# A marketplace's reason codes and labels ("ITEM_NOT_RECEIVED", "ARRIVED_DAMAGED", Fnac's
# "item unlike description", a Mirakl operator's "COLIS_NON_RECU") by the words they are made
# of; first match wins, so the specific come before the general. A reason none of these name
# maps to nothing: triage then reads the buyer's text.
_REASON_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The buyer chose the wrong size: a return, not the seller's wrong item.
    ("return_request", ("wrong size", "doesnt fit", "does not fit", "ordered wrong")),
    (
        "not_received",
        (
            "not received",
            "not_received",
            "notreceived",
            "non recu",
            "non_recu",
            "nonrecu",
            "inr",
            "undelivered",
            "lost",
            "perdu",
            "non livre",
        ),
    ),
    (
        "damaged_or_defective",
        (
            "damag",
            "defect",
            "broken",
            "cass",
            "endommag",
            "faulty",
            "not working",
            "doesnt work",
            "does not work",
            "panne",
        ),
    ),
    (
        "wrong_or_missing_item",
        (
            "wrong",
            "missing",
            "manquant",
            "incomplet",
            "not as described",
            "snad",
            "non conforme",
            "inconsistent",
            "unlike",
            "different",
        ),
    ),
    ("cancellation", ("cancel", "annul")),
    ("refund", ("refund", "rembours")),
    (
        "return_request",
        ("return", "retour", "retract", "withdraw", "remorse", "no longer need", "mistake"),
    ),
    ("order_tracking", ("tracking", "suivi", "delay", "retard", "late")),
    ("invoice", ("invoice", "factur")),
    ("payment", ("payment", "paiement")),
)


def from_reason(reason: str) -> str:
    """The intent a marketplace's reason code or label names, or "" when none is sure."""
    words = " " + reason.lower().replace("_", " ").replace("-", " ").replace("é", "e") + " "
    for intent, needles in _REASON_WORDS:
        for needle in needles:
            # Short codes (INR, SNAD) must be whole words; stems may start a longer word.
            if (f" {needle} " in words) if len(needle) <= 4 else (needle in words):
                return intent
    return ""
