"""Outbound requests cannot reach inside: every URL setting Comptoir sends requests to (webhooks,
each connector's base and auth URLs, the API channel's reply webhook) is refused when it leads to
loopback, private, link-local or metadata addresses, when saved and when connecting, and nothing
is sent. The tests' resolver is a table (no network); the rule is `comptoir.lib.http`'s."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpcore
import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from comptoir.accounts.models import User
from comptoir.connectors.amazon.connector import AmazonSettings
from comptoir.connectors.api.connector import ApiConnector, ApiSettings
from comptoir.connectors.base import ConnectorError, HttpClient, OutboundMessage
from comptoir.connectors.cdiscount.connector import CdiscountSettings
from comptoir.connectors.ebay.connector import EbaySettings
from comptoir.connectors.fnac.connector import FnacSettings
from comptoir.connectors.forms import settings_fields, settings_from_form
from comptoir.connectors.mirakl.connector import MiraklSettings
from comptoir.connectors.rakuten.connector import RakutenSettings
from comptoir.inbox.models import Channel
from comptoir.lib import http
from comptoir.notifications import actions
from comptoir.notifications.models import DeliveryState, Webhook, WebhookDelivery
from comptoir.notifications.tasks import deliver_webhook

# Names the tests' resolver knows: "localhost" as everywhere, a name pointing inside, one whose
# answers mix a public and a private address, and a public one.
NAMES = {
    "localhost": ["127.0.0.1", "::1"],
    "intranet.example": ["10.0.0.5"],
    "mixed.example": ["93.184.215.14", "192.168.1.20"],
    "shop.example": ["93.184.215.14"],
}

# (URL, the reason it is refused)
INSIDE = [
    ("http://127.0.0.1:8080/hook", "127.0.0.1 is loopback"),
    ("http://10.0.0.5/hook", "10.0.0.5 is private"),
    ("http://172.16.3.4/hook", "172.16.3.4 is private"),
    ("https://192.168.0.10/hook", "192.168.0.10 is private"),
    ("http://169.254.10.1/hook", "169.254.10.1 is link-local"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://[fe80::1]/hook", "fe80::1 is link-local"),
    ("http://[fd12:3456::1]/hook", "fd12:3456::1 is private"),
    ("http://[::1]/hook", "::1 is loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1 is loopback"),
    ("http://[::ffff:10.0.0.5]/hook", "::ffff:10.0.0.5 is private"),
    ("http://0.0.0.0:8000/hook", "0.0.0.0 is unspecified"),
    ("http://224.0.0.1/hook", "224.0.0.1 is multicast"),
    ("http://localhost:8000/hook", "127.0.0.1 is loopback (localhost)"),
    ("https://intranet.example/hook", "10.0.0.5 is private (intranet.example)"),
    ("https://mixed.example/hook", "192.168.1.20 is private (mixed.example)"),
]
IDS = [url for url, _ in INSIDE]


def fake_getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
    if host not in NAMES:
        # Addresses in any spelling ("127.1"), as the system reads them; no name lookup.
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    return [
        (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
        for a in NAMES[host]
    ]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connection attempted, to which address (none is made: there is no network)."""
    attempted: list[tuple[str, int]] = []

    def connect(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        attempted.append((host, port))
        raise httpcore.ConnectError("no network in this test")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect)
    return attempted


