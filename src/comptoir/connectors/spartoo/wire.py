"""What the Spartoo connector and its simulator agree on: the web services, their parameters,
the XML they answer, the status codes.

Read from Spartoo's public marketplace documentation (`/mp/documentation.php` on spartoo.fr,
.co.uk and .com, pages `webservices`, `xml_export_orders`, `xml_maj_orders`,
`xml_export_returns`, `xml_maj_returns`):
- One URL per web service under `https://sws.spartoo.com/mp/` (`xml_export_orders.php`,
  `xml_export_returns.php`, `xml_maj_returns.php`...), parameters in POST (GET also works
  "unless stated otherwise"), the seller's web-service id in `partenaire`.
- Every answer is XML `<root>` with a `<statut><id>` and `<description>`: 1 means done, a
  negative id is an error: -1 `partenaire` empty, -2 unknown `partenaire`, -3 a required
  parameter missing (`date` or `oID`/`rID`), -6 order or return not found, -7 a return
  status out of order, -9 the status it already has, -428 account deactivated, -429 too many
  calls in the last hour.
- Orders: `xml_export_orders.php` takes `date` (`YYYY-MM-DD:hh:mm:ss`, orders placed after
  it) or `oID`, and `statut`; it answers `<orders><order>` with `orders_id`, `customers`
  (`customers_firstname`, `customers_lastname`, `customers_email_address`, ...) and
  `delivery` (`delivery_firstname`, ..., `relay_info` for a pick-up point). Order statuses
  (from `xml_maj_orders`): 11 new, 2 in preparation (accepted), 3 shipped (with a
  `tracking_number`), 41 cancelled, 45 lost in transit, 47 delivery failed.
- Returns: `xml_export_returns.php` takes `date` (a Unix timestamp), `oID` or `rID`, and
  `statut`; one return holds one product: `return_id`, `return_date`, `return_status`,
  `return_status_name`, `return_reason`, `order`, `product` (`products_reference`,
  `products_name`, `products_spartoo`, `products_manufacturers`, `products_size`,
  `products_color`). `xml_maj_returns.php` (`rID`, `statut`) accepts (4, from 2 or 3) or
  refuses (3, from 2) a return.

What was guessed (the documentation does not say; change it here and in the simulator when a
real answer shows otherwise):
- The order's fields after `delivery`: `date_purchased` (`YYYY-MM-DD hh:mm:ss`, Paris time),
  `orders_status`, `orders_status_name`, `currency`, `total_price`, `tracking_number`,
  `carrier_name`, and the lines in `<products><product>` with the return's product fields plus
  `products_quantity` and `products_price`. The names follow the osCommerce tables the
  documented ones come from (`orders_id`, `customers_suburb`).
- The format of `return_date` (`[DATE]` in the documentation): read as `YYYY-MM-DD hh:mm:ss`
  Paris time, or a Unix timestamp.
- The return statuses below 3: 1 requested, 2 sent back by the buyer (the seller decides).
- Pagination: none is documented. We assume an export may stop at a cap (`MAX_RESULTS`), oldest
  first: the connector asks again from the last date it read until an answer is not full, and
  drops what it already has by id.
- Rate limit: "too many calls in the last hour" (-429) is answered in the body with HTTP 200;
  the quota itself is not published. We wait for the hour to turn (`QUOTA_WAIT`).
- No messaging web service is documented: buyers write through Spartoo, which mails the seller
  (see `connectors/email/spartoo_mail.py`); replies go by mail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
BASE_URL = "https://sws.spartoo.com/mp"
EXPORT_ORDERS = "xml_export_orders.php"
EXPORT_RETURNS = "xml_export_returns.php"
UPDATE_RETURN = "xml_maj_returns.php"
SERVICES = (EXPORT_ORDERS, EXPORT_RETURNS, UPDATE_RETURN)

ORDER_DATE_PARAM = "%Y-%m-%d:%H:%M:%S"  # the `date` parameter of the order export
DATE_FIELD = "%Y-%m-%d %H:%M:%S"  # guessed: dates in the answers
MAX_RESULTS = 100  # guessed: the most an export answers at once
QUOTA_WAIT = 3600.0  # -429: the quota is per hour

OK = 1
PARTNER_EMPTY = -1
PARTNER_UNKNOWN = -2
PARAMETER_MISSING = -3
STATUS_OR_ID_MISSING = -5
NOT_FOUND = -6
BAD_CHRONOLOGY = -7
SAME_STATUS = -9
DEACTIVATED = -428
TOO_MANY_CALLS = -429
ERRORS: dict[int, str] = {
    PARTNER_EMPTY: "The parameter partenaire has not been set up or it is empty",
    PARTNER_UNKNOWN: "The parameter partenaire does not exist",
    PARAMETER_MISSING: "A required parameter is missing",
    STATUS_OR_ID_MISSING: "The rID/oID parameter or the status parameter is missing",
    NOT_FOUND: "The order or return were not found",
    BAD_CHRONOLOGY: "Problem in the return chronology",
    SAME_STATUS: "The new status is identical to the current status",
    DEACTIVATED: "Your account has been deactivated",
    TOO_MANY_CALLS: "You have made too many online requests during this 1-hour time period",
}
# Refusals no retry can mend: the channel waits for an admin.
CREDENTIAL_ERRORS = frozenset({PARTNER_EMPTY, PARTNER_UNKNOWN, DEACTIVATED})

# Spartoo's order statuses onto ours.
ORDER_STATUSES: dict[int, str] = {
    11: "pending",
    2: "accepted",
    3: "shipped",
    41: "cancelled",
    45: "unknown",  # lost in transit: Spartoo's word is shown beside it
    47: "returned",  # delivery failed: the parcel goes back to the seller
}
RETURN_REQUESTED, RETURN_SENT, RETURN_REFUSED, RETURN_ACCEPTED = 1, 2, 3, 4
RETURN_STATUS_NAMES: dict[int, str] = {
    RETURN_REQUESTED: "Retour demandé",
    RETURN_SENT: "Retour expédié",
    RETURN_REFUSED: "Retour refusé",
    RETURN_ACCEPTED: "Retour accepté",
}
CLOSED_RETURN_STATUSES = frozenset({RETURN_REFUSED, RETURN_ACCEPTED})


def format_order_date(value: datetime) -> str:
    return value.astimezone(PARIS).strftime(ORDER_DATE_PARAM)


def format_date(value: datetime) -> str:
    return value.astimezone(PARIS).strftime(DATE_FIELD)


def parse_date(text: str) -> datetime | None:
    """A date of an answer (guessed format, or a Unix timestamp); None when unreadable."""
    text = text.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    for fmt in (DATE_FIELD, ORDER_DATE_PARAM, "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=PARIS)
        except ValueError:
            continue
    return None
