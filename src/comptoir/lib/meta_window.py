"""Meta's customer-service window: when a business may answer a buyer on Messenger, Instagram
and WhatsApp (pure rules, shared by the pre-send checks and the Meta connectors).

- Inside 24 hours of the buyer's last message: any reply (`messaging_type: RESPONSE`).
- Messenger and Instagram, after that: only with a message tag; the one a help desk uses is
  `HUMAN_AGENT`, allowed up to 7 days after the buyer's last message (Meta's "Message tags"
  page). Past 7 days nothing can be sent until the buyer writes again.
- WhatsApp, after 24 hours: only an approved message template (Cloud API "Send messages",
  error 131047 "Re-engagement message"). A reply whose text is `/template <name>` names one;
  the channel lists the names approved in WhatsApp Manager.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

META_KINDS = frozenset({"messenger", "instagram", "whatsapp"})
SERVICE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
TEMPLATE_RE = re.compile(r"^\s*/template\s+([a-z0-9_]{1,512})(?:\s+([a-zA-Z_]{2,8}))?\s*$")


@dataclass(frozen=True)
class Verdict:
    """How a reply may leave: `messaging_type` and `tag` for the Send API, or `refused` with
    the reason's code ("closed", "template_needed", "template_unknown")."""

    messaging_type: str = "RESPONSE"
    tag: str = ""
    template: str = ""
    template_language: str = ""
    refused: str = ""


def template_of(text: str) -> tuple[str, str] | None:
    """(name, language) when the reply is `/template <name> [language]`."""
    match = TEMPLATE_RE.match(text)
    if match is None:
        return None
    return match.group(1), match.group(2) or ""


def verdict(
    kind: str,
    *,
    last_inbound_at: datetime | None,
    now: datetime,
    text: str,
    approved_templates: frozenset[str] = frozenset(),
) -> Verdict:
    """The rule for one reply on a Meta channel of `kind`."""
    template = template_of(text) if kind == "whatsapp" else None
    if template is not None:
        # A template may be sent at any time, inside the window or not, once approved.
        if approved_templates and template[0] not in approved_templates:
            return Verdict(refused="template_unknown", template=template[0])
        return Verdict(template=template[0], template_language=template[1])
    age = now - last_inbound_at if last_inbound_at is not None else None
    if age is not None and age <= SERVICE_WINDOW:
        return Verdict()
    if kind == "whatsapp":
        return Verdict(refused="template_needed")
    if age is not None and age <= HUMAN_AGENT_WINDOW:
        return Verdict(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    return Verdict(refused="closed")
