"""What the three Meta channels share: settings, the webhook signature, Graph API errors.

From Meta's published references (Webhooks "Getting started", Messenger Platform "Webhook
events" and "Send API", Instagram messaging, WhatsApp Cloud API "Webhooks" and "Messages"):
- Verification: `GET ?hub.mode=subscribe&hub.verify_token=<ours>&hub.challenge=<n>`, answered
  with the challenge as it came.
- Every POST carries `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app
  secret>`; Meta retries a delivery not answered 200, for up to a day (hence duplicates).
- Graph API errors are `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`.
Guessed (not in the pages read): the exact wording of error messages, which the code never
relies on (only codes and subcodes).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from pydantic import BaseModel, Field

from comptoir.connectors.base import ConnectorError

GRAPH_URL = "https://graph.facebook.com"
API_VERSION = "v21.0"
# Meta's caps on received media: 25 MB (Messenger attachments), 100 MB (WhatsApp documents);
# we keep what a help desk needs and note the rest as left out.
MEDIA_MAX_BYTES = 25 * 1024 * 1024

# Graph error codes that mean "slow down" (API throttling: app, user, page, custom).
THROTTLE_CODES = frozenset({4, 17, 32, 613, 80001, 80006, 130429, 131056})
# The token was refused or expired: the channel needs a human.
AUTH_CODES = frozenset({102, 190})
# Messenger/Instagram: "(#10) This message is sent outside of allowed window."
OUTSIDE_WINDOW = (10, 2018278)
# WhatsApp: more than 24 hours since the buyer wrote (a template is needed).
WA_REENGAGEMENT = 131047


class MetaSettings(BaseModel):
    """What every Meta channel needs: the app's secret (webhook signatures), the verify token
    typed into the app's webhook settings, and where the Graph API is."""

    app_secret: str = Field(min_length=1)
    verify_token: str = Field(min_length=8)
    graph_url: str = GRAPH_URL
    api_version: str = Field(default=API_VERSION, pattern=r"^v\d+\.\d+$")
    timeout_seconds: float = Field(default=30.0, gt=0)


class PageSettings(MetaSettings):
    """Messenger and Instagram: the Facebook Page (linked to the Instagram account) and its
    Page access token."""

    page_id: str = Field(min_length=1, pattern=r"^\d+$")
    page_access_token: str = Field(min_length=1)


class WhatsAppSettings(MetaSettings):
    phone_number_id: str = Field(min_length=1, pattern=r"^\d+$")
    access_token: str = Field(min_length=1)
    # The message templates approved in WhatsApp Manager that agents may send with
    # `/template <name>` (none listed: any name is tried, and WhatsApp refuses unknown ones).
    approved_templates: list[str] = Field(default_factory=list)
    template_language: str = "fr"
    # The WhatsApp Business Account: its approved templates are read from it (Business
    # Management API) for the composer's picker; empty, only `approved_templates` are known.
    business_account_id: str = Field(default="", pattern=r"^\d*$")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `X-Hub-Signature-256` signs `body` with `secret` (compared in constant time)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


_CODE = re.compile(r'"code":\s*(\d+)')
_SUBCODE = re.compile(r'"error_subcode":\s*(\d+)')


def graph_error(exc: ConnectorError) -> tuple[int, int]:
    """(code, error_subcode) of a Graph API refusal, (0, 0) when it was not one. Read from the
    refusal's words (`HttpClient` keeps the `error` object, shortened), never its message."""
    code, subcode = _CODE.search(exc.detail or ""), _SUBCODE.search(exc.detail or "")
    return int(code.group(1)) if code else 0, int(subcode.group(1)) if subcode else 0
