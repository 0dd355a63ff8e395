"""Each marketplace's published thresholds for a seller's account health, with their sources.

A seller is judged on the marketplace's figure over the marketplace's window, so every rule
carries both, and where the marketplace says it (its help pages, its seller terms). Where a
marketplace publishes nothing usable, the rule is a default, labelled as such on the page and in
the API (`published=False`), that an owner or admin may change (`ThresholdOverride`).

Every metric is held as the share of *bad* orders or messages (late, cancelled, claimed,
untracked, answered late) against the largest share allowed, so that one comparison serves
them all; the valid-tracking rate is shown the marketplace's way (tracked share, "above 95 %").

Sources, read for this module (each rule below names its own):

- Amazon, "Monitor your account health" (Seller Central help G200205250,
  https://sellercentral-europe.amazon.com/gp/help/external/help-page.html?itemID=200205250):
  the Account Health page tracks Order Defect Rate, Cancellation Rate and Late Dispatch Rate,
  the contractual criteria. Its text (as quoted from the US page): "sellers maintain an ODR under
  1 %", ODR over "a given 60-day time period" (A-to-z claims not denied, negative feedback,
  chargebacks); "a CR under 2.5 %", cancellation rate over "a given 7-day time period"
  (seller-cancelled, not those the buyer asked for). Late shipment "under 4 %" over "both a
  10-day and a 30-day period", valid tracking "over 95 %" over 30 days: Seller University's
  shipping-performance lesson (transcribed at https://amazowl.com/?p=8555 and ?p=8557).
  "Response time under 24 hours" above 90 %: the Customer Service Performance section of the
  same Account Health page (shown over 7, 30 and 90 days).
- eBay, "Seller performance policy"
  (https://www.ebay.com.au/help/policies/selling-policies/seller-performance-policy?id=4347):
  evaluated every month over the last three months (the last twelve under 400 transactions);
  "Seller performance standards" (https://ocsnext.ebay.in/ocs/sr?query=1472): Above Standard
  "no more than 2 % of your sales show a defect" (seller-cancelled transactions and cases
  closed without seller resolution) and "no more than 7.0 % of your sales shipped late"; Top
  Rated: cases closed without seller resolution at most 0.3 % and carrier-validated tracking on
  95 % of transactions (eBay's Top Rated Seller requirements, quoted at
  https://community.ebay.com/t5/Selling/Really-eBay/m-p/34483396).
- Cdiscount, its seller terms (CGMAD) as summarised at
  https://sellerhub.tv/cdiscount-changes-for-sellers/: order acceptance 97.5 %, shipping rate
  97.5 %, preparation deadline compliance 96 %; a complaint rate under 1 %
  (https://www.sellermania.com/en/comparison-of-the-quality-indicators-of-the-different-marketplaces-2/).
  Cdiscount publishes no window: 30 days, a default.
- Fnac, "Fidéliser mes clients" (https://fnacdartymarketplace.com/fideliser-mes-clients/):
  the indicators (acceptance rate, claims rate, spontaneous refunds, tracking rate, late
  deliveries) and the TOP VENDEUR criteria: acceptance ≥ 95 %, claims ≤ 3 %, late deliveries
  ≤ 5 %. The tracking rate is shown without a threshold: 95 %, a default. No window: 30 days.
- Mirakl-run marketplaces (Darty, Boulanger, Conforama, Leroy Merlin, Carrefour): each operator
  sets its indicators in its own seller terms, which are not public; Mirakl publishes none. The
  defaults follow one operator's published criteria (Alltricks, a Mirakl marketplace:
  https://alltricks-support.freshdesk.com/support/solutions/articles/101000473514: incident
  rate above 5 % and acceptance rate under 95 % suspend the shop).
- Spartoo: its public documentation (`/mp/documentation.php`, the web services) states no
  account-health threshold, and its seller terms are not public. Every Spartoo rule is a
  default, guessed from the French marketplaces above (Fnac's and Cdiscount's levels: 5 % late,
  2.5 % cancelled, 3 % claims, 30 days); returns are not counted as claims by Spartoo's web
  services, so the claims rule reads the cases opened on its returns and may read high.
- No marketplace publishes a response-time threshold but Amazon: elsewhere the late-response
  rate is held to Amazon's 10 %, a default (the 24 or 48 hours are each marketplace's own rule,
  `comptoir.sla.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise


class Metric(StrEnum):
    LATE_SHIPMENT = "late_shipment"
    CANCELLATION = "cancellation"
    LATE_RESPONSE = "late_response"
    CLAIMS = "claims"
    VALID_TRACKING = "valid_tracking"


METRIC_NAMES = {
    Metric.LATE_SHIPMENT: _("Late shipment rate"),
    Metric.CANCELLATION: _("Cancellation and refusal rate"),
    Metric.LATE_RESPONSE: _("Late response rate"),
    Metric.CLAIMS: _("Claims rate"),
    Metric.VALID_TRACKING: _("Valid tracking rate"),
}
# Shown the marketplace's way: the good share, which must stay above its threshold.
SHOWN_AS_GOOD = frozenset({Metric.VALID_TRACKING})
# `comptoir.sla.metrics` counts late responses over these windows only.
RESPONSE_WINDOWS = (7, 30, 90)


@dataclass(frozen=True)
class Rule:
    metric: Metric
    # The largest share of bad ones allowed (0..1): 0.04 for "late shipment under 4 %", 0.05
    # for "valid tracking above 95 %".
    limit: float
    window_days: int
    published: bool
    source_url: str
    source_note: _StrPromise | str

    def with_limit(self, limit: float) -> Rule:
        """The same rule with the seller's own limit: no longer the marketplace's."""
        return replace(self, limit=limit, published=False, source_note="")


AMAZON_HEALTH = (
    "https://sellercentral-europe.amazon.com/gp/help/external/help-page.html?itemID=200205250"
)
AMAZON_SHIPPING = "https://amazowl.com/?p=8555"
EBAY_POLICY = (
    "https://www.ebay.com.au/help/policies/selling-policies/seller-performance-policy?id=4347"
)
EBAY_STANDARDS = "https://ocsnext.ebay.in/ocs/sr?query=1472"
EBAY_TOP_RATED = "https://community.ebay.com/t5/Selling/Really-eBay/m-p/34483396"
CDISCOUNT_TERMS = "https://sellerhub.tv/cdiscount-changes-for-sellers/"
CDISCOUNT_CLAIMS = (
    "https://www.sellermania.com/en/"
    "comparison-of-the-quality-indicators-of-the-different-marketplaces-2/"
)
FNAC = "https://fnacdartymarketplace.com/fideliser-mes-clients/"
MIRAKL_EXAMPLE = "https://alltricks-support.freshdesk.com/support/solutions/articles/101000473514"

DEFAULT_RESPONSE = _("No published threshold: Amazon's 10 % late (90 % within 24 h), a default.")
NOTHING = _("Nothing published: a default.")
MIRAKL_NOTE = _(
    "The operator's threshold is in its seller terms, not public: a default from one Mirakl "
    "operator's published criteria."
)

AMAZON = (
    Rule(Metric.LATE_SHIPMENT, 0.04, 30, True, AMAZON_SHIPPING,
         _("Late shipment rate under 4 %, over 10 and 30 days (the 30 days here).")),
    Rule(Metric.CANCELLATION, 0.025, 7, True, AMAZON_HEALTH,
         _("Pre-fulfilment cancel rate under 2.5 % over 7 days (seller-cancelled orders).")),
    Rule(Metric.LATE_RESPONSE, 0.10, 90, True, AMAZON_HEALTH,
         _("Over 90 % of buyer messages answered within 24 hours.")),
    Rule(Metric.CLAIMS, 0.01, 60, True, AMAZON_HEALTH,
         _("Order defect rate under 1 % over 60 days (A-to-z claims, negative feedback, "
           "chargebacks): Comptoir counts the claims only, so the real rate may be higher.")),
    Rule(Metric.VALID_TRACKING, 0.05, 30, True, AMAZON_SHIPPING,
         _("Valid tracking rate above 95 % over 30 days.")),
)  # fmt: skip
EBAY = (
    Rule(Metric.LATE_SHIPMENT, 0.07, 90, True, EBAY_STANDARDS,
         _("Above Standard: at most 7 % of sales shipped late (evaluated monthly over 3 "
           "months, 12 under 400 transactions).")),
    Rule(Metric.CANCELLATION, 0.02, 90, True, EBAY_STANDARDS,
         _("Transaction defect rate at most 2 % (seller-cancelled transactions are defects).")),
    Rule(Metric.LATE_RESPONSE, 0.10, 90, False, "", DEFAULT_RESPONSE),
    Rule(Metric.CLAIMS, 0.003, 90, True, EBAY_TOP_RATED,
         _("Cases closed without seller resolution at most 0.3 %: Comptoir counts every claim "
           "eBay opened, so this reads high.")),
    Rule(Metric.VALID_TRACKING, 0.05, 90, True, EBAY_TOP_RATED,
         _("Top Rated: tracking uploaded and validated on 95 % of transactions.")),
)  # fmt: skip
CDISCOUNT = (
    Rule(Metric.LATE_SHIPMENT, 0.04, 30, True, CDISCOUNT_TERMS,
         _("Preparation deadlines met on at least 96 % of orders (window not published: "
           "30 days).")),
    Rule(Metric.CANCELLATION, 0.025, 30, True, CDISCOUNT_TERMS,
         _("Order acceptance and shipping rates of at least 97.5 %.")),
    Rule(Metric.LATE_RESPONSE, 0.10, 30, False, "", DEFAULT_RESPONSE),
    Rule(Metric.CLAIMS, 0.01, 30, True, CDISCOUNT_CLAIMS, _("Complaint rate under 1 %.")),
)  # fmt: skip
FNAC_RULES = (
    Rule(Metric.LATE_SHIPMENT, 0.05, 30, True, FNAC,
         _("TOP VENDEUR: at most 5 % of orders delivered late (window not published: "
           "30 days).")),
    Rule(Metric.CANCELLATION, 0.05, 30, True, FNAC,
         _("TOP VENDEUR: acceptance rate of 95 % or more.")),
    Rule(Metric.LATE_RESPONSE, 0.10, 30, False, "", DEFAULT_RESPONSE),
    Rule(Metric.CLAIMS, 0.03, 30, True, FNAC, _("TOP VENDEUR: claims and disputes at most 3 %.")),
    Rule(Metric.VALID_TRACKING, 0.05, 30, False, FNAC,
         _("Fnac shows the tracking rate without a threshold: 95 %, a default.")),
)  # fmt: skip
MIRAKL = (
    Rule(Metric.LATE_SHIPMENT, 0.05, 30, False, MIRAKL_EXAMPLE, MIRAKL_NOTE),
    Rule(Metric.CANCELLATION, 0.05, 30, False, MIRAKL_EXAMPLE, MIRAKL_NOTE),
    Rule(Metric.LATE_RESPONSE, 0.10, 30, False, "", DEFAULT_RESPONSE),
    Rule(Metric.CLAIMS, 0.05, 30, False, MIRAKL_EXAMPLE, MIRAKL_NOTE),
)
RAKUTEN = (
    Rule(Metric.LATE_SHIPMENT, 0.05, 30, False, "", NOTHING),
    Rule(Metric.CANCELLATION, 0.05, 30, True, CDISCOUNT_CLAIMS,
         _("Orders not confirmed: at most 5 % of sales.")),
    Rule(Metric.LATE_RESPONSE, 0.10, 30, False, "", DEFAULT_RESPONSE),
    Rule(Metric.CLAIMS, 0.05, 30, False, "", NOTHING),
)  # fmt: skip

SPARTOO_NOTE = _(
    "Spartoo publishes no threshold (its seller terms are not public): a default, guessed from "
    "the other French marketplaces."
)
SPARTOO = (
    Rule(Metric.LATE_SHIPMENT, 0.05, 30, False, "", SPARTOO_NOTE),
    Rule(Metric.CANCELLATION, 0.025, 30, False, "", SPARTOO_NOTE),
    Rule(Metric.LATE_RESPONSE, 0.10, 30, False, "", DEFAULT_RESPONSE),
    Rule(Metric.CLAIMS, 0.03, 30, False, "", SPARTOO_NOTE),
)

RULES: dict[str, tuple[Rule, ...]] = {
    "amazon": AMAZON,
    "ebay": EBAY,
    "cdiscount": CDISCOUNT,
    "fnac": FNAC_RULES,
    "rakuten": RAKUTEN,
    "spartoo": SPARTOO,
}
# The marketplaces that judge a seller's account: the shop's own mail and "other" have none.
NOT_MARKETPLACES = frozenset({"shop", "other"})


def rules_for(
    marketplace: str, overrides: dict[tuple[str, str], float] | None = None
) -> list[Rule]:
    """The marketplace's rules, with the seller's own limits where set."""
    if marketplace in NOT_MARKETPLACES:
        return []
    rules = RULES.get(marketplace, MIRAKL)
    overrides = overrides or {}
    return [
        r.with_limit(overrides[(marketplace, r.metric)])
        if (marketplace, r.metric) in overrides
        else r
        for r in rules
    ]
