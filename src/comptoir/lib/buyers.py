"""A buyer's name as people say it, from what a marketplace writes in its relay messages.

The relays dress the name up: Amazon's mailer writes "Laurent Laurent - Amazon Marketplace"
(its display name repeats a one-word name, then names itself), eBay and Rakuten give a
pseudonymous handle ("eba-49291", "rak_7731") where the order knows the real name. Ingest
cleans the name once, when a buyer is first seen; an order that brings the real name replaces
a handle (orders.actions.store_order); the greeting check reads the clean name.
"""

from __future__ import annotations

import re

# "- Amazon", "via eBay", "(Amazon Marketplace)", "| Cdiscount": the relay naming itself.
_MARKETPLACE_WORDS = (
    r"amazon(?:\s+marketplace|\.[a-z.]+)?|ebay|cdiscount|octopia|fnac|rakuten|mirakl"
    r"|darty|boulanger|conforama|leroy\s+merlin|carrefour|spartoo|marketplace"
)
_RELAY_SUFFIX = re.compile(
    rf"\s*(?:[-\u2013\u2014|:]\s*|\bvia\s+|\bpar\s+|\bthrough\s+|\(\s*)(?:{_MARKETPLACE_WORDS})\s*\)?\s*$",
    re.IGNORECASE,
)
_RELAY_ONLY = re.compile(rf"^\s*(?:{_MARKETPLACE_WORDS})\s*$", re.IGNORECASE)
# A pseudonym, not a name: letters then digits ("eba-49291", "rak_7731", "buyer123456"), a
# long run of digits, or a single token with digits and no space.
_HANDLE = re.compile(r"^(?:[a-z]{2,12}[-_.]?\d{3,}|\d{4,}|[\w.-]*\d{3,}[\w.-]*)$", re.IGNORECASE)


def is_handle(name: str) -> bool:
    """Whether `name` is a marketplace's pseudonym for the buyer rather than a name."""
    name = name.strip()
    return bool(name) and (" " not in name and (_HANDLE.match(name) is not None or "@" in name))


def _undouble(name: str) -> str:
    """ "Laurent Laurent" → "Laurent", "Marie Dubois Marie Dubois" → "Marie Dubois"."""
    words = name.split()
    half = len(words) // 2
    if (
        len(words) % 2 == 0
        and half
        and [w.lower() for w in words[:half]] == [w.lower() for w in words[half:]]
    ):
        return " ".join(words[:half])
    return " ".join(words)


def clean_name(name: str) -> str:
    """The buyer's name without the relay's dressing; "" when nothing but the relay's own
    name is left. A handle is returned as is (`is_handle` says so; a better name may come)."""
    name = " ".join(name.replace('"', " ").split())
    if _RELAY_ONLY.match(name):
        return ""
    while True:
        shorter = _RELAY_SUFFIX.sub("", name).strip()
        if shorter == name:
            break
        name = shorter
    return _undouble(name)


def better_name(current: str, offered: str) -> str | None:
    """The name to keep when an order offers one: the offered (cleaned) name replaces an empty
    name or a handle, never a real name an agent may have corrected."""
    offered = clean_name(offered)
    if not offered or is_handle(offered):
        return None
    if not current.strip() or is_handle(current):
        return offered
    return None
