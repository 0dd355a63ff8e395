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
