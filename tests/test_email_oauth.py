"""Mailboxes by OAuth 2: the authorisation-code flow from the channel's settings page (PKCE, a
state bound to the session), the grant kept encrypted, the access token refreshed before its
expiry and once across workers, and a revoked consent that stops the channel with a clear
reason. The provider is a fake authorisation server on 127.0.0.1 (tests/oauthservers.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client

from comptoir.accounts.models import User
from comptoir.audit.models import AuditEvent
from comptoir.connectors.base import ConnectorError
from comptoir.connectors.email import oauth
from comptoir.connectors.email.idle import _fingerprint
from comptoir.inbox.models import Channel, Shop
from comptoir.lib import http
from tests.oauthservers import CLIENT_ID, CLIENT_SECRET, FakeAuthServer

CALLBACK = "/settings/channels/oauth/callback"


@pytest.fixture(scope="module")
def auth_server() -> Iterator[FakeAuthServer]:
    server = FakeAuthServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def provider(auth_server: FakeAuthServer, settings: Any) -> FakeAuthServer:
    """Google's sign-in pointed at the fake server (Microsoft's alike, by its own settings)."""
    for key in ("GOOGLE", "MICROSOFT"):
        setattr(settings, f"OAUTH_{key}_CLIENT_ID", CLIENT_ID)
        setattr(settings, f"OAUTH_{key}_CLIENT_SECRET", CLIENT_SECRET)
        setattr(settings, f"OAUTH_{key}_AUTHORIZE_URL", f"{auth_server.url}/authorize")
        setattr(settings, f"OAUTH_{key}_TOKEN_URL", f"{auth_server.url}/token")
    auth_server.requests.clear()
    auth_server.fail_next = 0
    auth_server.rotate = False
    auth_server.expires_in = 3600.0
    auth_server.refreshed.clear()
    return auth_server


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("admin2", "a@x.fr", "x", role="admin")


def oauth_channel(shop: Shop, auth: str = "google", **extra: Any) -> Channel:
    channel = Channel(shop=shop, kind="email", marketplace="shop", name="Gmail box")
    channel.set_settings(
        {
            "imap_host": "imap.gmail.com",
            "username": "shop@example.com",
            "auth": auth,
            "smtp_host": "smtp.gmail.com",
            "from_address": "shop@example.com",
            **extra,
        }
    )
    channel.save()
    return channel


def connect(client: Client, channel: Channel, server: FakeAuthServer) -> Any:
    """Connect, consent at the fake provider, and come back: the callback's answer."""
    started = client.post(f"/settings/channels/{channel.pk}/oauth")
    assert started.status_code == 302
    consent = httpx.get(started["Location"], follow_redirects=False)
    back = urlsplit(consent.headers["location"])
    assert back.path == CALLBACK
    return client.get(f"{back.path}?{back.query}")


