"""What a buyer's text names: order and parcel numbers, amounts, dates, EANs and SKUs.

Pure and fast (one precompiled regex per family, one pass each). Families are read in order of
trust, and a span taken by one is not read again by the next: an order number is not also a
parcel, an amount or a date; a phone number is nobody's. Limits: docs/triage.md.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from comptoir.lib.order_numbers import AMAZON_ORDER, EBAY_ORDER, SHOP_ORDER


@dataclass(frozen=True, slots=True)
class Entity:
    kind: str  # "order" | "parcel" | "amount" | "date" | "ean" | "sku"
    value: str  # normalised (see `extract`)
    source: str  # order: marketplace or "shop"; parcel: carrier or ""; amount: ISO currency
    start: int
    end: int


MAX_CHARS = 20_000  # read no further: bounds the cost of a pasted log or a long thread

# --- orders -----------------------------------------------------------------------------------
# Cdiscount: the order's date and time (YYMMDDHHMM), then letters. Fnac: 13 capitals and digits
# (both), case kept so a long word in capitals is still not one. Mirakl: the commercial id and a
# suffix per shop ("123456789-A", "DRT-1001-A").
_ORDERS = re.compile(
    r"(?=[0-9A-Z#])(?:"  # a cheap first test at each position
    rf"(?P<amazon>{AMAZON_ORDER.pattern})"
    rf"|(?P<ebay>{EBAY_ORDER.pattern})"
    r"|(?P<cdiscount>\b\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{4}[A-Za-z]{3,6}\b)"
    r"|(?P<mirakl>\b(?:[A-Z]{2,5}-)?\d{4,12}-[A-Z]\b)"
    r"|(?P<fnac>\b(?=[0-9A-Z]{0,12}\d)(?=[0-9A-Z]{0,12}[A-Z])[0-9A-Z]{13}\b)"
    r"|(?P<hash>(?<![\w&])#\s?(?P<hashno>\d{4,10})\b))"
)
# A Colissimo number is 13 characters too: a Fnac id needs a reason to be one.
_COLISSIMO_FORM = re.compile(r"\d[A-Z]\d{11}")
_FNAC_WORD = re.compile(r"\bfnac\b", re.IGNORECASE)

# --- phones: taken so that no family reads them ------------------------------------------------
_PHONES = re.compile(
    r"(?<![\w+])(?:\+|00)\d{2,3}[\s.]?\(?0?\)?\d(?:[\s.-]?\d{2,3}){3,4}\b"
    r"|\b0[1-9](?:[\s.-]?\d{2}){4}\b"
    r"|\b0[1-9]\d{2}[\s.-]\d{3}[\s.-]\d{3,4}\b"  # 0151 234 5678 (de), 0612 345 678
)

# --- parcels ----------------------------------------------------------------------------------
_CARRIERS = re.compile(
    r"\b(?P<colissimo>colissimo)\b|\b(?P<chronopost>chrono ?post)\b"
    r"|\b(?P<mondial_relay>mondial ?relay|relais colis)\b|\b(?P<dpd>dpd)\b|\b(?P<gls>gls)\b"
    r"|\b(?P<ups>ups)\b|\b(?P<dhl>dhl)\b|\b(?P<fedex>fed ?ex|tnt)\b"
    r"|\b(?P<laposte>la ?poste|lettre suivie|post ?nl|correos|poste ?italiane|inpost)\b"
    r"|(?P<tracking>\btracking\b|\bsuivi\b|\bsendungs?(?:nummer|verfolgung)\b|\bseguimiento\b"
    r"|\btracciamento\b|\bspedizione\b|\bcolis\b|\bparcel\b|\bpaket\b|\bpaquete\b|\bpacco\b"
    r"|\blettre\b|\bpaczk\w*|\bencomenda\b|\bzending\b|\bshipment\b|\benvoi\b|\bexp[ée]dition\b)",
    re.IGNORECASE,
)
_PARCELS = re.compile(
    r"\b(?P<ups>1[Zz][0-9A-Za-z]{16})\b"
    r"|\b(?P<s10>[A-Z]{2}\d{9}[A-Z]{2})\b"
    r"|\b(?P<laposte>\d[A-Z]\d{11})\b"
    r"|\b(?P<dhl>JJD\d{16,20}|JVGL\d{12,20})\b"
    r"|\b(?P<digits>\d{8,22})\b"
)
# Lengths of the digit-only numbers each carrier gives (those need the carrier named nearby).
_DIGIT_LENGTHS = {
    "mondial_relay": {8, 10, 12},
    "dpd": {14},
    "gls": {11, 12},
    "dhl": {10, 12, 20},
    "fedex": {12, 15, 20, 22},
    "colissimo": {13},
    "chronopost": {13},
    "laposte": {13},
    "ups": {9, 18},
}
_NEAR = 60  # characters between a carrier's name and its number
# S10 (UPU) service letters in France: who carries it when no name is written.
_S10_FR = {"C": "colissimo", "V": "colissimo", "E": "chronopost", "X": "chronopost"}
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)

# --- EAN and SKU ------------------------------------------------------------------------------
_EAN = re.compile(r"\b\d{13}\b")
_SKU = re.compile(
    r"(?:\bsku|\br[ée]f(?:[ée]rence)?\b\.?|\bref\b\.?|\bart(?:ikel)?\.?[ -]?nr\b\.?"
    r"|\bartikelnummer|\breferencia|\brif(?:erimento)?\b\.?|\bcodice(?: articolo)?"
    r"|\bitem (?:no|number)\b\.?|\bproduct code|\bmpn)"
    r"[ \t]*(?:n[°º]|no\.?|#)?[ \t]*[:#]?[ \t]*"
    r"(?P<sku>(?=[\w./-]*\d)[A-Za-z0-9][\w./-]{1,30}[A-Za-z0-9])",
    re.IGNORECASE,
)

# --- amounts ----------------------------------------------------------------------------------
_NUMBER = r"\d{1,3}(?:[ .,\u00a0\u202f']\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_CUR_BEFORE = r"€|£|\$|\bEUR\b|\bGBP\b|\bUSD\b|\bCHF\b|\bPLN\b|\bUS\$"
_CUR_AFTER = (
    r"€|£|\$|eur(?:os?)?\b|euro\b|gbp\b|pounds?\b|livres?(?: sterling)?\b|usd\b|dollars?\b"
    r"|chf\b|francs? suisses?\b|fr\.|pln\b|z[łl](?:otych|oty|\b)"
)
_AMOUNTS = re.compile(
    r"(?=[\d€£$egucpEGUCP])(?:"  # a cheap first test at each position
    rf"(?P<cur1>{_CUR_BEFORE})[ \u00a0]?(?P<n1>{_NUMBER})(?![\d.,]\d)"
    rf"|(?<![\w.,])(?P<n2>{_NUMBER})[ \u00a0]?(?P<cur2>{_CUR_AFTER})(?P<cents>\d{{2}}\b)?)",
    re.IGNORECASE,
)
_CURRENCY = {
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP",
    "pound": "GBP", "pounds": "GBP", "livre": "GBP", "livres": "GBP", "$": "USD", "us$": "USD",
    "usd": "USD", "dollar": "USD", "dollars": "USD", "chf": "CHF", "fr.": "CHF", "franc": "CHF",
    "francs": "CHF", "pln": "PLN", "zł": "PLN", "zl": "PLN", "złotych": "PLN", "zlotych": "PLN",
    "złoty": "PLN", "zloty": "PLN",
}  # fmt: skip

# --- dates ------------------------------------------------------------------------------------
_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("janvier", "janv", "january", "jan", "januar", "jänner", "enero", "ene", "gennaio", "genn"),
    2: ("février", "fevrier", "févr", "fevr", "february", "feb", "februar", "febrero", "febbraio"),
    3: ("mars", "march", "mar", "märz", "maerz", "marz", "marzo"),
    4: ("avril", "avr", "april", "apr", "abril", "abr", "aprile"),
    5: ("mai", "may", "mayo", "maggio", "mag"),
    6: ("juin", "june", "jun", "juni", "junio", "giugno", "giu"),
    7: ("juillet", "juil", "july", "jul", "juli", "julio", "luglio", "lug"),
    8: ("août", "aout", "august", "aug", "agosto", "ago"),
    9: ("septembre", "sept", "september", "sep", "septiembre", "setiembre", "settembre", "set"),
    10: ("octobre", "oct", "october", "oktober", "okt", "octubre", "ottobre", "ott"),
    11: ("novembre", "nov", "november", "noviembre"),
    12: ("décembre", "decembre", "déc", "dec", "december", "dezember", "dez", "diciembre",
         "dic", "dicembre"),
}  # fmt: skip
_MONTH_OF = {name: n for n, names in _MONTHS.items() for name in names}


def _trie(words: Sequence[str]) -> str:
    """An alternation of `words` as a trie ("ma(?:rs|rch|i)"): each branch is tried once per
    character instead of once per word, which is what keeps the date pass fast."""
    tree: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = tree
        for c in word:
            node = node.setdefault(c, {})
        node[""] = {}

    def walk(node: dict) -> str:  # type: ignore[type-arg]
        ends = "" in node
        branches = [re.escape(c) + walk(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return f"(?:{body})?" if len(branches) > 1 or len(body) > 1 else f"{body}?"
        return body

    return walk(tree)


_MONTH = _trie(list(_MONTH_OF))
_DATES = re.compile(
    r"\b(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})\b"
    r"|\b(?P<nd>\d{1,2})(?P<sep>[/.-])(?P<nm>\d{1,2})(?P=sep)(?P<ny>\d{4}|\d{2})\b(?![.,]\d)"
    r"|\b(?P<sd>\d{1,2})/(?P<sm>\d{2})\b(?![/.,]\d)"
    rf"|\b(?P<td>\d{{1,2}})(?:er|st|nd|rd|th|º|°|\.)?[ \t]+(?:de[ \t]+)?(?P<tm>{_MONTH})\b\.?"
    r"(?:[ \t]+(?:de[ \t]+)?(?P<ty>\d{4})\b(?![-/.]\d))?"
    rf"|\b(?P<em>{_MONTH})\b\.?[ \t]+(?P<ed>\d{{1,2}})(?:st|nd|rd|th)?\b"
    r"(?:,?[ \t]+(?P<ey>\d{4})\b(?![-/.]\d))?",
    re.IGNORECASE,
)


class _Taken:
    """The spans already reported (or set aside, like phone numbers): never overlapping, kept
    sorted, so a check is a bisection even on a text with thousands of numbers."""

    __slots__ = ("ends", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def free(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start)
        before_ok = i == 0 or self.ends[i - 1] <= start
        after_ok = i == len(self.starts) or self.starts[i] >= end
        return before_ok and after_ok

    def take(self, start: int, end: int) -> None:
        i = bisect.bisect_right(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)


def extract(
    text: str,
    *,
    hint: str = "",
    shop_order: re.Pattern[str] | None = None,
    today: date | None = None,
) -> list[Entity]:
    """Every entity in `text`, in the order they appear.

    `hint` is the channel's kind ("amazon", "fnac", "email"…): it decides formats that are not
    one marketplace's alone. `shop_order` is the shop's own order-number pattern (group 1, or
    the whole match). A date without a year takes the year that puts it nearest before `today`.
    """
    text = text[:MAX_CHARS]
    taken = _Taken()
    found: list[Entity] = []
    found += _orders(text, hint.lower(), shop_order, taken)
    for m in _PHONES.finditer(text):
        if taken.free(m.start(), m.end()):
            taken.take(m.start(), m.end())
    found += _parcels(text, taken)
    found += _eans_and_skus(text, taken)
    found += _amounts(text, taken)
    found += _dates(text, today or date.today(), taken)
    found.sort(key=lambda e: e.start)
    return found


def to_json(entities: Sequence[Entity]) -> list[dict[str, str]]:
    """kind, value and source of each entity, each once (first-seen order)."""
    seen: set[tuple[str, str, str]] = set()
    out: list[dict[str, str]] = []
    for e in entities:
        key = (e.kind, e.value, e.source)
        if key not in seen:
            seen.add(key)
            out.append({"kind": e.kind, "value": e.value, "source": e.source})
    return out


def _order(value: str, source: str, m: re.Match[str], group: int | str, taken: _Taken) -> Entity:
    start, end = m.span(group)
    taken.take(start, end)
    return Entity("order", re.sub(r"\s+", "", value).upper(), source, start, end)


def _orders(
    text: str, hint: str, shop_order: re.Pattern[str] | None, taken: _Taken
) -> list[Entity]:
    out: list[Entity] = []
    if shop_order is not None:
        for m in shop_order.finditer(text):
            group = 1 if shop_order.groups else 0
            out.append(_order(m.group(group), "shop", m, group, taken))
    for m in _ORDERS.finditer(text):
        kind = m.lastgroup or ""
        if kind == "hashno" or not taken.free(m.start(), m.end()):
            continue
        if kind == "hash":
            out.append(_order(m.group("hashno"), _shop_source(hint), m, "hashno", taken))
        elif kind != "fnac" or _is_fnac(text, m, hint):
            out.append(_order(m.group(), kind, m, 0, taken))
    for m in SHOP_ORDER.finditer(text):
        if taken.free(*m.span(1)) and not _PHONES.fullmatch(m.group(1)):
            out.append(_order(m.group(1), _shop_source(hint), m, 1, taken))
    return out


def _shop_source(hint: str) -> str:
    """An order number introduced by words only: the channel's if it gives bare numbers."""
    return hint if hint in ("rakuten", "cdiscount", "fnac", "mirakl") else "shop"


