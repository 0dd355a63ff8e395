"""Where a survey may go: by email, or as a marketplace message only where the marketplace's
rules allow it. Never asks for a review or positive feedback (the pre-send checks refuse it).

Per marketplace, from what each publishes about messaging buyers:

- **The shop's own email** (marketplace "shop", email channel): our customer, our rules; the
  survey is a normal reply in the thread.
- **The shop's own other channels** (chat, API, marketplace "shop"): allowed when switched on.
- **eBay**: allowed when switched on. eBay lets a seller message the buyer about the
  transaction in its thread and enforces its own rules on links; it forbids feedback
  manipulation, which the neutral wording avoids. Off until the seller says so.
- **Amazon**: never. Buyer-Seller Messaging allows only messages needed to complete the order;
  unsolicited messages, external links and any solicitation of feedback are forbidden (the
  Messaging API has no message type for a survey).
- **Mirakl operators** (Darty, Boulanger, Conforama, Leroy Merlin, Carrefour): never. Their
  seller charters forbid contact details and links that take the buyer off the platform (the
  link check blocks by default).
- **Cdiscount** (Octopia): never; the seller charter forbids redirecting a buyer off the
  platform, and messages are for the order's follow-up.
- **Fnac** and **Rakuten**: never; messages are for the order, and their charters forbid
  external links.
- **Spartoo**: never. Spartoo publishes no messaging web service: a buyer writes through
  Spartoo, which mails the seller, and the answer goes back through Spartoo's mail relay to a
  buyer who bought on Spartoo. That is a marketplace message, not the shop's own mail (as
  Amazon's relay is), and Spartoo's seller terms are not public: until someone reads them, no
  survey rides on it (the relay mailbox is marketplace "spartoo", not "shop", so the email
  route does not take it either).
- Any other marketplace: never, until someone reads its rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from comptoir.inbox.models import Channel
    from comptoir.surveys.models import SurveySettings

# The marketplaces whose channels may carry a survey as a message, when switched on.
MESSAGE_ALLOWED = {
    "shop": _("Own shop (chat, API)"),
    "ebay": _("eBay"),
}
# Shown on the settings page: why the others never get one.
NEVER = {
    "amazon": _(
        "Amazon: only messages needed to complete the order; no links, no feedback requests."
    ),
    "mirakl": _("Mirakl operators: no links or contact that take the buyer off the platform."),
    "cdiscount": _("Cdiscount: messages are for the order's follow-up, no redirection."),
    "fnac": _("Fnac and Rakuten: messages are for the order, no external links."),
    "spartoo": _(
        "Spartoo: buyer messages go through Spartoo's mail relay, for the order; its seller "
        "terms are not public."
    ),
}


def route(channel: Channel, settings: SurveySettings) -> str:
    """How a survey goes out on `channel`: "email", "message", or "" (it does not)."""
    if channel.marketplace == "shop" and channel.kind == "email":
        return "email"
    if channel.kind == "mirakl":
        return ""  # whatever its operator, a Mirakl channel is a marketplace's
    if channel.marketplace in MESSAGE_ALLOWED and channel.marketplace in set(
        settings.message_marketplaces
    ):
        return "message"
    return ""
