"""Amazon A-to-z Guarantee claims, known from the notification mail Amazon sends the seller.

Amazon's SP-API tells a seller nothing of A-to-z claims; the seller learns of one by mail, in
the shop's mailbox (an email channel). This reads such a mail: the order number, the buyer's
reason, and the date by which Amazon wants the seller's answer.

What is guessed (Amazon publishes no format for these mails; the samples in
`tests/fixtures/atoz/` are written from sellers' descriptions, not copied from real mail):
- the sender is an address of an Amazon domain (`atoz-guarantee-no-reply@amazon.fr`, or any
  `...@amazon.<tld>` / `...@marketplace.amazon.<tld>` saying "A-to-z" / "A à z");
- the subject or the first lines name the guarantee ("A-to-z Guarantee claim", "garantie A à
  Z", "A-bis-Z-Garantie");
- the deadline is a date in the text after "by", "before", "no later than", "avant le",
  "au plus tard le", "d'ici le" (English and French dates, with a time when given; a date alone
  means the end of that day), else "within N (calendar) days" / "sous N jours" counted from the
  mail's date; a time zone named in the text (PST, PT, CET, heure de Paris) is used, else the
  marketplace's (`.com` Pacific time, the European domains Paris time), else UTC;
- a mail saying the claim was closed, withdrawn or decided ("closed", "withdrawn", "granted",
  "clôturée", "retirée", "accordée") moves the case to resolved.
A mail that names no order number is not a claim (there is nothing to follow it by).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from comptoir.cases.actions import Claim
from comptoir.cases.models import Stage
from comptoir.lib import cases as words
from comptoir.lib import intents
from comptoir.lib.order_numbers import AMAZON_ORDER

AMAZON_SENDER = re.compile(r"@(?:[\w-]+\.)*amazon\.(?:com|co\.uk|fr|de|it|es|nl|com\.be|ca)$")
GUARANTEE = re.compile(
    r"a-?to-?z|a\s+(?:à|a)\s+z\b|a-bis-z|garant[ií]a\s+de\s+la\s+a\s+a\s+la\s+z", re.IGNORECASE
)
CLOSED = re.compile(
    r"\b(?:closed|withdrawn|granted|denied|cl[ôo]tur[ée]e?|retir[ée]e?|accord[ée]e?|refus[ée]e)\b",
    re.IGNORECASE,
)
REASON = re.compile(
    r"(?:claim reason|reason for (?:the )?claim|reason|motif(?: de la réclamation)?)\s*:\s*(.+)",
    re.IGNORECASE,
)
_EN = "january february march april may june july august september october november december"
_FR = "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
_SHORT = "jan feb mar apr may jun jul aug sep oct nov dec"
_MONTHS = {
    **{m: i + 1 for names in (_EN, _FR, _SHORT) for i, m in enumerate(names.split(" "))},
    "fevrier": 2,
    "aout": 8,
    "decembre": 12,
    "sept": 9,
}
_MONTH = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_LEAD = r"(?:by|before|no later than|until|avant le|au plus tard le|d'ici le|jusqu'au)"
_TIME = r"(?:\s*(?:,|at|à)?\s*(?P<h>\d{1,2})[:h](?P<mi>\d{2})?\s*(?P<ampm>[ap]\.?m\.?)?)?"
DATE_PATTERNS = [
    # by December 12, 2026 (11:59 PM PST) / by Dec 12, 2026
    re.compile(
        rf"{_LEAD}\s+(?:\w+day,?\s+)?(?P<mon>{_MONTH})\.?\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}}){_TIME}",
        re.IGNORECASE,
    ),
    # avant le 12 décembre 2026 (à 23h59) / by 12 December 2026
    re.compile(
        rf"{_LEAD}\s+(?:\w+\s+)?(?P<d>\d{{1,2}})(?:er)?\s+(?P<mon>{_MONTH})\.?\s+(?P<y>\d{{4}}){_TIME}",
        re.IGNORECASE,
    ),
    # avant le 12/12/2026 (day first, as Europe writes it) / by 2026-12-12
    re.compile(rf"{_LEAD}\s+(?P<d>\d{{1,2}})/(?P<m>\d{{1,2}})/(?P<y>\d{{4}}){_TIME}", re.I),
    re.compile(rf"{_LEAD}\s+(?P<y>\d{{4}})-(?P<m>\d{{2}})-(?P<d>\d{{2}}){_TIME}", re.I),
]
WITHIN = re.compile(
    r"(?:within|sous|dans un délai de|dans les)\s+(?P<n>\d{1,2})\s+(?:calendar\s+)?"
    r"(?P<unit>days?|jours?|hours?|heures?)",
    re.IGNORECASE,
)
ZONES = [
    (re.compile(r"\b(?:PST|PDT|PT|Pacific)\b"), "America/Los_Angeles"),
    (re.compile(r"\b(?:CET|CEST|heure de Paris|Paris time)\b", re.IGNORECASE), "Europe/Paris"),
    (re.compile(r"\b(?:GMT|BST|UK time)\b"), "Europe/London"),
    (re.compile(r"\bUTC\b"), "UTC"),
]


AMOUNT = re.compile(
    r"(?:claim amount|amount claimed|montant(?: de la réclamation| réclamé)?)\s*:\s*"
    r"(?:(?P<c1>[A-Z]{3})\s*)?(?P<v>\d+(?:[.,]\d{1,2})?)\s*(?P<c2>[A-Z]{3}|€|£|\$)?",
    re.IGNORECASE,
)
SYMBOLS = {"€": "EUR", "£": "GBP", "$": "USD"}


def is_notification(sender: str, subject: str, text: str) -> bool:
    """An A-to-z mail from Amazon, not a buyer naming the guarantee through Amazon's relay
    (`...@marketplace.amazon.fr`)."""
    address = sender.lower()
    if not AMAZON_SENDER.search(address) or "@marketplace.amazon." in address:
        return False
    if address.startswith("atoz"):
        return bool(GUARANTEE.search(subject) or GUARANTEE.search(text[:600]))
    return bool(GUARANTEE.search(subject))


def _amount(text: str) -> tuple[Decimal | None, str]:
    found = AMOUNT.search(text)
    if found is None:
        return None, ""
    currency = found.group("c1") or found.group("c2") or ""
    try:
        value = Decimal(found.group("v").replace(",", "."))
    except InvalidOperation:
        return None, ""
    return value, SYMBOLS.get(currency, currency.upper())


def claim_of_mail(sender: str, subject: str, text: str, sent_at: datetime) -> Claim | None:
    """The claim an A-to-z mail tells of, or None for any other mail."""
    if not is_notification(sender, subject, text):
        return None
    found = AMAZON_ORDER.search(subject) or AMAZON_ORDER.search(text)
    if found is None:
        return None
    reason_found = REASON.search(text)
    reason = reason_found.group(1).strip()[:64] if reason_found else ""
    closed = bool(CLOSED.search(subject))
    amount, currency = _amount(text)
    return Claim(
        external_id=f"atoz:{found.group(1)}",
        claim_kind="amazon_atoz",
        kind=words.KIND_OF_INTENT.get(intents.from_reason(reason), "marketplace_claim")
        if reason
        else "marketplace_claim",
        reason=reason,
        status="CLOSED" if closed else "OPEN",
        stage=Stage.RESOLVED if closed else "",
        deadline=None if closed else deadline_in(text, sent_at, sender),
        opened_at=None if closed else sent_at,
        claimed_amount=amount,
        currency=currency if amount is not None else "",
    )


def _zone(text: str, sender: str) -> ZoneInfo:
    for pattern, name in ZONES:
        if pattern.search(text):
            return ZoneInfo(name)
    if sender.lower().endswith(("amazon.com", "amazon.ca")):
        return ZoneInfo("America/Los_Angeles")
    if sender.lower().endswith(("amazon.co.uk",)):
        return ZoneInfo("Europe/London")
    if re.search(r"amazon\.(?:fr|de|it|es|nl|com\.be)$", sender.lower()):
        return ZoneInfo("Europe/Paris")
    return ZoneInfo("UTC")


def deadline_in(text: str, sent_at: datetime, sender: str = "") -> datetime | None:
    """The date by which the seller must answer, as the mail states it; None if it does not."""
    zone = _zone(text, sender)
    for pattern in DATE_PATTERNS:
        found = pattern.search(text)
        if found is None:
            continue
        parts = found.groupdict()
        month = int(parts["m"]) if parts.get("m") else _MONTHS[parts["mon"].lower().rstrip(".")]
        try:
            day = datetime(int(parts["y"]), month, int(parts["d"])).date()
        except ValueError:
            continue
        at = time(23, 59)
        if parts.get("h"):
            hour = int(parts["h"]) % 24
            ampm = (parts.get("ampm") or "").lower().replace(".", "")
            if ampm == "pm" and hour < 12:
                hour += 12
            elif ampm == "am" and hour == 12:
                hour = 0
            at = time(hour, min(int(parts.get("mi") or 0), 59))
        return datetime.combine(day, at, tzinfo=zone)
    within = WITHIN.search(text)
    if within is not None:
        n = int(within.group("n"))
        hours = n if within.group("unit").lower().startswith(("hour", "heure")) else n * 24
        return sent_at + timedelta(hours=hours)
    return None