def _is_fnac(text: str, m: re.Match[str], hint: str) -> bool:
    if _COLISSIMO_FORM.fullmatch(m.group()) and not _introduced_as_order(text, m.start()):
        return False
    return hint == "fnac" or bool(_FNAC_WORD.search(text)) or _introduced_as_order(text, m.start())


_ORDER_WORDS = re.compile(
    r"(?:commande|order|bestellung|pedido|ordine|encomenda|zamówieni\w*|bestelling)\W{0,12}$",
    re.IGNORECASE,
)


def _introduced_as_order(text: str, start: int) -> bool:
    return bool(_ORDER_WORDS.search(text, max(0, start - 30), start))


# --- parcels ----------------------------------------------------------------------------------


def _parcels(text: str, taken: _Taken) -> list[Entity]:
    mentions: list[tuple[int, str]] | None = None  # read only when a number may be a parcel
    out: list[Entity] = []
    for m in _PARCELS.finditer(text):
        start, end = m.span()
        if not taken.free(start, end):
            continue
        if mentions is None:
            mentions = [(c.start(), c.lastgroup or "") for c in _CARRIERS.finditer(text)]
        number = m.group().upper()
        carrier = _parcel_carrier(m.lastgroup or "", number, _near(mentions, start, end))
        if carrier is not None:
            taken.take(start, end)
            out.append(Entity("parcel", number, carrier, start, end))
    return out


