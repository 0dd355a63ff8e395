"""Buyers' names cleaned of what the marketplaces' relays add: the relay naming itself, a
one-word name written twice, a pseudonymous handle the order's buyer name replaces; and the
greeting check asks for the clean name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from comptoir.automation.checks import CheckResult, run_checks
from comptoir.connectors.base import InboundMessage, OrderData
from comptoir.inbox.actions import Draft
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Customer, Shop
from comptoir.lib.buyers import better_name, clean_name, is_handle
from comptoir.orders.actions import store_order

Build = Callable[..., InboundMessage]


@pytest.mark.parametrize(
    ("written", "clean"),
    [
        ("Laurent Laurent - Amazon", "Laurent"),
        ("Laurent Laurent - Amazon Marketplace", "Laurent"),
        ('"Paul Durand" - Amazon', "Paul Durand"),
        ("Jean-Pierre Martin (Amazon.fr)", "Jean-Pierre Martin"),
        ("Marie Dubois via eBay", "Marie Dubois"),
        ("Marie Dubois Marie Dubois", "Marie Dubois"),
        ("Sophie  Petit", "Sophie Petit"),
        ("Anne-Marie Le Gall", "Anne-Marie Le Gall"),
        ("Laurent Rousseau", "Laurent Rousseau"),
        ("Amazon Marketplace", ""),
        ("eba-49291", "eba-49291"),
    ],
)
def test_relay_dressing_comes_off(written: str, clean: str) -> None:
    assert clean_name(written) == clean


@pytest.mark.parametrize(
    ("name", "handle"),
    [
        ("eba-49291", True),
        ("rak_7731", True),
        ("buyer1234567", True),
        ("20384756", True),
        ("Laurent", False),
        ("Marie Dubois", False),
        ("Louis XIV", False),
        ("", False),
    ],
)
def test_handles_are_told_from_names(name: str, handle: bool) -> None:
    assert is_handle(name) is handle


def test_an_order_s_name_replaces_only_a_handle_or_nothing() -> None:
    assert better_name("eba-49291", "Marc Leroy") == "Marc Leroy"
    assert better_name("", "Marc Leroy - eBay") == "Marc Leroy"
    assert better_name("Marc", "Marc Leroy") is None  # a real name, perhaps corrected by hand
    assert better_name("eba-49291", "eba-49291") is None


def checks(conv: Conversation, text: str) -> list[CheckResult]:
    return run_checks(Draft(conv, text))  # type: ignore[arg-type]


def _customer(conv_id: int) -> Customer:
    customer = Conversation.objects.select_related("customer").get(pk=conv_id).customer
    assert customer is not None
    return customer


def test_ingest_stores_the_clean_name(make_inbound: Build) -> None:
    sender = {
        "identity_kind": "email",
        "identity_value": "x7k2@marketplace.amazon.fr",
        "email": "x7k2@marketplace.amazon.fr",
        "name": "Laurent Laurent - Amazon",
    }
    conv_id = ingest(make_inbound(sender=sender)).conversation_id
    assert _customer(conv_id).name == "Laurent"


def test_an_ebay_handle_gives_way_to_the_order_s_buyer_name(
    shop: Shop, team: Any, make_inbound: Build
) -> None:
    ebay = Channel.objects.create(shop=shop, kind="api", marketplace="ebay", name="eBay", team=team)
    sender = {"identity_kind": "ebay_user", "identity_value": "eba-49291", "name": "eba-49291"}
    conv_id = ingest(
        make_inbound(channel_id=ebay.pk, sender=sender, order_number="12-34567-89012")
    ).conversation_id
    assert _customer(conv_id).name == "eba-49291"

    store_order(
        ebay,
        OrderData.model_validate(
            {
                "external_id": "12-34567-89012",
                "status": "shipped",
                "buyer": {"identity_kind": "ebay_user", "identity_value": "eba-49291",
                          "name": "Marc Leroy"},
            }
        ),
    )  # fmt: skip

    assert _customer(conv_id).name == "Marc Leroy"
    conv = Conversation.objects.select_related("customer", "channel", "shop").get(pk=conv_id)
    found = [
        r for r in checks(conv, "Bonjour,\nVotre colis est parti hier.") if r.code == "greeting"
    ]
    assert found
    assert "Marc Leroy" in found[0].message


def test_the_greeting_check_wants_the_clean_name(make_inbound: Build) -> None:
    conv_id = ingest(make_inbound()).conversation_id
    # A buyer stored before names were cleaned.
    Customer.objects.filter(pk=_customer(conv_id).pk).update(name="Laurent Laurent - Amazon")
    conv = Conversation.objects.select_related("customer", "channel", "shop").get(pk=conv_id)

    greeted = checks(conv, "Bonjour Laurent,\nVotre colis est parti hier.")
    not_greeted = checks(conv, "Bonjour,\nVotre colis est parti hier.")

    assert [r.code for r in greeted if r.code == "greeting"] == []
    warning = [r for r in not_greeted if r.code == "greeting"]
    assert warning
    assert "(Laurent)" in warning[0].message
