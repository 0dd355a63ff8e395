"""Triage finds the orders, parcels, amounts, dates, EANs and SKUs a buyer writes, in the formats
each marketplace, carrier and language uses, and not the numbers that only look like them."""

from __future__ import annotations

import re
from datetime import date

import pytest

from comptoir.triage.entities import Entity, extract, to_json

TODAY = date(2026, 3, 20)


def found(
    text: str, hint: str = "", shop_order: re.Pattern[str] | None = None
) -> list[tuple[str, str, str]]:
    entities = extract(text, hint=hint, shop_order=shop_order, today=TODAY)
    return [(e.kind, e.value, e.source) for e in entities]


ORDERS = [
    (
        "Bonjour, ma commande 402-1234567-1234567 n'est pas arrivee",
        "amazon",
        "402-1234567-1234567",
        "amazon",
    ),
    ("Hi, order 171-0000001-9999999 is missing a part", "email", "171-0000001-9999999", "amazon"),
    ("Artikel aus Bestellung 12-34567-89012 defekt", "ebay", "12-34567-89012", "ebay"),
    ("Commande 2311231456ABCDE : toujours rien", "cdiscount", "2311231456ABCDE", "cdiscount"),
    ("Où est ma commande 2311231456abc ?", "email", "2311231456ABC", "cdiscount"),
    ("Ma commande 1M8D7ZC5CJQ9U n'est pas complète", "fnac", "1M8D7ZC5CJQ9U", "fnac"),
    ("Commande Fnac 7K2P9QX4M1B8Z reçue cassée", "email", "7K2P9QX4M1B8Z", "fnac"),
    ("commande 12345678-A reçue incomplète", "mirakl", "12345678-A", "mirakl"),
    ("Darty DRT-1001-A: le four ne chauffe pas", "mirakl", "DRT-1001-A", "mirakl"),
    ("Re: #10452 — toujours pas reçu", "email", "10452", "shop"),
    ("Bonjour, commande n° 10234 du site", "email", "10234", "shop"),
    ("Bestellnummer: 88812, bitte um Rückruf", "email", "88812", "shop"),
    ("pedido nº 4411 no ha llegado", "email", "4411", "shop"),
    ("ordine n. 7731 arrivato rotto", "email", "7731", "shop"),
    ("Order #A-5531 was wrong", "email", "A-5531", "shop"),
    ("Bestellung 1234567890 nicht angekommen", "rakuten", "1234567890", "rakuten"),
]


@pytest.mark.parametrize(("text", "hint", "value", "source"), ORDERS)
def test_order_numbers_in_each_marketplace_format(
    text: str, hint: str, value: str, source: str
) -> None:
    assert ("order", value, source) in found(text, hint)


def test_the_shops_own_pattern_is_read_first() -> None:
    shop = re.compile(r"\bML-(\d{6})\b")
    assert found("Ma commande ML-104522 est partie ?", "email", shop_order=shop) == [
        ("order", "104522", "shop")
    ]


NOT_ORDERS = [
    ("Appelez-moi au 06 12 34 56 78 svp", ""),
    ("mon numéro : 0612345678", ""),
    ("call me on +44 7700 900123 please", ""),
    ("Rufen Sie mich an: 0151 234 5678", ""),
    ("commande 0612345678 c'est mon tel", ""),  # a phone number is nobody's order
    ("la commande en retard depuis mardi", ""),  # words, no number
    ("order status please", ""),
    ("COMMANDEZ REMBOURSEMENT", ""),  # capitals, no digit
    ("la ref est 2026 et j'ai payé 12", ""),  # a year and a bare number
    ("#1 best lamp, #12 on the list", ""),  # too short for a shop number
]


@pytest.mark.parametrize(("text", "hint"), NOT_ORDERS)
def test_phone_numbers_years_and_words_are_not_orders(text: str, hint: str) -> None:
    assert [e for e in found(text, hint) if e[0] == "order"] == []


def test_a_fnac_like_code_needs_a_reason_and_a_colissimo_number_stays_a_parcel() -> None:
    assert found("Le code 7K2P9QX4M1B8Z s'affiche", "email") == []
    assert found("Colissimo 6A12345678901", "fnac") == [("parcel", "6A12345678901", "colissimo")]