def _near(mentions: list[tuple[int, str]], start: int, end: int) -> list[str]:
    """Carriers (and "tracking" words) written within `_NEAR` characters, nearest first."""
    close = [(min(abs(at - start), abs(at - end)), name) for at, name in mentions]
    return [name for distance, name in sorted(close) if distance <= _NEAR]


def _parcel_carrier(form: str, number: str, near: list[str]) -> str | None:
    """The carrier of a parcel number, "" when unknown, None when it is no parcel number."""
    named = [name for name in near if name != "tracking"]
    if form == "ups":
        return "ups" if _ups_ok(number) else None
    if form == "s10":
        if not _s10_ok(number):
            return named[0] if named else None
        return (
            named[0]
            if named
            else _S10_FR.get(number[0], "laposte")
            if number.endswith("FR")
            else ""
        )
    if form == "laposte":
        return "laposte" if number[0] == "1" else "colissimo"
    if form == "dhl":
        return "dhl"
    for name in named:
        if len(number) in _DIGIT_LENGTHS.get(name, ()):
            return name
    if len(number) == 13 and _ean_ok(number):
        return None  # a product's EAN, unless a carrier was named
    return "" if "tracking" in near and len(number) >= 10 else None


def _ups_ok(number: str) -> bool:
    """UPS 1Z: the last character checks the 15 before it (letters count as digits)."""
    body = number[2:17]
    total = 0
    for i, c in enumerate(body):
        value = int(c) if c.isdigit() else (ord(c) - 63) % 10
        total += value * (2 if i % 2 else 1)
    return number[17].isdigit() and (10 - total % 10) % 10 == int(number[17])


