"""Mailboxes by OAuth 2 (Microsoft 365, Gmail): the authorisation-code flow with PKCE, the
token refresh, and the SASL XOAUTH2 string that IMAP and SMTP log in with.

The deployment registers one application with each provider (COMPTOIR_OAUTH_*: client id and
secret, endpoints, scopes). Connecting a mailbox sends its admin to the provider; the code that
comes back is exchanged for a refresh token, stored in the channel's encrypted settings with the
current access token and its expiry (`oauth_*` keys, kept out of the settings form). An access
token is refreshed shortly before it expires, under a lock on the channel's row
(`ChannelStore.update_settings`): two workers never both refresh it. A refresh the provider
refuses for good (`invalid_grant`: consent revoked, password changed, token expired) stops the
channel with a message that says to connect it again.

Every request to a token endpoint goes through `lib.http` (its address checks, no redirects).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from comptoir.connectors.base import ChannelInfo, ConnectorError, channel_store
from comptoir.lib import http

PROVIDERS = ("microsoft", "google")
PROVIDER_NAMES = {"microsoft": "Microsoft 365", "google": "Google"}
# Refreshed this long before the provider's expiry: a poll that starts just before it must not
# log in with a token that dies on the way.
REFRESH_MARGIN = 300.0
TOKEN_TIMEOUT = 20.0
# The keys of the channel's settings that hold the grant (never shown, kept across form saves).
TOKEN_KEYS = ("oauth_provider", "oauth_refresh_token", "oauth_access_token", "oauth_expires_at")


@dataclass(frozen=True)
class Provider:
    key: str
    name: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    scopes: str

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.authorize_url and self.token_url)


def provider(key: str) -> Provider:
    if key not in PROVIDERS:
        raise ConnectorError(f"unknown OAuth provider {key!r}", permanent=True)
    prefix = f"OAUTH_{key.upper()}_"
    return Provider(
        key=key,
        name=PROVIDER_NAMES[key],
        client_id=getattr(settings, prefix + "CLIENT_ID"),
        client_secret=getattr(settings, prefix + "CLIENT_SECRET"),
        authorize_url=getattr(settings, prefix + "AUTHORIZE_URL"),
        token_url=getattr(settings, prefix + "TOKEN_URL"),
        scopes=getattr(settings, prefix + "SCOPES"),
    )


def redirect_uri() -> str:
    """Where the provider sends the admin back: registered as is with the application."""
    return f"{settings.SITE_URL}/settings/channels/oauth/callback"


# -- the authorisation-code flow ----------------------------------------------------------------


def new_verifier() -> str:
    """A PKCE code verifier (RFC 7636: 43 to 128 unreserved characters)."""
    return secrets.token_urlsafe(48)


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(conf: Provider, *, state: str, verifier: str, login_hint: str = "") -> str:
    params = {
        "client_id": conf.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri(),
        "scope": conf.scopes,
        "state": state,
        "code_challenge": challenge(verifier),
        "code_challenge_method": "S256",
    }
    if conf.key == "google":
        # Without both, Google gives a refresh token only the first time an account consents.
        params.update(access_type="offline", prompt="consent")
    else:
        params["prompt"] = "select_account"
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in conf.authorize_url else "?"
    return f"{conf.authorize_url}{separator}{urlencode(params)}"


def exchange_code(conf: Provider, *, code: str, verifier: str) -> dict[str, Any]:
    """The settings keys of a new grant, from the code the callback received."""
    answer = _token_request(
        conf,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri(),
            "code_verifier": verifier,
        },
    )
    if not answer.get("refresh_token"):
        raise ConnectorError(
            f"{conf.name} gave no refresh token: check that the application asks for offline "
            "access (the scopes) and connect again",
            permanent=True,
        )
    return {
        "oauth_provider": conf.key,
        **_grant(answer, refresh_token=str(answer["refresh_token"])),
    }


def refreshed(conf: Provider, refresh_token: str) -> dict[str, Any]:
    """New grant keys from the refresh token (providers may rotate it: the new one is kept)."""
    answer = _token_request(conf, {"grant_type": "refresh_token", "refresh_token": refresh_token})
    return _grant(answer, refresh_token=str(answer.get("refresh_token") or refresh_token))


def _grant(answer: dict[str, Any], *, refresh_token: str) -> dict[str, Any]:
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise ConnectorError("the token answer has no access_token")
    try:
        lifetime = float(answer.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600.0
    return {
        "oauth_refresh_token": refresh_token,
        "oauth_access_token": token,
        "oauth_expires_at": time.time() + max(0.0, lifetime),
    }


def _token_request(conf: Provider, form: dict[str, str]) -> dict[str, Any]:
    if not conf.configured:
        raise ConnectorError(
            f"{conf.name} sign-in is not configured on this server "
            f"(COMPTOIR_OAUTH_{conf.key.upper()}_CLIENT_ID)",
            permanent=True,
        )
    body = {**form, "client_id": conf.client_id, "scope": conf.scopes}
    if conf.client_secret:
        body["client_secret"] = conf.client_secret
    try:
        response = http.post(
            conf.token_url,
            content=urlencode(body).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            timeout=TOKEN_TIMEOUT,
        )
    except http.HttpError as exc:  # no answer, or an address refused (permanent)
        raise ConnectorError(f"{conf.name} token endpoint: {exc}", permanent=exc.permanent) from exc
    try:
        answer = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        answer = None
    if response.status_code == 200 and isinstance(answer, dict):
        return answer
    code = str(answer.get("error", "")) if isinstance(answer, dict) else ""
    if code in ("invalid_grant", "interaction_required", "consent_required"):
        raise ConnectorError(
            f"{conf.name} refused the mailbox's authorisation ({code}: consent revoked, password "
            "changed or the grant expired): connect the mailbox again from its settings page. "
            f"{conf.name} said: {http.describe(response)}",
            permanent=True,
            status=response.status_code,
        )
    if code in ("invalid_client", "unauthorized_client"):
        raise ConnectorError(
            f"{conf.name} refused this server's application ({code}): check "
            f"COMPTOIR_OAUTH_{conf.key.upper()}_CLIENT_ID and _CLIENT_SECRET. "
            f"{conf.name} said: {http.describe(response)}",
            permanent=True,
            status=response.status_code,
        )
    # 5xx, 429, an answer that is not JSON: the provider's trouble, tried again at the next poll.
    raise ConnectorError(
        f"{conf.name} token endpoint answered {http.status_line(response)}",
        permanent=400 <= response.status_code < 500 and response.status_code != 429,
        status=response.status_code,
    )


# -- the access token a connection logs in with -------------------------------------------------


def access_token(channel: ChannelInfo, key: str, *, force: bool = False) -> str:
    """A valid access token for the channel, refreshed when it is near its end (or `force`:
    the server refused the current one). A refused grant stops the channel."""
    stored = channel.get_settings()
    # A grant from another provider (the sign-in was changed since) is no grant.
    if not stored.get("oauth_refresh_token") or stored.get("oauth_provider") != key:
        raise ConnectorError(
            f"this mailbox is not connected to {PROVIDER_NAMES.get(key, key)} yet: press "
            "Connect on its settings page",
            permanent=True,
        )
    if not force and _fresh(stored):
        return str(stored["oauth_access_token"])
    conf = provider(key)
    stale = stored.get("oauth_access_token")

    def refresh(current: dict[str, Any]) -> dict[str, Any] | None:
        # Another worker may have refreshed while this one waited for the lock.
        if _fresh(current) and not (force and current.get("oauth_access_token") == stale):
            return None
        return {**current, **refreshed(conf, str(current.get("oauth_refresh_token") or ""))}

    try:
        current = channel_store().update_settings(channel, refresh)
    except ConnectorError as exc:
        if exc.permanent:
            channel_store().mark_unhealthy(channel, str(exc))
        raise
    return str(current["oauth_access_token"])


def renew_at(stored: dict[str, Any]) -> float | None:
    """When the stored access token stops counting as fresh (a time.time())."""
    try:
        return float(stored["oauth_expires_at"]) - REFRESH_MARGIN
    except (KeyError, TypeError, ValueError):
        return None


def _fresh(stored: dict[str, Any]) -> bool:
    try:
        expires = float(stored.get("oauth_expires_at") or 0)
    except (TypeError, ValueError):
        return False
    return bool(stored.get("oauth_access_token")) and expires - REFRESH_MARGIN > time.time()


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64 (smtplib and imapclient encode it)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"
