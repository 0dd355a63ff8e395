"""Order numbers as marketplaces and shops print them, shared by the connectors that find the
order a message is about (email, eBay) and triage, which reports every one a buyer writes."""

from __future__ import annotations

import re

# Amazon: 3-7-7 digits ("402-1234567-1234567").
AMAZON_ORDER = re.compile(r"\b(\d{3}-\d{7}-\d{7})\b")
# eBay's order numbers (since 2019): 12-34567-89012.
EBAY_ORDER = re.compile(r"\b(\d{2}-\d{5}-\d{5})\b")
# A shop's own order number as buyers and shop systems write it: "commande n° 10234",
# "Order #A-5531", "Bestellnummer: 88812", "pedido nº 4411", "ordine n. 7731". The number must
# hold a digit, so "order status" or "commande en retard" is not a number. A mailbox may set
# its own pattern (EmailSettings.order_number_pattern). The blank runs are possessive (`*+`):
# backtracking between them made "commande #" and 10,000 spaces cost seconds
# (tests/test_properties.py).
SHOP_ORDER = re.compile(
    r"(?:\b(?:commande|order|bestellung|auftrag|pedido|ordine)\b"
    r"|\bbestell(?:nummer|nr)\b|\bn[°º]\s*de\s*commande\b)"
    r"[ \t]*+(?:(?:n(?:[°ºo.]|um(?:ber|éro|ero|mer)?\.?)|nr\.?|no\.?|#)[ \t]*+)?[:#]?[ \t]*+"
    r"#?(?=[A-Z0-9-]*\d)([A-Z0-9][A-Z0-9-]{3,29})\b",
    re.IGNORECASE,
)