def _s10_ok(number: str) -> bool:
    """UPU S10: 8 digits weighted 8 6 4 2 3 5 9 7, mod 11, then the check digit."""
    digits = number[2:11]
    check = 11 - sum(int(d) * w for d, w in zip(digits[:8], _S10_WEIGHTS, strict=True)) % 11
    expected = {10: 0, 11: 5}.get(check, check)
    return int(digits[8]) == expected


def _ean_ok(number: str) -> bool:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(number[:12]))
    return (10 - total % 10) % 10 == int(number[12])


# --- EAN, SKU ---------------------------------------------------------------------------------


def _eans_and_skus(text: str, taken: _Taken) -> list[Entity]:
    out: list[Entity] = []
    for m in _SKU.finditer(text):
        start, end = m.span("sku")
        if taken.free(start, end) and not _ean_ok_span(m.group("sku")):
            taken.take(start, end)
            out.append(Entity("sku", m.group("sku").upper(), "", start, end))
    for m in _EAN.finditer(text):
        if taken.free(m.start(), m.end()) and _ean_ok(m.group()):
            taken.take(m.start(), m.end())
            out.append(Entity("ean", m.group(), "", m.start(), m.end()))
    return out


def _ean_ok_span(value: str) -> bool:
    """An introduced reference that is an EAN is reported as the EAN."""
    return len(value) == 13 and value.isdigit() and _ean_ok(value)


