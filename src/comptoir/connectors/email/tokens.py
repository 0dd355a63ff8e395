"""Our reply token: the conversation's id, signed, inside the Message-ID of every answer we send.

A buyer's reply names our Message-ID in In-Reply-To or References; even when our copy of that
message is gone (or the client rewrote the chain), the token finds the conversation. Signed so
that no one can file a mail into a conversation by guessing an id.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings

_TOKEN = re.compile(r"<comptoir\.c(\d{1,18})-([0-9a-f]{12})\.")


def _signature(conversation_id: int) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"reply:{conversation_id}".encode(), hashlib.sha256).hexdigest()[:12]


def token(conversation_id: int) -> str:
    return f"c{conversation_id}-{_signature(conversation_id)}"


def conversation_of(message_ids: list[str]) -> int | None:
    """The conversation named by a valid token in these Message-IDs, nearest first."""
    for value in message_ids:
        found = _TOKEN.match(value)
        if found and hmac.compare_digest(found.group(2), _signature(int(found.group(1)))):
            return int(found.group(1))
    return None
