"""Spartoo's mail to the seller about a buyer's message, read as the buyer's message.

Spartoo has no messaging web service (see `connectors/spartoo/wire.py`): a buyer writes on
Spartoo, and Spartoo mails the seller. A shop mailbox (an email channel with marketplace
"spartoo") reads those mails; `rewrite` turns one into the buyer's message: the buyer's cleaned
name as the sender, the order number from the mail, the text the buyer wrote (without Spartoo's
wrapping), tagged "spartoo" with `meta["relay"] = "spartoo"` as Amazon's relay is.

Where the reply goes: to the mail's `Reply-To` when it is an address of Spartoo's own for this
exchange (Spartoo forwards it to the buyer, as Amazon's relay does); the buyer's identity is
then that address. Without one, the buyer is known by the order (`spartoo_order`) with no
address: the reply is written in Spartoo's seller back office, and `meta["reply_via"]` says so.

What was guessed (Spartoo publishes neither the mail nor its sender; change it here when a real
one shows otherwise; tests/fixtures/spartoo/message_fr.eml is written from this guess):
- The sender: any address at a Spartoo domain (spartoo.fr, .com, .co.uk, .de, .it, .es, .be,
  .nl, .eu...), a notice rather than a person.
- The subject or body names the order as "commande n° 12345678" (or "commande : ...",
  "order no. ..."), 6 to 12 digits, and the buyer as "message de <name>" / "message from".
- The buyer's words sit after a line "Message du client :" (or "Message :", "Customer
  message:"), up to a line of dashes or underscores or Spartoo's "Pour répondre" footer.
- A per-exchange `Reply-To` at a Spartoo domain (a generic one, e.g. no-reply@, is not a relay).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import Message
from email.utils import parseaddr

from comptoir.connectors.base import InboundMessage, Party
from comptoir.lib.buyers import clean_name

SPARTOO_ADDRESS = re.compile(
    r"@(?:[\w-]+\.)*spartoo\.(?:fr|com|co\.uk|de|it|es|be|nl|eu|pt|pl|se|cz|at|ch|dk|fi|gr|net)$"
)
GENERIC_LOCAL = re.compile(
    r"^(?:no-?reply|ne-?pas-?repondre|noreply|marketplace|mp|contact|service[\w.-]*|info|support"
    r"|messagerie|notifications?)$"
)
ORDER = re.compile(
    r"\b(?:commande|order|bestellung)\s*(?:n[°º o]\.?|no\.?|num[ée]ro|number|nr\.?)?\s*[:#]?\s*"
    r"(\d{6,12})\b",
    re.IGNORECASE,
)
FROM_BUYER = re.compile(
    r"\bmessage\s+(?:de|from|von)\s+(?:la\s+part\s+de\s+)?(?P<name>[^\n(,.:]{2,80}?)"
    r"\s*(?:\(|,|\.|:|\bconcernant\b|\babout\b|\bregarding\b|\bsur\b|\bpour\b|$)",
    re.IGNORECASE | re.MULTILINE,
)
START = re.compile(
    r"^\s*(?:message\s+du\s+client|message\s+de\s+l'acheteur|message|customer\s+message)\s*:\s*$",
    re.IGNORECASE | re.MULTILINE,
)
END = re.compile(r"^\s*(?:[-_=]{5,}|pour\s+r[ée]pondre|to\s+reply)", re.IGNORECASE | re.MULTILINE)


def is_spartoo(address: str) -> bool:
    return bool(SPARTOO_ADDRESS.search(address.lower()))


def _buyer_words(text: str) -> str:
    start = START.search(text)
    if start is None:
        return ""
    rest = text[start.end() :].lstrip("\n")
    if END.match(rest):  # a line of dashes right under the heading opens the block
        rest = rest.split("\n", 1)[1] if "\n" in rest else ""
    end = END.search(rest)
    return (rest[: end.start()] if end else rest).strip()


def rewrite(
    message: InboundMessage, msg: Message, header: Callable[[Message, str], str]
) -> InboundMessage:
    """The buyer's message a Spartoo mail carries, or `message` as it was for any other mail.
    `header` reads a decoded header of `msg` (`mime.header`)."""
    if not is_spartoo(message.sender.identity_value):
        return message
    text = message.text
    order = ORDER.search(message.subject) or ORDER.search(text)
    words = _buyer_words(text)
    if order is None or not words:
        return message  # Spartoo's other mail (a new order, an invoice): left as it is
    named = FROM_BUYER.search(message.subject) or FROM_BUYER.search(text)
    name = clean_name(named.group("name")) if named else ""
    reply_to = parseaddr(header(msg, "Reply-To"))[1].strip().lower()
    local = reply_to.partition("@")[0]
    relay = reply_to if is_spartoo(reply_to) and not GENERIC_LOCAL.match(local) else ""
    if relay:
        sender = Party(identity_kind="email", identity_value=relay, name=name[:200], email=relay)
    else:
        sender = Party(identity_kind="spartoo_order", identity_value=order.group(1), name=name)
    meta = {**message.meta, "relay": "spartoo", "spartoo_notice_from": message.sender.email}
    if not relay:
        meta["reply_via"] = "spartoo_back_office"
    return message.model_copy(
        update={
            "sender": sender,
            "order_number": order.group(1),
            "text": words,  # the mail itself stays the message's source
            "new_text": words,
            "is_auto": False,
            "meta": meta,
            "tags": list(dict.fromkeys([*message.tags, "spartoo"])),
        }
    )