PARCELS = [
    ("colis Colissimo 6A12345678901 bloqué", "6A12345678901", "colissimo"),
    ("suivi 8R01234567891 rien depuis lundi", "8R01234567891", "colissimo"),
    ("ma lettre suivie 1K01234567890", "1K01234567890", "laposte"),
    ("Chronopost XW123456785FR", "XW123456785FR", "chronopost"),
    ("tracking RR123456785FR", "RR123456785FR", "laposte"),
    ("Sendung CP123456785DE kam nicht", "CP123456785DE", ""),
    ("UPS 1Z999AA10123456784 delivered?", "1Z999AA10123456784", "ups"),
    ("tracking 1z999aa10123456784", "1Z999AA10123456784", "ups"),
    ("colis GLS 12345678901 jamais reçu", "12345678901", "gls"),
    ("Mondial Relay : 12345678", "12345678", "mondial_relay"),
    ("le colis Mondial Relay n° 87654321 est au point relais", "87654321", "mondial_relay"),
    ("DPD Paket 01234567890123 liegt im Depot", "01234567890123", "dpd"),
    ("DHL Sendungsnummer 00340434161094042557", "00340434161094042557", "dhl"),
    ("numero di spedizione JJD0099999999999999", "JJD0099999999999999", "dhl"),
    ("FedEx tracking 123456789012", "123456789012", "fedex"),
    ("número de seguimiento 9876543210123 sin noticias", "9876543210123", ""),
]


@pytest.mark.parametrize(("text", "value", "carrier"), PARCELS)
def test_parcel_numbers_with_their_carrier(text: str, value: str, carrier: str) -> None:
    assert ("parcel", value, carrier) in found(text)


NOT_PARCELS = [
    "UPS 1Z999AA10123456785",  # check digit wrong
    "envoi RR123456789FR",  # S10 check digit wrong, no carrier named
    "j'ai attendu 12345678 secondes",  # eight digits, no carrier
    "GLS tel 0612345678",  # a phone number near a carrier
    "Colis 4006381333931",  # an EAN-13 (valid checksum), no carrier named
]


@pytest.mark.parametrize("text", NOT_PARCELS)
def test_numbers_that_are_not_parcels(text: str) -> None:
    assert [e for e in found(text) if e[0] == "parcel"] == []


def test_an_order_number_is_not_also_a_parcel_an_amount_or_a_date() -> None:
    assert found("colis de la commande 402-1234567-1234567, suivi 12-34567-89012") == [
        ("order", "402-1234567-1234567", "amazon"),
        ("order", "12-34567-89012", "ebay"),
    ]
    assert found("Bestellung 2603121455ABC vom 12.03.2026") == [
        ("order", "2603121455ABC", "cdiscount"),
        ("date", "2026-03-12", ""),
    ]


AMOUNTS = [
    ("j'ai payé 49,90 € pour rien", "49.90", "EUR"),
    ("I paid €49.90 for it", "49.90", "EUR"),
    ("Betrag 49.90 EUR", "49.90", "EUR"),
    ("remboursez les 49€90 svp", "49.90", "EUR"),
    ("un canapé à 1 299,00 € !", "1299.00", "EUR"),
    ("total 1.299,00€", "1299.00", "EUR"),
    ("it was £12 on sale", "12.00", "GBP"),
    ("refund 12 pounds please", "12.00", "GBP"),
    ("j'ai payé 12 euros de port", "12.00", "EUR"),
    ("I was charged $1,299.99", "1299.99", "USD"),
    ("Preis CHF 15.50", "15.50", "CHF"),
    ("zapłaciłem 120 zł", "120.00", "PLN"),
    ("zaplacilem 120,50 PLN", "120.50", "PLN"),
    ("ho pagato 35 euro", "35.00", "EUR"),
    ("paguei 19,9 €", "19.90", "EUR"),
]


@pytest.mark.parametrize(("text", "value", "currency"), AMOUNTS)
def test_amounts_as_buyers_write_them(text: str, value: str, currency: str) -> None:
    assert found(text) == [("amount", value, currency)]


@pytest.mark.parametrize(
    "text",
    ["j'ai commandé 3 lampes", "il fait 49,90 cm", "version 2.0", "en 2026", "code 1234"],
)
def test_numbers_without_a_currency_are_not_amounts(text: str) -> None:
    assert [e for e in found(text) if e[0] == "amount"] == []


