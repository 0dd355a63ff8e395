"""What the pre-send checks look for (`automation.checks`, `automation.spelling`): links, email
addresses, phone numbers, marketing wording, greetings, and the text folding they compare with."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from comptoir.automation.templating import primary_language
from comptoir.lib.buyers import clean_name, is_handle

if TYPE_CHECKING:
    from comptoir.inbox.models import Conversation

# What a check finds: a message for the agent and the span of the text, [start, end).
Found = tuple[str, int, int]

# -- the patterns -------------------------------------------------------------------------------

URL_RE = re.compile(
    r"(?:\bhttps?://|\bwww\.)[^\s<>\"')\]]+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|fr|de|es|it|net|"
    r"org|eu|io|shop|store|co\.uk|be|ch|ly|me|co|info|biz|app|link|site|online|nl|at|pt|pl)(?:/[^\s<>\"')\]]*)?(?![\w@])",
    re.IGNORECASE,
)
EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# International (+33 6 12 34 56 78, 0049 30 1234567) or national with a trunk 0 (06 12 34 56 78,
# 030 1234567, 02 1234 5678); a digit run inside a longer one (a tracking number) is left alone.
PHONE_RE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)[1-9]\d{0,2}[\s.\-/]?(?:\(0\)[\s.\-/]?)?\d{1,4}(?:[\s.\-/]?\d{2,4}){2,4}"
    r"|0[1-9](?:[\s.\-]?\d{2}){4}"
    r"|0\d{1,4}[\s/\-]\d{3,4}(?:[\s\-]?\d{2,4}){0,2})(?![\w])"
)
# Spanish and Italian numbers have no trunk 0: 612 345 678, 333 123 4567.
PHONE_NO_TRUNK_RE = re.compile(r"(?<![\w+])[36789]\d{2}[\s.]\d{3}[\s.]\d{3,4}(?![\w])")

# Carrier tracking pages and the marketplaces' own pages: the links a buyer needs to complete
# the order, which the policies allow.
ALLOWED_LINK_HOSTS = (
    "laposte.fr",
    "colissimo.fr",
    "chronopost.fr",
    "mondialrelay.fr",
    "dpd.fr",
    "dpd.com",
    "ups.com",
    "gls-group.com",
    "gls-group.eu",
    "dhl.com",
    "dhl.de",
    "fedex.com",
    "tnt.com",
    "colisprive.com",
    "relaiscolis.com",
    "correos.es",
    "seur.com",
    "poste.it",
    "brt.it",
    "amazon.fr",
    "amazon.com",
    "amazon.de",
    "amazon.es",
    "amazon.it",
    "amazon.co.uk",
)

MARKETING_WORDS: dict[str, tuple[str, ...]] = {
    "fr": (
        "code promo",
        "promotion",
        "réduction",
        "soldes",
        "offre spéciale",
        "newsletter",
        "suivez-nous",
        "abonnez-vous",
        "notre site",
        "notre boutique en ligne",
        "laissez-nous un avis",
        "5 étoiles",
        "cinq étoiles",
        "évaluation positive",
    ),
    "en": (
        "promo code",
        "discount code",
        "coupon",
        "special offer",
        "sale ends",
        "newsletter",
        "follow us",
        "subscribe",
        "our website",
        "our online store",
        "leave us a review",
        "5 stars",
        "five stars",
        "positive feedback",
    ),
    "de": (
        "gutschein",
        "rabattcode",
        "sonderangebot",
        "newsletter",
        "folgen sie uns",
        "unsere website",
        "unseren onlineshop",
        "bewertung mit 5 sternen",
        "5 sterne",
        "positive bewertung",
    ),
    "es": (
        "código promocional",
        "cupón",
        "descuento",
        "oferta especial",
        "newsletter",
        "síguenos",
        "suscríbete",
        "nuestra web",
        "nuestra tienda online",
        "5 estrellas",
        "valoración positiva",
    ),
    "it": (
        "codice sconto",
        "coupon",
        "offerta speciale",
        "newsletter",
        "seguici",
        "iscriviti",
        "il nostro sito",
        "il nostro negozio online",
        "5 stelle",
        "cinque stelle",
        "recensione positiva",
    ),
}
# A percentage off ("-20 %", "20% off") reads as a promotion in every language.
DISCOUNT_RE = re.compile(r"(?<!\w)-\s?\d{1,2}\s?%|\b\d{1,2}\s?%\s?(?:off|de réduction|rabatt)\b")

GREETINGS = (
    "bonjour",
    "bonsoir",
    "cher",
    "chère",
    "madame",
    "monsieur",
    "hello",
    "hi",
    "dear",
    "good morning",
    "good afternoon",
    "hallo",
    "guten tag",
    "sehr geehrte",
    "liebe",
    "lieber",
    "hola",
    "estimado",
    "estimada",
    "buenos días",
    "buongiorno",
    "buonasera",
    "gentile",
    "salve",
    "ciao",
)


# -- folding ----------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case without accents, for comparing names and wording."""
    # lower(), not casefold(): "ß" stays one character, so offsets found in the folded text
    # hold in the original.
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFC", text).lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise(text: str) -> str:
    return " ".join(fold(text).split())


def reply_language(conv: Conversation) -> str:
    return primary_language(conv.language or conv.shop.language) or "en"


def buyer_names(conv: Conversation) -> list[str]:
    customer = conv.customer
    name = clean_name(customer.name) if customer is not None else ""  # buyers stored before
    if not name or "@" in name or is_handle(name):
        return []
    return [p for p in name.split() if len(p) > 1]
