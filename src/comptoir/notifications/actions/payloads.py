"""What a notification says: its headline, links back to Comptoir, a webhook post's body and
its signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from comptoir.notifications.kinds import TEST_KIND, Kind

if TYPE_CHECKING:
    from comptoir.notifications.actions.dispatch import ConvRow

# A webhook payload lists at most this many conversations (and says how many there were).
PAYLOAD_CONVERSATIONS = 50


def conversation_url(conv_id: int) -> str:
    return settings.SITE_URL + reverse("inbox:conversation", args=[conv_id])


def channel_url(channel_id: int) -> str:
    return f"{settings.SITE_URL}{reverse('settings:channels')}#channel-{channel_id}"


# The kinds' labels speak for the user choosing ("Assigned to me"); a message speaks to them.
HEADLINES: dict[str, Any] = {
    Kind.ASSIGNED: gettext_lazy("Assigned to you"),
    Kind.MENTIONED: gettext_lazy("You were mentioned"),
}


def headline(kind: str, count: int, channel_name: str = "", subject: str = "") -> str:
    """One line saying what happened (the mail's subject, the Slack message's first line)."""
    if kind == Kind.CHANNEL_UNHEALTHY:
        return _("%(name)s has stopped: it needs you") % {"name": channel_name}
    if kind == TEST_KIND:
        return _("Test from Comptoir: this webhook works")
    label = str(HEADLINES.get(kind) or Kind(kind).label)
    if count == 1 and subject:
        return f"{label}: {subject}"
    if count > 1:
        return _("%(label)s: %(count)d conversations") % {"label": label, "count": count}
    return label


def webhook_body(
    fmt: str,
    kind: str,
    text: str,
    convs: Sequence[ConvRow],
    channel: Mapping[str, Any] | None,
    now: datetime,
) -> str:
    """The post to a webhook of format `fmt` (Slack's message, or Comptoir's own JSON)."""
    title = headline(
        kind,
        len(convs),
        channel_name=channel["name"] if channel else "",
        subject=convs[0].subject if len(convs) == 1 else "",
    )
    if fmt == "slack":
        return _slack_body(title, text, convs, channel)
    return _json_body(title, kind, text, convs, channel, now)


def _slack_body(
    title: str, text: str, convs: Sequence[ConvRow], channel: Mapping[str, Any] | None
) -> str:
    shown = convs[:PAYLOAD_CONVERSATIONS]
    lines = [f"*{title}*"]
    if text:
        lines.append(text)
    lines += [f"• <{conversation_url(c.pk)}|#{c.pk} {c.subject or '—'}>" for c in shown]
    if len(convs) > len(shown):
        lines.append(_("… and %(n)d more") % {"n": len(convs) - len(shown)})
    if channel:
        lines.append(f"<{channel_url(channel['pk'])}|{channel['name']}>")
    return json.dumps({"text": "\n".join(lines)}, ensure_ascii=False)


def _json_body(
    title: str,
    kind: str,
    text: str,
    convs: Sequence[ConvRow],
    channel: Mapping[str, Any] | None,
    now: datetime,
) -> str:
    data: dict[str, Any] = {
        "kind": kind,
        "title": title,
        "text": text,
        "at": now.isoformat(),
        "conversation_count": len(convs),
        "conversations": [
            {
                "id": c.pk,
                "subject": c.subject,
                "channel": c.channel_name,
                "marketplace": c.marketplace,
                "url": conversation_url(c.pk),
            }
            for c in convs[:PAYLOAD_CONVERSATIONS]
        ],
    }
    if channel:
        data["channel"] = {
            "id": channel["pk"],
            "name": channel["name"],
            "marketplace": channel["marketplace"],
            "url": channel_url(channel["pk"]),
        }
    return json.dumps(data, ensure_ascii=False)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`X-Comptoir-Signature`: HMAC-SHA256 of "<timestamp>." + body, hex, prefixed "sha256="."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()