DATES = [
    ("livré le 12/03/2026 ?", "2026-03-12"),
    ("reçu le 12.03.26", "2026-03-12"),
    ("shipped 2026-03-12", "2026-03-12"),
    ("commandé le 12 mars", "2026-03-12"),
    ("commande passée le 1er mars 2026", "2026-03-01"),
    ("ordered on 12 March", "2026-03-12"),
    ("ordered on March 12th, 2026", "2026-03-12"),
    ("bestellt am 3. März", "2026-03-03"),
    ("bestellt am 3. Maerz", "2026-03-03"),
    ("pedido el 12 de marzo", "2026-03-12"),
    ("ordinato il 12 marzo", "2026-03-12"),
    ("commandé le 28 décembre", "2025-12-28"),  # no year: the nearest before today
    ("commande du 25 decembre", "2025-12-25"),  # typed without the accent
    ("le 20/03", "2026-03-20"),  # today is before, not after
    ("le 21/03", "2025-03-21"),
    ("03/25/2026 delivery", "2026-03-25"),  # month first: the only reading that is a date
]


@pytest.mark.parametrize(("text", "value"), DATES)
def test_dates_in_five_languages(text: str, value: str) -> None:
    assert found(text) == [("date", value, "")]


@pytest.mark.parametrize(
    "text",
    ["31/02/2026", "version 1.2.3", "1/2 kg", "prix 12.03 €", "30 février", "le 2026"],
)
def test_what_is_not_a_date(text: str) -> None:
    assert [e for e in found(text) if e[0] == "date"] == []


EANS_AND_SKUS = [
    ("EAN 4006381333931 ne correspond pas", [("ean", "4006381333931", "")]),
    ("code barre 3760123456789", []),  # bad checksum
    ("SKU: LMP-204-BL reçu en bleu", [("sku", "LMP-204-BL", "")]),
    ("réf. AB1234 manquante", [("sku", "AB1234", "")]),
    ("ref 55-123 please", [("sku", "55-123", "")]),
    ("Art.-Nr. 55123 fehlt", [("sku", "55123", "")]),
    ("referencia X200-B rota", [("sku", "X200-B", "")]),
    ("codice articolo LP300 rotto", [("sku", "LP300", "")]),
    ("la référence de la lampe", []),  # introduced, but no code
    ("réf. 4006381333931", [("ean", "4006381333931", "")]),  # an EAN, told as such
]


@pytest.mark.parametrize(("text", "expected"), EANS_AND_SKUS)
def test_eans_and_skus(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(text) == expected


def test_a_real_message_with_everything_and_quoted_history() -> None:
    text = (
        "Bonjour,\nJe n'ai tjrs rien recu pour la commande 402-1234567-1234567 du 2 mars "
        "(49,90 €). Le suivi Colissimo 6A12345678901 ne bouge plus.\nMon tel: 06 12 34 56 78\n"
        "> Le 3 mars, Maison Lumière a écrit :\n> Votre colis est parti."
    )
    assert to_json(extract(text, hint="amazon", today=TODAY)) == [
        {"kind": "order", "value": "402-1234567-1234567", "source": "amazon"},
        {"kind": "date", "value": "2026-03-02", "source": ""},
        {"kind": "amount", "value": "49.90", "source": "EUR"},
        {"kind": "parcel", "value": "6A12345678901", "source": "colissimo"},
        {"kind": "date", "value": "2026-03-03", "source": ""},
    ]


def test_entities_keep_their_place_and_to_json_drops_repeats() -> None:
    text = "#10452 et encore #10452"
    entities = extract(text, today=TODAY)
    assert entities == [
        Entity("order", "10452", "shop", 1, 6),
        Entity("order", "10452", "shop", 18, 23),
    ]
    assert text[entities[1].start : entities[1].end] == "10452"
    assert to_json(entities) == [{"kind": "order", "value": "10452", "source": "shop"}]


def test_empty_and_digit_free_texts_have_nothing() -> None:
    assert extract("") == []
    assert extract("Bonjour, merci pour tout !") == []


def test_many_entities_each_once_and_in_place() -> None:
    text = "€1 " * 300 + "colis GLS 12345678901"
    entities = extract(text, today=TODAY)
    assert [e.kind for e in entities] == ["amount"] * 300 + ["parcel"]
    assert all(text[e.start : e.end].startswith("€1") for e in entities[:300])