@pytest.fixture
def strict(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment's default: private addresses refused; names resolved from `NAMES`."""
    settings.OUTBOUND_ALLOW_PRIVATE = False
    monkeypatch.setattr(http, "getaddrinfo", fake_getaddrinfo)


@pytest.fixture
def server() -> Iterator[SimpleNamespace]:
    """A local HTTP server counting what reaches it; answers the queued (status, headers)."""
    received: list[str] = []
    answers: list[tuple[int, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(self.path)
            status, headers = answers.pop(0) if answers else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_POST = do_GET = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield SimpleNamespace(
        port=httpd.server_port,
        url=f"http://127.0.0.1:{httpd.server_port}",
        received=received,
        answers=answers,
    )
    httpd.shutdown()
    httpd.server_close()


def outbound() -> OutboundMessage:
    return OutboundMessage(
        message_id=7,
        idempotency_key="comptoir-7",
        conversation_thread_id="T-1",
        to="buyer@example.com",
        subject="Re: order",
        text="Hello",
    )


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("adele", "adele@example.com", "pw", role="admin")


# -- when connecting -----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "why"), INSIDE, ids=IDS)
def test_a_connectors_request_inside_is_refused_for_good_and_nothing_is_sent(
    strict: None, connections: list[tuple[str, int]], url: str, why: str
) -> None:
    with (
        HttpClient(url, name="Mirakl", max_attempts=3) as client,
        pytest.raises(ConnectorError) as caught,
    ):
        client.request("GET", "/api/account")

    assert str(caught.value) == f"Mirakl: address not allowed: {why}"
    assert caught.value.permanent
    assert connections == []


@pytest.mark.parametrize(("url", "why"), INSIDE, ids=IDS)
def test_a_webhook_inside_fails_at_once_without_a_retry_and_nothing_is_sent(
    strict: None, connections: list[tuple[str, int]], url: str, why: str, db: None
) -> None:
    # Saved when it was allowed (or its name pointed elsewhere then).
    hook = Webhook.objects.create(name="ERP", url=url, format="json")
    delivery = WebhookDelivery.objects.create(webhook=hook, kind="sla_breached", body="{}")

    outcome = deliver_webhook.call(delivery.pk)

    assert outcome == f"failed: address not allowed: {why}"
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED
    assert connections == []


@pytest.mark.parametrize(("url", "why"), INSIDE, ids=IDS)
def test_an_api_channel_reply_webhook_inside_is_refused_for_good(
    strict: None, connections: list[tuple[str, int]], channel: Channel, url: str, why: str
) -> None:
    channel.set_settings({"webhook_url": url})
    channel.save()

    with pytest.raises(ConnectorError) as caught:
        ApiConnector(channel).send(outbound())

    assert str(caught.value) == f"webhook unreachable: address not allowed: {why}"
    assert caught.value.permanent
    assert connections == []


def test_loopback_reached_through_any_spelling_sends_nothing_to_a_real_server(
    strict: None, server: SimpleNamespace
) -> None:
    for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "127.1"):
        with pytest.raises(http.AddressNotAllowed):
            http.post(f"http://{host}:{server.port}/hook", content=b"{}", headers={}, timeout=2)

    assert server.received == []


def test_a_public_address_is_connected_to_as_resolved(
    strict: None, connections: list[tuple[str, int]]
) -> None:
    client = HttpClient("https://shop.example", name="Fnac", max_attempts=1)
    with client, pytest.raises(http.HttpError, match="cannot connect"):
        client.request("GET", "/api.php")

    # The address checked, not the name again (no second lookup to be fooled by).
    assert connections == [("93.184.215.14", 443)]


# -- redirects -----------------------------------------------------------------------------------


def test_a_redirect_from_an_allowed_server_to_the_inside_is_never_followed(
    settings: Any, server: SimpleNamespace, connections_to_metadata: list[str]
) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = True  # the first hop: the local server
    inside = "http://169.254.169.254/latest/meta-data/iam/"
    server.answers.extend([(302, {"Location": inside})] * 3)

    client = HttpClient(server.url, name="Cdiscount", max_attempts=1)
    with client, pytest.raises(ConnectorError) as caught:
        client.request("GET", "/sellers")
    answer = http.post(server.url + "/hook", content=b"{}", headers={}, timeout=2)
    # Even a client told to follow redirects checks the next hop's address.
    followed = http.checked_client(timeout=2)
    followed.follow_redirects = True
    with followed, pytest.raises(http.AddressNotAllowed) as refused:
        followed.get(server.url + "/again")

    assert caught.value.status == 302
    assert caught.value.permanent
    assert answer.status_code == 302
    assert str(refused.value) == (
        "address not allowed: 169.254.169.254 is a cloud metadata address"
    )
    assert server.received == ["/sellers", "/hook", "/again"]
    assert connections_to_metadata == []


@pytest.fixture
def connections_to_metadata(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    attempted: list[str] = []
    connect = httpcore.SyncBackend.connect_tcp

    def watch(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host.startswith("169.254."):
            attempted.append(host)
        return connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", watch)
    return attempted


# -- when saved ------------------------------------------------------------------------------------

# Each connector's settings that Comptoir sends requests to.
URL_SETTINGS = [
    (MiraklSettings, "base_url"),
    (EbaySettings, "api_url"),
    (EbaySettings, "apiz_url"),
    (FnacSettings, "base_url"),
    (RakutenSettings, "base_url"),
    (CdiscountSettings, "base_url"),
    (CdiscountSettings, "auth_url"),
    (AmazonSettings, "endpoint"),
    (AmazonSettings, "token_url"),
    (ApiSettings, "webhook_url"),
]


def form_for(model: Any, field: str, url: str) -> dict[str, str]:
    # A UUID suits every required text setting (Fnac's ids must be UUIDs).
    post = {
        f.name: "0b6f3c52-8d4e-4a8a-9f1e-2c7d5e9a1b34"
        for f in settings_fields(model)
        if f.required and f.widget != "number"
    }
    for f in settings_fields(model):
        if f.widget == "url" and f.required:
            post[f.name] = "https://shop.example/"
    return {**post, field: url}


@pytest.mark.parametrize(
    ("model", "field"), URL_SETTINGS, ids=[f"{m.__name__}.{f}" for m, f in URL_SETTINGS]
)
def test_every_connector_url_setting_inside_is_refused_when_saved(
    strict: None, connections: list[tuple[str, int]], model: Any, field: str
) -> None:
    for url, why in INSIDE:
        with pytest.raises(ValidationError) as caught:
            settings_from_form(model, form_for(model, field, url), {})
        assert f"{field}: address not allowed: {why}" in caught.value.messages, url

    saved = settings_from_form(model, form_for(model, field, "https://shop.example/api"), {})
    assert saved[field] == "https://shop.example/api"
    assert connections == []


@pytest.mark.parametrize(("url", "why"), INSIDE, ids=IDS)
def test_a_webhook_url_inside_is_refused_when_saved(
    strict: None, admin: User, url: str, why: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        actions.create_webhook(actor=admin, name="ERP", url=url, fmt="json")

    assert caught.value.messages == [f"webhook URL: address not allowed: {why}"]
    assert not Webhook.objects.exists()


def test_the_webhook_page_says_why_an_address_is_refused(
    strict: None, client: Client, admin: User
) -> None:
    client.force_login(admin)

    page = client.post(
        "/settings/notifications/webhooks",
        {"name": "ERP", "url": "http://169.254.169.254/", "format": "json"},
        follow=True,
    )

    assert "address not allowed: 169.254.169.254 is a cloud metadata address" in page.text
    assert not Webhook.objects.exists()


def test_the_allow_setting_lets_private_addresses_through_but_never_metadata(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    monkeypatch.setattr(http, "getaddrinfo", fake_getaddrinfo)

    for url in ("http://127.0.0.1:8080/", "http://10.0.0.5/", "http://localhost/"):
        http.check_url(url)
    for url in ("http://169.254.169.254/", "http://[::ffff:169.254.169.254]/"):
        with pytest.raises(http.AddressNotAllowed, match="cloud metadata"):
            http.check_url(url)


def test_one_request_allowed_private_reaches_it_and_no_other_does(
    strict: None, server: SimpleNamespace
) -> None:
    """`allow_private=True` (a local server the admin saved as such) is for that call only."""
    with pytest.raises(http.AddressNotAllowed, match="loopback"):
        http.post(server.url + "/a", content=b"{}", headers={}, timeout=5)
    sent = http.post(server.url + "/b", content=b"{}", headers={}, timeout=5, allow_private=True)
    assert sent.status_code == 200
    with pytest.raises(http.AddressNotAllowed, match="loopback"):
        http.post(server.url + "/c", content=b"{}", headers={}, timeout=5)
    assert server.received == ["/b"]
    http.check_url("http://localhost:8080/v1", allow_private=True)
    http.check_url("https://intranet.example/v1", allow_private=True)
    with pytest.raises(http.AddressNotAllowed, match="cloud metadata"):
        http.check_url("http://169.254.169.254/v1", allow_private=True)
    with pytest.raises(http.AddressNotAllowed, match="cloud metadata"):
        http.post("http://169.254.169.254/", content=b"", headers={}, timeout=5, allow_private=True)


# -- what the admin is shown -----------------------------------------------------------------------


def test_an_error_page_behind_a_url_is_never_echoed(server: SimpleNamespace) -> None:
    secret = b"<html>root:x:0:0:root:/root:/bin/bash AKIA-SECRET</html>"
    response = http.Response(500, content=secret, headers={"Content-Type": "text/html"})
    json_error = http.Response(400, json={"message": "Invalid shop key", "trace": "AKIA-SECRET"})

    assert http.describe(response) == "500 Internal Server Error"
    assert http.status_line(response) == "HTTP 500 Internal Server Error"
    assert http.status_line(json_error) == "HTTP 400 Bad Request: Invalid shop key"


def test_healthz_tells_anonymous_callers_a_status_only(
    db: None, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.web import views

    class Unreachable:
        vendor = "postgresql"

        def cursor(self) -> Any:
            raise RuntimeError('could not connect to "db.internal" (10.0.0.7) as user admin')

    monkeypatch.setattr(views, "connection", Unreachable())

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}
    assert "db.internal" not in response.text


def test_a_test_receiver_on_this_sites_private_address_says_why_it_has_no_webhook(
    strict: None, settings: Any, client: Client, admin: User
) -> None:
    settings.SITE_URL = "http://127.0.0.1:8000"
    client.force_login(admin)

    page = client.post(
        "/settings/notifications/receivers",
        {"name": "Check", "with_webhook": "on", "format": "json"},
        follow=True,
    )

    assert page.status_code == 200
    assert "address not allowed: 127.0.0.1 is loopback" in page.text
    assert not Webhook.objects.exists()


def test_test_connection_to_the_inside_tells_the_admin_why_and_sends_nothing(
    strict: None, connections: list[tuple[str, int]], shop: Any
) -> None:
    from comptoir.inbox.tasks import test_channel

    channel = Channel(shop=shop, kind="mirakl", marketplace="darty", name="Darty")
    channel.set_settings({"base_url": "http://169.254.169.254/", "api_key": "k"})
    channel.save()

    outcome = test_channel.call(channel.pk)

    assert outcome == {
        "ok": False,
        "message": "Mirakl (Darty): address not allowed: "
        "169.254.169.254 is a cloud metadata address",
    }
    assert connections == []


# -- the AI drafting endpoint ----------------------------------------------------------------------


@pytest.mark.parametrize(("url", "why"), INSIDE, ids=IDS)
def test_an_ai_endpoint_inside_is_refused_when_saved_unless_the_admin_says_it_is_local(
    strict: None, connections: list[tuple[str, int]], admin: User, url: str, why: str
) -> None:
    from comptoir.triage import actions as triage_actions

    def save(local: bool) -> None:
        triage_actions.save_llm_settings(
            actor=admin, enabled=True, url=url, model="m", timeout_seconds=5, local=local
        )

    with pytest.raises(ValidationError) as caught:
        save(local=False)
    assert caught.value.messages == [f"AI endpoint URL: address not allowed: {why}"]
    if "metadata" in why:
        with pytest.raises(ValidationError, match="cloud metadata"):
            save(local=True)
    else:
        save(local=True)  # a server on the seller's own network, said so
    assert connections == []


def test_an_ai_endpoint_that_redirects_inside_is_not_followed(
    strict: None, server: SimpleNamespace, admin: User, connections_to_metadata: list[str]
) -> None:
    """A local endpoint the admin allowed answers with a redirect to the metadata service: the
    draft fails with the status alone, and nothing reaches the metadata address."""
    from comptoir.automation import drafting
    from comptoir.triage.models import TriageSettings

    TriageSettings.get()
    TriageSettings.objects.filter(pk=1).update(
        llm_enabled=True, llm_url=server.url + "/v1", llm_model="m", llm_local=True
    )
    server.answers.append((307, {"Location": "http://169.254.169.254/latest/meta-data/"}))
    found = TriageSettings.get()

    response = drafting._post(found, {"model": "m", "messages": []})
    with pytest.raises(drafting.DraftingError, match="HTTP 307"):
        drafting._content(response)

    assert server.received == ["/v1/chat/completions"]
    assert connections_to_metadata == []


@pytest.mark.parametrize("field", ["imap_host", "smtp_host"])
def test_a_mailbox_server_inside_is_refused_when_saved(
    strict: None, connections: list[tuple[str, int]], field: str
) -> None:
    from comptoir.connectors.email.connector import EmailSettings

    base = {"imap_host": "shop.example", "username": "u", "password": "p"}
    for host, why in [
        ("127.0.0.1", "127.0.0.1 is loopback"),
        ("169.254.169.254", "169.254.169.254 is a cloud metadata address"),
        ("intranet.example", "10.0.0.5 is private (intranet.example)"),
        ("::ffff:10.0.0.5", "::ffff:10.0.0.5 is private"),
    ]:
        with pytest.raises(ValidationError) as caught:
            settings_from_form(EmailSettings, {**base, field: host}, {})
        assert f"{field}: address not allowed: {why}" in caught.value.messages, host

    assert settings_from_form(EmailSettings, {**base, field: "shop.example"}, {})[field]
    assert connections == []
