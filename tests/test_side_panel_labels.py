"""The conversation's side panel names a claim's marketplace state and a buyer's identity kinds
for people, in their language, rather than the marketplace's raw words."""

from __future__ import annotations

from pathlib import Path

from django.template import Context, Template
from django.utils import translation

from comptoir.lib.cases import marketplace_state_label
from comptoir.web.templatetags.locale_fields import address_breaks, identity_label


def test_a_known_marketplace_state_is_translated() -> None:
    with translation.override("fr"):
        assert marketplace_state_label("OPEN") == "Ouvert sur la place de marché"
        assert marketplace_state_label("closed") == "Clos sur la place de marché"
    with translation.override("en"):
        assert marketplace_state_label("WAITING_SELLER_RESPONSE") == "Waiting for your answer"


def test_an_unknown_state_is_shown_as_is_but_not_shouted() -> None:
    assert marketplace_state_label("AWAITING_CARRIER_PROOF") == "Awaiting carrier proof"
    assert marketplace_state_label("En cours de traitement") == "En cours de traitement"


def test_identity_kinds_are_named() -> None:
    with translation.override("fr"):
        assert identity_label("ebay_user") == "Acheteur eBay"
        assert identity_label("rakuten_user") == "Acheteur Rakuten"
    with translation.override("en"):
        assert identity_label("email") == "Email"
        assert identity_label("some_new_kind") == "Some new kind"


def test_the_address_can_break_inside_itself_only() -> None:
    html = Template(
        '{% load locale_fields %}<span class="identity-kind">{{ k|identity_label }}</span>'
    ).render(Context({"k": "email"}))
    assert html == '<span class="identity-kind">Email</span>'
    css = Path("src/comptoir/web/static/web/app.css").read_text(encoding="utf-8")
    rule = ".customer-card .address, .customer-card .identity-value { overflow-wrap: anywhere; }"
    assert rule in css


def test_a_relay_address_wraps_after_its_at_and_dots_and_stays_escaped() -> None:
    assert address_breaks("0lu6@marketplace.amazon.de") == (
        "0lu6@<wbr>marketplace.<wbr>amazon.<wbr>de"
    )
    assert address_breaks("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
