"""XOAUTH2 against real servers: a dovecot whose oauth2 passdb asks the fake authorisation
server about each bearer token (RFC 7662 introspection), an SMTP server (aiosmtpd) that takes
mail only after AUTH XOAUTH2, and IMAP IDLE logging in again with a fresh token."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from comptoir.connectors.base import ConnectorError, OutboundMessage
from comptoir.connectors.email import oauth
from comptoir.connectors.email.connector import EmailConnector
from comptoir.connectors.email.idle import IdleWatcher
from comptoir.inbox.models import Channel, Shop
from tests.conftest import require_or_skip
from tests.mailservers import Dovecot, XOAuth2SMTPServer, dovecot_missing
from tests.oauthservers import CLIENT_ID, CLIENT_SECRET, FakeAuthServer
from tests.test_email_imap import mail

WAIT = 60.0  # a guard against a hang, not a speed bound
# The test SMTP server speaks in clear on 127.0.0.1; aiosmtpd warns about AUTH without TLS.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
ACCOUNT = "shop@example.com"


@pytest.fixture(scope="module")
def auth_server() -> Iterator[FakeAuthServer]:
    server = FakeAuthServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oauth_dovecot(auth_server: FakeAuthServer) -> Iterator[Dovecot]:
    why = dovecot_missing()
    require_or_skip(not why, why or "dovecot")
    tmp = Path(tempfile.mkdtemp(prefix="comptoir-dovecot-oauth-"))
    server = Dovecot(tmp, introspection_url=f"{auth_server.url}/introspect")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def oauth_smtp(auth_server: FakeAuthServer) -> Iterator[XOAuth2SMTPServer]:
    server = XOAuth2SMTPServer(auth_server.valid)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def provider(auth_server: FakeAuthServer, settings: Any) -> FakeAuthServer:
    settings.OAUTH_GOOGLE_CLIENT_ID = CLIENT_ID
    settings.OAUTH_GOOGLE_CLIENT_SECRET = CLIENT_SECRET
    settings.OAUTH_GOOGLE_TOKEN_URL = f"{auth_server.url}/token"
    auth_server.requests.clear()
    auth_server.expires_in = 3600.0
    auth_server.refreshed.clear()
    auth_server.revoke()
    return auth_server


@pytest.fixture
def channel(
    shop: Shop,
    provider: FakeAuthServer,
    oauth_dovecot: Dovecot,
    oauth_smtp: XOAuth2SMTPServer,
) -> Channel:
    channel = Channel(shop=shop, kind="email", marketplace="shop", name="Gmail box")
    channel.set_settings(
        {
            "imap_host": oauth_dovecot.host,
            "imap_port": oauth_dovecot.port,
            "imap_security": "none",
            "username": ACCOUNT,
            "auth": "google",
            "idle": False,
            "smtp_host": oauth_smtp.host,
            "smtp_port": oauth_smtp.port,
            "smtp_security": "none",
            "from_address": ACCOUNT,
            **provider.grant(ACCOUNT),
        }
    )
    channel.save()
    return channel


def reply(channel: Channel) -> OutboundMessage:
    return OutboundMessage(
        message_id=1,
        idempotency_key="k1",
        conversation_thread_id="",
        to="buyer@example.org",
        subject="",
        text="Bonjour, votre colis est parti.",
        conversation_subject="Où est ma commande ?",
        conversation_id=7,
    )


def test_dovecot_takes_the_xoauth2_login_and_the_mail_is_read(
    channel: Channel, oauth_dovecot: Dovecot, provider: FakeAuthServer
) -> None:
    raw, message_id = mail()
    oauth_dovecot.deliver(ACCOUNT, raw)
    connector = EmailConnector(channel)

    fetched = list(connector.fetch({}))

    assert [m.meta.get("uid") for m in fetched] == [1]
    assert fetched[0].external_id.startswith(message_id)
    token = Channel.objects.get(pk=channel.pk).get_settings()["oauth_access_token"]
    assert token in provider.introspected  # dovecot asked the provider about this very token
    assert connector.login_expires_at is not None


def test_dovecot_refuses_a_token_for_another_account(
    channel: Channel, provider: FakeAuthServer
) -> None:
    settings = channel.get_settings()
    channel.set_settings({**settings, **provider.grant("someone-else@example.com")})
    channel.save()

    with pytest.raises(ConnectorError, match="IMAP login refused") as refused:
        EmailConnector(channel).test_connection()

    assert refused.value.permanent
    # Refused twice: once with the token, once more with a new one (it might have been stale).
    assert len([r for r in provider.requests if r["grant_type"] == "refresh_token"]) == 2


def test_a_token_the_server_no_longer_takes_is_renewed_once(
    channel: Channel, provider: FakeAuthServer
) -> None:
    EmailConnector(channel).test_connection()
    provider.expire_access_tokens()  # dead before its announced expiry
    channel.refresh_from_db()

    outcome = EmailConnector(channel).test_connection()

    assert outcome.startswith("connected")
    assert len([r for r in provider.requests if r["grant_type"] == "refresh_token"]) == 2


def test_a_reply_is_sent_after_smtp_auth_xoauth2(
    channel: Channel, oauth_smtp: XOAuth2SMTPServer
) -> None:
    oauth_smtp.received.clear()

    result = EmailConnector(channel).send(reply(channel))

    token = Channel.objects.get(pk=channel.pk).get_settings()["oauth_access_token"]
    assert (ACCOUNT, token) in oauth_smtp.logins
    ((_sender, recipients, data),) = oauth_smtp.received
    assert recipients == ["buyer@example.org"]
    assert result.message_id.encode() in data


def test_smtp_renews_a_refused_token_once_then_gives_up_for_good(
    channel: Channel, oauth_smtp: XOAuth2SMTPServer, provider: FakeAuthServer
) -> None:
    oauth_smtp.received.clear()
    oauth.access_token(channel, "google")
    provider.expire_access_tokens()
    channel.refresh_from_db()

    EmailConnector(channel).send(reply(channel))  # refused, renewed, sent
    stranger = channel.get_settings()
    channel.set_settings({**stranger, **provider.grant("someone-else@example.com")})
    channel.save()
    with pytest.raises(ConnectorError, match="SMTP login refused") as refused:
        EmailConnector(channel).send(reply(channel))

    assert len(oauth_smtp.received) == 1
    assert refused.value.permanent
    assert oauth_smtp.refused  # the expired token, then the stranger's two


def test_a_revoked_consent_at_send_time_stops_the_channel(
    channel: Channel, oauth_smtp: XOAuth2SMTPServer, provider: FakeAuthServer
) -> None:
    provider.revoke()

    with pytest.raises(ConnectorError, match="invalid_grant") as refused:
        EmailConnector(channel).send(reply(channel))

    assert refused.value.permanent
    channel.refresh_from_db()
    assert not channel.is_healthy
    assert "connect the mailbox again" in channel.last_error


@pytest.mark.django_db(transaction=True)
def test_idle_logs_in_again_with_a_fresh_token_before_the_old_one_ends(
    provider: FakeAuthServer, oauth_dovecot: Dovecot, oauth_smtp: XOAuth2SMTPServer
) -> None:
    shop = Shop.objects.create(name="Shop")
    channel = Channel(shop=shop, kind="email", marketplace="shop", name="Gmail box")
    channel.set_settings(
        {
            "imap_host": oauth_dovecot.host,
            "imap_port": oauth_dovecot.port,
            "imap_security": "none",
            "username": ACCOUNT,
            "auth": "google",
            **provider.grant(ACCOUNT),
        }
    )
    channel.save()
    # Each token counts as fresh for a fraction of a second past the refresh margin: the
    # watcher must end its session and log in again with the next one.
    provider.expires_in = oauth.REFRESH_MARGIN + 0.5
    notices = threading.Semaphore(0)
    watcher = IdleWatcher(EmailConnector(channel), notices.release, check_seconds=0.1)

    def run() -> None:
        try:
            watcher.run()
        finally:
            connections.close_all()  # this thread's (the token refresh's) connection

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert notices.acquire(timeout=WAIT)  # first session's catch-up
        assert notices.acquire(timeout=WAIT)  # the second session's: it logged in again
    finally:
        watcher.stop.set()
        thread.join(timeout=WAIT)

    assert watcher.renewals >= 1
    assert watcher.last_error == ""
    refreshes = [r for r in provider.requests if r["grant_type"] == "refresh_token"]
    assert len(refreshes) >= 2
    tokens = [t for t in provider.introspected if t.startswith("at-")]
    assert len(set(tokens)) >= 2  # dovecot saw two different tokens