def test_connect_sends_the_admin_to_the_provider_with_pkce_and_a_state(
    client: Client, shop: Shop, admin: User, provider: FakeAuthServer, settings: Any
) -> None:
    channel = oauth_channel(shop)
    client.force_login(admin)

    answer = client.post(f"/settings/channels/{channel.pk}/oauth")

    url = urlsplit(answer["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{provider.url}/authorize"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == settings.SITE_URL + CALLBACK
    assert query["scope"] == settings.OAUTH_GOOGLE_SCOPES
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["access_type"] == "offline"  # Google's refresh token
    assert query["login_hint"] == "shop@example.com"
    pending = client.session["email_oauth"][query["state"]]
    assert pending["channel"] == channel.pk
    assert oauth.challenge(pending["verifier"]) == query["code_challenge"]
    assert client.get(f"/settings/channels/{channel.pk}/oauth").status_code == 405


def test_the_callback_exchanges_the_code_and_keeps_the_grant_encrypted(
    client: Client, shop: Shop, admin: User, provider: FakeAuthServer
) -> None:
    channel = oauth_channel(shop, auth="microsoft")
    Channel.objects.filter(pk=channel.pk).update(is_healthy=False, last_error="not connected")
    client.force_login(admin)

    answer = connect(client, channel, provider)

    assert answer.status_code == 302
    assert answer["Location"] == f"/settings/channels/#channel-{channel.pk}"
    (exchange,) = provider.requests
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["code_verifier"]  # PKCE checked by the fake server against the challenge
    channel.refresh_from_db()
    stored = channel.get_settings()
    assert stored["oauth_provider"] == "microsoft"
    assert stored["oauth_refresh_token"] in provider.refresh_tokens
    assert stored["oauth_refresh_token"] not in channel.settings_encrypted  # encrypted
    assert channel.is_healthy
    assert channel.last_error == ""
    event = AuditEvent.objects.get(action="channel.connected")
    assert event.changes == {"auth": "microsoft"}
    page = client.get(f"/settings/channels/{channel.pk}/edit").content.decode()
    assert "Connected to Microsoft 365" in page
    assert stored["oauth_refresh_token"] not in page
    assert stored["oauth_access_token"] not in page


def test_a_state_is_used_once_and_only_in_its_own_session(
    client: Client, shop: Shop, admin: User, provider: FakeAuthServer
) -> None:
    channel = oauth_channel(shop)
    client.force_login(admin)
    started = client.post(f"/settings/channels/{channel.pk}/oauth")
    back = urlsplit(httpx.get(started["Location"]).headers["location"])
    other = Client()
    other.force_login(User.objects.create_user("admin3", "b@x.fr", "x", role="admin"))

    stolen = other.get(f"{back.path}?{back.query}", follow=True).content.decode()
    forged = client.get(f"{CALLBACK}?code=x&state=forged", follow=True).content.decode()

    assert "unknown or expired" in stolen
    assert "unknown or expired" in forged
    assert provider.requests == []  # no code was exchanged
    assert "oauth_refresh_token" not in Channel.objects.get(pk=channel.pk).get_settings()
    assert client.get(f"{back.path}?{back.query}").status_code == 302  # its own session: yes
    replayed = client.get(f"{back.path}?{back.query}", follow=True).content.decode()
    assert "unknown or expired" in replayed
    assert len(provider.requests) == 1


def test_a_refusal_at_the_provider_is_shown_and_nothing_is_kept(
    client: Client, shop: Shop, admin: User, provider: FakeAuthServer
) -> None:
    channel = oauth_channel(shop)
    client.force_login(admin)
    started = client.post(f"/settings/channels/{channel.pk}/oauth")
    state = parse_qs(urlsplit(started["Location"]).query)["state"][0]

    page = client.get(
        f"{CALLBACK}?state={state}&error=access_denied&error_description=The+user+declined",
        follow=True,
    ).content.decode()

    assert "Google did not grant access: The user declined" in page
    assert provider.requests == []
    assert "oauth_refresh_token" not in Channel.objects.get(pk=channel.pk).get_settings()


def test_an_unconfigured_provider_is_said_on_the_page_and_connect_goes_nowhere(
    client: Client, shop: Shop, admin: User, settings: Any
) -> None:
    settings.OAUTH_GOOGLE_CLIENT_ID = ""
    channel = oauth_channel(shop)
    client.force_login(admin)

    page = client.get(f"/settings/channels/{channel.pk}/edit").content.decode()
    answer = client.post(f"/settings/channels/{channel.pk}/oauth")

    assert "Google sign-in is not configured on this server" in page
    assert answer["Location"] == f"/settings/channels/{channel.pk}/edit#connect"


def test_the_form_offers_the_sign_in_and_keeps_the_grant_when_saved(
    client: Client, shop: Shop, admin: User, provider: FakeAuthServer
) -> None:
    channel = oauth_channel(shop, **provider.grant())
    grant = channel.get_settings()["oauth_refresh_token"]
    client.force_login(admin)
    page = client.get(f"/settings/channels/{channel.pk}/edit").content.decode()

    saved = client.post(
        f"/settings/channels/{channel.pk}/edit",
        {
            "kind": "email",
            "name": "Gmail box",
            "shop": shop.pk,
            "marketplace": "shop",
            "is_active": "on",
            "imap_host": "imap.gmail.com",
            "username": "shop@example.com",
            "auth": "google",
            "folders": "INBOX",
        },
    )
    refused = client.post(
        f"/settings/channels/{channel.pk}/edit",
        {"kind": "email", "name": "Gmail box", "shop": shop.pk, "marketplace": "shop",
         "imap_host": "imap.gmail.com", "username": "shop@example.com", "auth": "password"},
    )  # fmt: skip

    assert '<option value="google" selected>Google (OAuth)</option>' in page
    assert '<option value="microsoft">Microsoft 365 (OAuth)</option>' in page
    assert "oauth_refresh_token" not in page
    assert saved.status_code == 302
    assert Channel.objects.get(pk=channel.pk).get_settings()["oauth_refresh_token"] == grant
    assert refused.status_code == 400
    assert "a password is needed" in refused.content.decode()


# -- the access token -----------------------------------------------------------------------


def test_the_access_token_is_refreshed_before_it_expires_and_reused_until_then(
    shop: Shop, provider: FakeAuthServer
) -> None:
    provider.rotate = True  # Microsoft's way: the new refresh token must be kept
    grant = provider.grant()
    channel = oauth_channel(shop, **{**grant, "oauth_access_token": "old"})
    # Valid for four more minutes: inside the margin, so refreshed now rather than mid-poll.
    Channel.objects.filter(pk=channel.pk).update(
        settings_encrypted=_with(channel, oauth_expires_at=time.time() + 240)
    )
    channel.refresh_from_db()

    first = oauth.access_token(channel, "google")
    second = oauth.access_token(channel, "google")

    assert first != "old"
    assert first == second
    assert len(_refreshes(provider)) == 1
    stored = Channel.objects.get(pk=channel.pk).get_settings()
    assert stored["oauth_access_token"] == first
    assert stored["oauth_refresh_token"] != grant["oauth_refresh_token"]  # rotated, kept
    assert stored["oauth_expires_at"] > time.time() + 3000


def test_a_token_another_worker_refreshed_meanwhile_is_used_as_is(
    shop: Shop, provider: FakeAuthServer
) -> None:
    channel = oauth_channel(shop, **provider.grant())
    stale = Channel.objects.get(pk=channel.pk)  # this worker's copy, with the expired token
    oauth.access_token(channel, "google")  # the other worker
    assert len(_refreshes(provider)) == 1

    token = oauth.access_token(stale, "google")

    assert len(_refreshes(provider)) == 1  # seen under the lock: no second refresh
    assert token == Channel.objects.get(pk=channel.pk).get_settings()["oauth_access_token"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_ask_the_provider_once(provider: FakeAuthServer) -> None:
    shop = Shop.objects.create(name="Shop")
    channel = oauth_channel(shop, **provider.grant())
    tokens: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        from django.db import connection

        try:
            mine = Channel.objects.get(pk=channel.pk)
            barrier.wait()
            tokens.append(oauth.access_token(mine, "google"))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(_refreshes(provider)) == 1
    assert len(tokens) == 2
    assert tokens[0] == tokens[1]


def test_a_revoked_consent_stops_the_channel_with_a_clear_reason(
    client: Client, shop: Shop, admin: User, provider: FakeAuthServer
) -> None:
    channel = oauth_channel(shop, **provider.grant())
    provider.revoke()

    with pytest.raises(ConnectorError) as refused:
        oauth.access_token(channel, "google")

    assert refused.value.permanent
    channel.refresh_from_db()
    assert not channel.is_healthy
    assert "invalid_grant" in channel.last_error
    assert "connect the mailbox again" in channel.last_error
    assert channel.pk not in [c.pk for c in _healthy_email_channels()]  # no more polls
    client.force_login(admin)
    listing = client.get("/settings/channels/").content.decode()
    form = client.get(f"/settings/channels/{channel.pk}/edit").content.decode()
    assert "stopped" in listing
    assert "connect the mailbox again" in listing
    assert "it is stopped until you connect it again" in form
    assert "Connect again" in form


def test_a_token_endpoint_in_trouble_is_a_transient_error(
    shop: Shop, provider: FakeAuthServer
) -> None:
    channel = oauth_channel(shop, **provider.grant())
    provider.fail_next = 1

    with pytest.raises(ConnectorError) as failed:
        oauth.access_token(channel, "google")
    token = oauth.access_token(channel, "google")  # the next poll

    assert not failed.value.permanent
    assert "503" in str(failed.value)
    assert Channel.objects.get(pk=channel.pk).is_healthy
    assert token.startswith("at-")


def test_a_wrong_application_secret_says_which_setting_to_check(
    shop: Shop, provider: FakeAuthServer, settings: Any
) -> None:
    settings.OAUTH_GOOGLE_CLIENT_SECRET = "wrong"
    channel = oauth_channel(shop, **provider.grant())

    with pytest.raises(ConnectorError, match="COMPTOIR_OAUTH_GOOGLE_CLIENT_ID and _CLIENT_SECRET"):
        oauth.access_token(channel, "google")


def test_token_requests_go_through_the_outbound_address_checks(
    shop: Shop, provider: FakeAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "allow_private", lambda: False)
    channel = oauth_channel(shop, **provider.grant())

    with pytest.raises(ConnectorError, match="address not allowed") as refused:
        oauth.access_token(channel, "google")

    assert refused.value.permanent
    assert provider.requests == []


def test_a_mailbox_not_yet_connected_says_so(shop: Shop, provider: FakeAuthServer) -> None:
    channel = oauth_channel(shop)
    switched = oauth_channel(shop, auth="microsoft", **provider.grant())  # a Google grant

    for unconnected, key in ((channel, "google"), (switched, "microsoft")):
        with pytest.raises(ConnectorError, match=r"not connected to .* yet: press Connect"):
            oauth.access_token(unconnected, key)
    assert provider.requests == []


def test_a_refreshed_token_does_not_restart_the_idle_watcher(
    shop: Shop, provider: FakeAuthServer
) -> None:
    channel = oauth_channel(shop, **provider.grant())
    before = _fingerprint(channel)

    oauth.access_token(channel, "google")
    channel.refresh_from_db()
    refreshed = _fingerprint(channel)
    Channel.objects.filter(pk=channel.pk).update(
        settings_encrypted=_with(channel, imap_host="imap2.gmail.com")
    )
    channel.refresh_from_db()

    assert refreshed == before
    assert _fingerprint(channel) != before


def _with(channel: Channel, **changes: Any) -> str:
    copy = Channel(settings_encrypted=channel.settings_encrypted)
    copy.set_settings({**copy.get_settings(), **changes})
    return copy.settings_encrypted


def _refreshes(server: FakeAuthServer) -> list[dict[str, str]]:
    return [r for r in server.requests if r.get("grant_type") == "refresh_token"]


def _healthy_email_channels() -> list[Any]:
    from comptoir.connectors.base import channel_store

    return channel_store().channels("email")


def test_a_password_is_neither_asked_nor_kept_for_an_oauth_mailbox(
    client: Client, shop: Shop, admin: User, provider: FakeAuthServer
) -> None:
    channel = oauth_channel(shop, auth="password", password="old-secret", smtp_password="smtp")
    client.force_login(admin)
    page = client.get(f"/settings/channels/{channel.pk}/edit").content.decode()
    # The page hides the passwords by script unless password sign-in is chosen; without
    # script they stay, saying they are ignored with OAuth.
    assert page.count('data-only-when="auth" data-only-values="password"') == 2
    assert "ignored with Microsoft 365 or Google (OAuth)" in page
    saved = client.post(
        f"/settings/channels/{channel.pk}/edit",
        {"kind": "email", "name": "Box", "shop": shop.pk, "marketplace": "shop",
         "imap_host": "outlook.office365.com", "username": "shop@example.com",
         "auth": "microsoft", "password": "typed-anyway", "smtp_password": "this-too",
         "folders": "INBOX"},
    )  # fmt: skip
    assert saved.status_code == 302
    stored = Channel.objects.get(pk=channel.pk).get_settings()
    # Neither the one typed nor the one stored before: OAuth signs in with tokens only.
    assert stored["password"] == ""
    assert stored["smtp_password"] is None
    assert stored["auth"] == "microsoft"
