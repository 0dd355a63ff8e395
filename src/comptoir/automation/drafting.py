"""Optional AI drafting: an OpenAI-compatible chat-completions API (a server on the seller's
machine or a provider) drafts a whole answer, grounded in the conversation, its order and the
suggested templates. Off unless an admin turns it on (`triage.models.TriageSettings`); nothing
else depends on it.

A draft is only ever shown to the agent: it goes through the pre-send checks (a link on Amazon
is flagged like a typed one) and is filled into the composer, where the agent edits and sends it
as usual. Nothing is stored and nothing is sent here. The request goes through `lib.http` (the
address rules; a private address only when the admin saved the endpoint as a local server). A
failure is one clear sentence for the agent; the endpoint's own answer is never echoed (it
could be anything) and the API key appears in no message and no log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import get_language_info
from django.utils.translation import gettext as _

from comptoir.automation.suggest import latest_buyer_message, suggest
from comptoir.automation.templating import primary_language
from comptoir.inbox.actions import Draft as ReplyDraft
from comptoir.inbox.actions import presend_checks
from comptoir.inbox.models import Direction, Message
from comptoir.lib import http
from comptoir.lib.crypto import DecryptionError
from comptoir.triage.models import TriageSettings

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.inbox.actions import CheckResultLike
    from comptoir.inbox.models import Conversation

log = logging.getLogger(__name__)

# What the model is shown of the conversation: the latest messages, each trimmed.
LAST_MESSAGES = 6
MESSAGE_CHARS = 1500
ITEMS = 10
# Longest draft kept: a runaway model must not fill the composer with pages.
DRAFT_CHARS = 5000
# Marketplaces whose rules forbid links (but tracking), email addresses and phone numbers.
STRICT_MARKETPLACES = frozenset({"amazon", "mirakl"})


class DraftingError(Exception):
    """The draft could not be made; the message is for the agent (translated, no body)."""


class DraftingDisabled(DraftingError):
    pass


@dataclass(frozen=True)
class Draft:
    text: str
    checks: list[CheckResultLike] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        return any(r.level == "block" for r in self.checks)


def enabled() -> bool:
    """One read, no write."""
    rows = TriageSettings.objects.filter(pk=1, llm_enabled=True)
    return rows.exclude(llm_url="").exclude(llm_model="").exists()


def offered() -> bool:
    """`enabled`, cached for the composer's button (every conversation page shows it or not);
    drafting itself asks `enabled` afresh."""
    on = cache.get(TriageSettings.LLM_OFFERED_KEY)
    if on is None:
        on = enabled()
        cache.set(TriageSettings.LLM_OFFERED_KEY, on, TriageSettings.LLM_OFFERED_TTL)
    return bool(on)


@receiver([post_save, post_delete], sender=TriageSettings)
def _forget_offered(**_: Any) -> None:
    cache.delete(TriageSettings.LLM_OFFERED_KEY)


def _language_name(code: str) -> str:
    try:
        return str(get_language_info(code)["name"])
    except KeyError:
        return "the buyer's language"


def system_prompt(conv: Conversation, language: str) -> str:
    """The seller's rules for the model."""
    rules = [
        "You write the seller's answer to a buyer on an online marketplace.",
        f"Answer in {_language_name(language) if language else "the buyer's language"}.",
        "Be brief, polite and concrete: a greeting, the answer, a closing line.",
        "Never invent facts: use only the order data given. If what the buyer asks is not in "
        "it, say that you are checking and will come back to them.",
        "Do not promise refunds, replacements or dates that the order data does not show.",
        "Write plain text only, no HTML or markdown, and no placeholders in brackets.",
    ]
    if conv.channel.marketplace in STRICT_MARKETPLACES:
        rules.append(
            "The marketplace forbids links (except the carrier's tracking page given in the "
            "order data), email addresses, phone numbers and any marketing or review request."
        )
    else:
        rules.append("Do not add links, email addresses or phone numbers.")
    rules.append("Reply with the answer's text only.")
    return "\n".join(rules)


def _conversation_text(conv: Conversation) -> str:
    rows = list(
        Message.objects.filter(conversation=conv)
        .exclude(direction=Direction.NOTE)
        .order_by("-received_at", "-id")
        .values("direction", "new_text", "text")[:LAST_MESSAGES]
    )
    lines = []
    for row in reversed(rows):
        who = "Buyer" if row["direction"] == Direction.IN else "Seller"
        text = (row["new_text"] or row["text"] or "").strip()[:MESSAGE_CHARS]
        if text:
            lines.append(f"{who}: {text}")
    return "\n\n".join(lines) or "(no message)"