# --- amounts ----------------------------------------------------------------------------------


def _amounts(text: str, taken: _Taken) -> list[Entity]:
    out: list[Entity] = []
    for m in _AMOUNTS.finditer(text):
        start, end = m.span()
        if not taken.free(start, end):
            continue
        number = m.group("n1") or m.group("n2")
        symbol = (m.group("cur1") or m.group("cur2")).lower().rstrip()
        value = _decimal(number)
        if m.group("cents"):
            if "," in number or "." in number:
                continue  # "49,90€12": not an amount anyone writes
            value = f"{number}.{m.group('cents')}"
        currency = _CURRENCY.get(symbol) or _CURRENCY.get(re.sub(r"\W.*", "", symbol), "")
        if symbol.startswith(("livre", "franc")):
            currency = "GBP" if symbol.startswith("livre") else "CHF"
        if value is None or not currency:
            continue
        taken.take(start, end)
        out.append(Entity("amount", value, currency, start, end))
    return out


def _decimal(number: str) -> str | None:
    """ "1 299,00" -> "1299.00", "49,9" -> "49.90", "1.299" -> "1299.00"."""
    cleaned = re.sub(r"[\s\u00a0\u202f']", "", number)
    whole, cents = cleaned, ""
    last = max(cleaned.rfind(","), cleaned.rfind("."))
    if last >= 0 and len(cleaned) - last - 1 in (1, 2):
        whole, cents = cleaned[:last], cleaned[last + 1 :]
    whole = whole.replace(",", "").replace(".", "")
    if not whole.isdigit():
        return None
    return f"{int(whole)}.{cents.ljust(2, '0')}"


# --- dates ------------------------------------------------------------------------------------


def _dates(text: str, today: date, taken: _Taken) -> list[Entity]:
    out: list[Entity] = []
    for m in _DATES.finditer(text):
        start, end = m.span()
        if not taken.free(start, end):
            continue
        day, month, year = _date_parts(m)
        found = _resolve(day, month, year, today)
        if found is not None:
            taken.take(start, end)
            out.append(Entity("date", found.isoformat(), "", start, end))
    return out


def _date_parts(m: re.Match[str]) -> tuple[int, int, int | None]:
    g = m.groupdict()
    if g["iy"]:
        return int(g["id"]), int(g["im"]), int(g["iy"])
    if g["nd"]:
        year = int(g["ny"])
        day, month = int(g["nd"]), int(g["nm"])
        if month > 12 >= day:  # 03/12/2026 written the American way
            day, month = month, day
        return day, month, year + 2000 if year < 100 else year
    if g["sd"]:
        return int(g["sd"]), int(g["sm"]), None
    if g["td"]:
        name, day, year_text = g["tm"], int(g["td"]), g["ty"]
    else:
        name, day, year_text = g["em"], int(g["ed"]), g["ey"]
    return day, _MONTH_OF[name.lower()], int(year_text) if year_text else None


def _resolve(day: int, month: int, year: int | None, today: date) -> date | None:
    """A real date; without a year, the one nearest before (or on) `today`."""
    years = [year] if year is not None else [today.year, today.year - 1]
    for candidate in years:
        try:
            found = date(candidate, month, day)
        except ValueError:
            continue
        if year is not None or found <= today:
            return found if 1990 <= found.year <= 2100 else None
    return None
