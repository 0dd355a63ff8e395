"""Connecting a mailbox by OAuth 2 (Microsoft 365, Google): "Connect" on the channel's settings
page sends its admin to the provider; the provider sends them back here with a code, exchanged
for the grant the channel keeps (connectors/email/oauth.py).

The `state` names one pending connection in this session (a code that comes back in another
session, or twice, is refused), with its PKCE verifier, which never leaves the server.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, find_visible, require
from comptoir.connectors.base import ConnectorError
from comptoir.connectors.email import oauth
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.models import Channel
from comptoir.inbox.permissions import visible_channels

SESSION_KEY = "email_oauth"
# A provider's sign-in page left open longer than this is started again.
PENDING_SECONDS = 15 * 60
MAX_PENDING = 5


def oauth_status(channel: Channel | None, settings: dict[str, Any]) -> dict[str, Any] | None:
    """What the channel's settings page shows of its OAuth connection (None: a password)."""
    key = settings.get("auth", "password")
    if channel is None or channel.kind != "email" or key not in oauth.PROVIDERS:
        return None
    connected = bool(settings.get("oauth_refresh_token")) and settings.get("oauth_provider") == key
    expires = oauth.renew_at(settings) if connected else None
    return {
        "provider": key,
        "name": oauth.PROVIDER_NAMES[key],
        "configured": oauth.provider(key).configured,
        "connected": connected,
        "refused": connected and not channel.is_healthy,
        "token_until": (
            datetime.fromtimestamp(expires + oauth.REFRESH_MARGIN, tz=UTC) if expires else None
        ),
        "redirect_uri": oauth.redirect_uri(),
    }


def _channel(request: HttpRequest, pk: int) -> tuple[User, Channel]:
    """As the settings page: 404 for a channel the user cannot see, 403 for a non-admin."""
    user = request.user
    assert isinstance(user, User)
    channel = find_visible(visible_channels(user), pk)
    return require(user, can_manage_channels, "channel settings are for owners and admins"), channel


def _edit(channel_id: int) -> HttpResponse:
    return redirect(f"{reverse('settings:channel_edit', args=[channel_id])}#connect")


@login_required
@require_POST
def connect(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the admin to the provider's consent page for this mailbox."""
    user, channel = _channel(request, pk)
    settings = channel.get_settings()
    key = settings.get("auth", "")
    if channel.kind != "email" or key not in oauth.PROVIDERS:
        messages.error(request, _("This channel does not sign in with Microsoft 365 or Google."))
        return _edit(channel.pk)
    provider = oauth.provider(key)
    if not provider.configured:
        messages.error(
            request,
            _("%(provider)s sign-in is not configured on this server: see the deployment guide.")
            % {"provider": provider.name},
        )
        return _edit(channel.pk)
    now = time.time()
    pending = {
        state: entry
        for state, entry in request.session.get(SESSION_KEY, {}).items()
        if now - float(entry.get("at", 0)) < PENDING_SECONDS
    }
    state, verifier = secrets.token_urlsafe(32), oauth.new_verifier()
    pending[state] = {
        "channel": channel.pk,
        "provider": key,
        "verifier": verifier,
        "user": user.pk,
        "at": now,
    }
    # The newest few: an admin who pressed Connect in several tabs finishes any of them.
    newest = sorted(pending.items(), key=lambda item: item[1]["at"])[-MAX_PENDING:]
    request.session[SESSION_KEY] = dict(newest)
    url = oauth.authorize_url(
        provider, state=state, verifier=verifier, login_hint=str(settings.get("username", ""))
    )
    return redirect(url)


@login_required
def callback(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the admin back: the code is exchanged for the grant here, in
    the request (it is valid for minutes, and the admin waits for the answer)."""
    pending = dict(request.session.get(SESSION_KEY, {}))
    entry = pending.pop(request.GET.get("state", ""), None)
    request.session[SESSION_KEY] = pending  # a state is used once
    fresh = entry is not None and time.time() - float(entry.get("at", 0)) < PENDING_SECONDS
    if entry is None or not fresh or entry.get("user") != request.user.pk:
        messages.error(
            request, _("This sign-in answer is unknown or expired: press Connect again.")
        )
        return redirect("settings:channels")
    user, channel = _channel(request, int(entry["channel"]))
    provider = oauth.provider(str(entry["provider"]))
    refused = request.GET.get("error", "")
    code = request.GET.get("code", "")
    if refused or not code:
        detail = request.GET.get("error_description", "") or refused or _("no code")
        messages.error(
            request,
            _("%(provider)s did not grant access: %(detail)s")
            % {"provider": provider.name, "detail": detail[:300]},
        )
        return _edit(channel.pk)
    try:
        grant = oauth.exchange_code(provider, code=code, verifier=str(entry["verifier"]))
    except ConnectorError as exc:
        messages.error(request, _("The connection failed: %(error)s") % {"error": exc})
        return _edit(channel.pk)
    inbox_actions.connect_channel_oauth(channel, actor=user, provider=provider.key, grant=grant)
    messages.success(
        request,
        _("%(channel)s is connected to %(provider)s.")
        % {"channel": channel.name, "provider": provider.name},
    )
    return redirect(f"{reverse('settings:channels')}#channel-{channel.pk}")