def _order_text(conv: Conversation) -> str:
    order = conv.order
    if order is None:
        number = conv.order_number
        return f"Order number: {number} (no details known)" if number else "No order is known."
    facts: list[tuple[str, Any]] = [
        ("Order number", order.external_id),
        ("Status", order.get_status_display()),
        ("Total", f"{order.total} {order.currency}" if order.total is not None else ""),
        ("Ordered on", order.ordered_at),
        ("Ship by", order.ship_by),
        ("Shipped on", order.shipped_at),
        ("Expected delivery", order.expected_delivery_at),
        ("Delivered on", order.delivered_at),
        ("Carrier", order.carrier),
        ("Tracking number", order.tracking_number),
        ("Tracking page", order.tracking_url),
    ]
    lines = [
        f"{name}: {value.date().isoformat() if hasattr(value, 'date') else value}"
        for name, value in facts
        if value
    ]
    for item in (order.items or [])[:ITEMS]:
        if isinstance(item, dict):
            title = item.get("title") or item.get("name") or item.get("sku") or ""
            lines.append(f"Item: {item.get('quantity', 1)} x {str(title)[:200]}")
    return "\n".join(lines)


def build_messages(conv: Conversation, actor: User) -> list[dict[str, str]]:
    """The chat-completions messages: the rules, then the conversation, the order and the
    suggested templates' texts (the seller's own wording) as examples."""
    latest = latest_buyer_message(conv)
    code = latest.language if latest and latest.language != "unknown" else ""
    language = primary_language(code or conv.language or "")
    examples = "\n\n---\n\n".join(s.text.strip() for s in suggest(conv, agent=actor))
    user = (
        f"The conversation so far (latest last):\n{_conversation_text(conv)}\n\n"
        f"The order:\n{_order_text(conv)}\n\n"
        "The seller's answer templates closest to this question (their tone and wording are "
        "examples to follow, not facts about this order):\n"
        f"{examples or '(none)'}\n\nWrite the seller's next answer."
    )
    return [
        {"role": "system", "content": system_prompt(conv, language)},
        {"role": "user", "content": user},
    ]


def _post(found: TriageSettings, body: dict[str, Any]) -> http.Response:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    try:
        if found.llm_api_key:
            headers["Authorization"] = f"Bearer {found.llm_api_key}"
    except DecryptionError:
        raise DraftingError(_("The saved API key cannot be read: save it again.")) from None
    try:
        return http.post(
            f"{found.llm_url}/chat/completions",
            content=json.dumps(body).encode(),
            headers=headers,
            timeout=float(found.llm_timeout_seconds),
            allow_private=found.llm_local,
        )
    except http.AddressNotAllowed:
        raise DraftingError(_("The AI endpoint's address is not allowed.")) from None
    except http.HttpError as exc:
        log.warning("AI drafting: no answer from the endpoint (%s)", type(exc.__cause__).__name__)
        if str(exc).startswith("timed out"):
            message = _("The AI endpoint did not answer within %(n)s seconds.")
            raise DraftingError(message % {"n": found.llm_timeout_seconds}) from None
        raise DraftingError(_("Cannot reach the AI endpoint.")) from None


def _content(response: http.Response) -> str:
    """choices[0].message.content of a chat-completions answer; never the body in errors."""
    if response.status_code >= 300:
        log.warning("AI drafting: the endpoint answered HTTP %s", response.status_code)
        message = _("The AI endpoint refused the request (HTTP %(status)s).")
        raise DraftingError(message % {"status": response.status_code})
    try:
        text = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        log.warning("AI drafting: the endpoint's answer is not a chat completion")
        text = None
    if not isinstance(text, str) or not text.strip():
        raise DraftingError(_("The AI endpoint's answer could not be read."))
    return text.strip()[:DRAFT_CHARS]


def draft(conversation: Conversation, actor: User) -> Draft:
    """A drafted answer and what the pre-send checks say about it; nothing stored or sent."""
    if not actor.can_write:
        raise PermissionDenied(f"{actor.username} may not answer conversations")
    found = TriageSettings.get()
    if not (found.llm_enabled and found.llm_url and found.llm_model):
        raise DraftingDisabled(_("AI drafting is not enabled."))
    body = {
        "model": found.llm_model,
        "messages": build_messages(conversation, actor),
        "temperature": 0.2,
        "stream": False,
    }
    text = _content(_post(found, body))
    checks = presend_checks(ReplyDraft(conversation, text, actor=actor))
    return Draft(text, sorted(checks, key=lambda r: r.level != "block"))
