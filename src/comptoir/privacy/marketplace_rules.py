"""What each marketplace asks of its sellers about keeping buyer data, as a default retention for
its channels (`privacy.actions.channel_policy`), and the words the settings page shows.

Only a published maximum becomes a default. Where a marketplace publishes none, its channels
follow the shop's retention, and the page says that nothing is published. Sources (read
2026-12; the seller should check their own contract, which may say more):

- Amazon: the Selling Partner API Data Protection Policy ("Developers will retain PII only for
  the purpose of, and as long as is necessary to fulfill orders (no longer than 30 days after
  order delivery), or to calculate/remit taxes"; tax archives kept offline and encrypted; an
  earlier version, still quoted by integrators, said "after order shipment"), linked from
  https://developer-docs.amazon.com/sp-api/docs/policies-and-agreements, and the Business
  Solutions Agreement's confidentiality clause (keep customer information only as long as
  needed for the services or a legal obligation). Comptoir cannot see delivery dates for every
  conversation, so the 30 days run from the conversation's last message, which comes after the
  delivery in the usual case and never earlier than the order. Anonymised, not deleted: the
  figures (response times, counts) stay.
- eBay: the API License Agreement (https://developer.ebay.com/products/license) has data
  protection terms (updated 2025) and the User Agreement limits the use of other members' data
  to the transaction; neither, as far as we could read, gives a number of days: no default.
- Mirakl-run marketplaces (Darty, Boulanger, Conforama, Leroy Merlin, Carrefour): Mirakl
  publishes no rule for sellers (https://www.mirakl.com/privacy-policy covers Mirakl's own
  processing); each operator's seller terms govern and none publishes a period: no default.
- Cdiscount: the Marketplace API site's privacy notice
  (https://portal-marketplaceapi.cdiscount.com/confidentialite) covers the seller's own data
  ("only for the time necessary"), nothing on buyer data held by sellers: no default.
- Fnac: the marketplace's buyer and seller conditions (fnac.com Market Place, Fnac Direct)
  publish no period for buyer data held by sellers: no default.
- Rakuten, own shop, other: nothing published (own shop: the seller's own policy).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from comptoir.inbox.models import Marketplace


@dataclass(frozen=True)
class MarketplaceRule:
    days: int  # 0: no published maximum, the shop's retention applies
    mode: str  # anonymise or delete, when days
    summary: str | Promise  # shown on the settings page
    source: str  # where it is published ("" when nothing is)


NOTHING_PUBLISHED = _(
    "This marketplace publishes no period for buyer data kept by sellers: the shop's "
    "retention applies."
)
_MIRAKL = MarketplaceRule(
    0,
    "anonymise",
    _(
        "Run on Mirakl: the operator's seller terms govern buyer data, and publish no period: "
        "the shop's retention applies."
    ),
    "https://www.mirakl.com/privacy-policy",
)

RULES: dict[str, MarketplaceRule] = {
    Marketplace.AMAZON: MarketplaceRule(
        30,
        "anonymise",
        _(
            "Amazon's Data Protection Policy: buyer personal data kept no longer than 30 days "
            "after the order is delivered (tax records aside). Counted here from the last "
            "message."
        ),
        "https://developer-docs.amazon.com/sp-api/docs/policies-and-agreements",
    ),
    Marketplace.EBAY: MarketplaceRule(
        0,
        "anonymise",
        _(
            "eBay's API License Agreement and User Agreement: buyer data for the transaction "
            "only, with no period given: the shop's retention applies."
        ),
        "https://developer.ebay.com/products/license",
    ),
    Marketplace.CDISCOUNT: MarketplaceRule(0, "anonymise", NOTHING_PUBLISHED, ""),
    Marketplace.FNAC: MarketplaceRule(0, "anonymise", NOTHING_PUBLISHED, ""),
    Marketplace.DARTY: _MIRAKL,
    Marketplace.BOULANGER: _MIRAKL,
    Marketplace.CONFORAMA: _MIRAKL,
    Marketplace.LEROY_MERLIN: _MIRAKL,
    Marketplace.CARREFOUR: _MIRAKL,
}
NONE = MarketplaceRule(0, "anonymise", "", "")


def rule_for(marketplace: str) -> MarketplaceRule:
    """The marketplace's rule; the own shop, Rakuten and others have none."""
    return RULES.get(marketplace, NONE)
