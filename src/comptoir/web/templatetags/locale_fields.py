"""Day fields in the page's language: `{{ value|dayfield }}` fills one, `{% day_pattern %}` is
its placeholder (jj/mm/aaaa in French); the views read both forms (`lib.dates.parse_day`).
`{{ n|number }}` groups a count's thousands as the language does; `{{ key|marketplace_label }}`
names a marketplace in it; `identity_label` and `marketplace_state` name a buyer's identity kind
and a claim's raw state at the marketplace."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import translation
from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from comptoir.inbox.choices import Marketplace
from comptoir.lib.cases import marketplace_state_label
from comptoir.lib.cases import money as money_text
from comptoir.lib.dates import day_format, format_day, format_moment, moment_format

register = template.Library()


@register.filter
def dayfield(value: date | str | None) -> str:
    if value is None or value == "":
        return ""
    return format_day(value, translation.get_language() or "")


@register.simple_tag
def day_pattern() -> str:
    return day_format(translation.get_language() or "")[1]


@register.filter
def number(value: object) -> object:
    """A count grouped as the language groups thousands (1 234 in French, 1,234 in English);
    anything else (a "99+", a dash) as it is. Not USE_THOUSAND_SEPARATOR: ids in URLs too would
    be grouped."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return number_format(value, force_grouping=True)


@register.filter
def momentfield(value: datetime | str | None) -> str:
    """A day and time field's value (naive, already in the user's timezone)."""
    if value is None or value == "":
        return ""
    return format_moment(value, translation.get_language() or "")


@register.simple_tag
def moment_pattern() -> str:
    return moment_format(translation.get_language() or "")[1]


@register.filter
def marketplace_label(key: str) -> str:
    """A marketplace's name in the page's language, from its key: the nav's counts are cached
    for every language alike, so their label is the language of whoever filled the cache."""
    labels = dict(Marketplace.choices)
    return str(labels[key]) if key in labels else key


# How each channel names a buyer (CustomerIdentity.kind), for the conversation's side panel.
IDENTITY_KINDS = {
    "email": _("Email"),
    "ebay_user": _("eBay buyer"),
    "ebay_system": _("eBay"),
    "amazon_buyer": _("Amazon buyer"),
    "cdiscount_customer": _("Cdiscount buyer"),
    "fnac_customer": _("Fnac buyer"),
    "fnac_shop": _("Fnac shop"),
    "fnac_callcenter": _("Fnac customer service"),
    "mirakl_customer": _("Marketplace buyer"),
    "mirakl_operator": _("Marketplace operator"),
    "rakuten_user": _("Rakuten buyer"),
    "spartoo_order": _("Spartoo order"),
    "whatsapp": _("WhatsApp"),
    "chat_visitor": _("Chat visitor"),
    "history": _("Imported history"),
}


@register.filter
def identity_label(kind: str) -> str:
    """An identity kind's name ("ebay_user" → "eBay buyer"); an unknown one readable as is."""
    if kind in IDENTITY_KINDS:
        return str(IDENTITY_KINDS[kind])
    return kind.replace("_", " ").capitalize()


@register.filter
def marketplace_state(raw: str) -> str:
    return marketplace_state_label(raw or "")


@register.filter
def address_breaks(value: str) -> SafeString:
    """An address that may wrap after its "@" and its dots (`<wbr>`), not in the middle of a
    word: a marketplace's relay addresses are longer than the side panel is wide."""
    text = str(escape(value or ""))
    return mark_safe(text.replace("@", "@<wbr>").replace(".", ".<wbr>"))  # escaped above


@register.filter
def money(amount: object, currency: str = "") -> str:
    """An amount with its currency as the language writes it ("218,90 EUR" in French)."""
    if amount is None or amount == "":
        return ""
    return money_text(amount, currency)
