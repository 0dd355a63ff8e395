"""Optional AI drafting: a local fake OpenAI-compatible server answers; the draft is built from
the order and the buyer's text, comes back through the pre-send checks, and nothing is stored or
sent. Failures are one clear sentence; the API key shows in no page and no log."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from comptoir.accounts.models import User
from comptoir.automation import drafting
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation, Message, Shop
from comptoir.lib import http
from comptoir.orders.models import Order
from comptoir.triage import actions
from comptoir.triage.models import TriageSettings

KEY = "sk-test-very-secret-4242"
GOOD = "Bonjour Jeanne,\nVotre colis est parti hier avec Colissimo.\nBonne journée."


class Fake:
    """What the fake endpoint answers next, and what it received."""

    mode = "ok"
    content = GOOD
    requests: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Fake.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
        )
        if Fake.mode == "500":
            payload, status, kind = b'{"error": "secret internal details"}', 500, "application/json"
        elif Fake.mode == "garbage":
            payload, status, kind = b"<html>not json at all</html>", 200, "text/html"
        else:
            answer = {"choices": [{"message": {"role": "assistant", "content": Fake.content}}]}
            payload, status, kind = json.dumps(answer).encode(), 200, "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _fresh_fake() -> None:
    Fake.mode, Fake.content, Fake.requests = "ok", GOOD, []


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("boss", "b@x.fr", "x", role="admin")


@pytest.fixture
def no_private(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production default: the tests' blanket allowance of private addresses is off."""
    monkeypatch.setattr(http, "allow_private", lambda: False)


@pytest.fixture
def enabled(endpoint: str, admin: User, no_private: None) -> TriageSettings:
    return actions.save_llm_settings(
        actor=admin,
        enabled=True,
        url=endpoint,
        model="tiny-model",
        timeout_seconds=5,
        local=True,
        api_key=KEY,
    )


@pytest.fixture
def conversation(make_inbound: Callable[..., InboundMessage], shop: Shop) -> Conversation:
    result = ingest(
        make_inbound(
            order_number="402-1111111-2222222",
            text="Bonjour, où est mon colis ? Je l'attends depuis une semaine.",
        )
    )
    conv = Conversation.objects.get(pk=result.conversation_id)
    order = Order.objects.create(
        shop=shop,
        channel=conv.channel,
        external_id="402-1111111-2222222",
        status="shipped",
        carrier="Colissimo",
        tracking_number="6A12345678901",
        items=[{"title": "Lampe de chevet Opaline", "quantity": 2}],
    )
    Conversation.objects.filter(pk=conv.pk).update(order=order, language="fr")
    return Conversation.objects.select_related("shop", "channel", "customer", "order").get(
        pk=conv.pk
    )


def _draft(client: Client, user: User, conv: Conversation) -> Any:
    client.force_login(user)
    return client.post(reverse("automation:draft", args=[conv.pk]))


def test_the_request_carries_the_order_and_the_buyer_text(
    enabled: TriageSettings, conversation: Conversation, agent: User
) -> None:
    found = drafting.draft(conversation, agent)
    assert found.text == GOOD
    assert found.checks == []
    [sent] = Fake.requests
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"
    assert sent["body"]["model"] == "tiny-model"
    system, user = sent["body"]["messages"]
    assert system["role"] == "system"
    assert "French" in system["content"]
    assert "never invent facts" in system["content"].lower()
    assert "phone numbers" in system["content"]  # Amazon's rules
    text = user["content"]
    assert "Buyer: Bonjour, où est mon colis ?" in text
    for fact in ("402-1111111-2222222", "Shipped", "Colissimo", "6A12345678901", "Opaline"):
        assert fact in text


def test_a_link_in_the_draft_is_flagged_on_amazon(
    enabled: TriageSettings, conversation: Conversation, agent: User, client: Client
) -> None:
    Fake.content = "Bonjour Jeanne,\nVoyez https://www.maison-lumiere.fr/suivi merci."
    messages_before = Message.objects.count()
    response = _draft(client, agent, conversation)
    assert response.status_code == 200
    page = response.content.decode()
    assert "https://www.maison-lumiere.fr/suivi" in page  # the draft, to fill the composer
    assert 'data-blocking="1"' in page
    assert 'data-code="link"' in page
    assert Message.objects.count() == messages_before  # nothing sent nor stored


def test_the_button_shows_only_when_enabled(
    conversation: Conversation, agent: User, client: Client, endpoint: str, admin: User
) -> None:
    client.force_login(agent)
    page = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert 'id="draft-with-ai"' not in page
    assert _draft(client, agent, conversation).status_code == 404
    actions.save_llm_settings(
        actor=admin, enabled=True, url=endpoint, model="m", timeout_seconds=5, local=True
    )
    client.force_login(agent)
    page = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert 'id="draft-with-ai"' in page
    assert reverse("automation:draft", args=[conversation.pk]) in page


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("500", "refused the request (HTTP 500)"),
        ("garbage", "answer could not be read"),
        ("empty", "answer could not be read"),
    ],
)
def test_a_failing_endpoint_is_a_clear_message(
    enabled: TriageSettings,
    conversation: Conversation,
    agent: User,
    client: Client,
    mode: str,
    expected: str,
) -> None:
    Fake.mode = mode
    if mode == "empty":
        Fake.content = "  "
    messages_before = Message.objects.count()
    response = _draft(client, agent, conversation)
    page = response.content.decode()
    assert response.status_code == 200
    assert expected in page
    assert 'data-state="error"' in page
    assert "ai-draft-text" not in page
    assert "secret internal details" not in page
    assert "not json" not in page
    assert Message.objects.count() == messages_before


def test_an_endpoint_down_is_a_clear_message(
    enabled: TriageSettings, conversation: Conversation, agent: User, client: Client
) -> None:
    with socket.socket() as s:  # a port nobody listens on any more
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    TriageSettings.objects.filter(pk=1).update(llm_url=f"http://127.0.0.1:{port}/v1")
    assert "Cannot reach the AI endpoint" in _draft(client, agent, conversation).content.decode()


def test_a_timeout_is_a_clear_message(
    enabled: TriageSettings,
    conversation: Conversation,
    agent: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def slow(*args: Any, **kwargs: Any) -> Any:
        raise http.HttpError("timed out: read", maybe_sent=True)

    monkeypatch.setattr(http, "post", slow)
    with pytest.raises(drafting.DraftingError, match="did not answer within 5 seconds"):
        drafting.draft(conversation, agent)


def test_a_local_endpoint_needs_the_admin_to_say_so(
    enabled: TriageSettings, conversation: Conversation, agent: User, admin: User, endpoint: str
) -> None:
    with pytest.raises(actions.ValidationError, match="loopback"):
        actions.save_llm_settings(
            actor=admin, enabled=True, url=endpoint, model="m", timeout_seconds=5, local=False
        )
    # Saved as local then changed behind the form's back: the request itself is refused.
    TriageSettings.objects.filter(pk=1).update(llm_local=False)
    with pytest.raises(drafting.DraftingError, match="address is not allowed"):
        drafting.draft(conversation, agent)
    assert Fake.requests == []


def test_metadata_addresses_are_refused_even_as_local(admin: User, no_private: None) -> None:
    with pytest.raises(actions.ValidationError, match="metadata"):
        actions.save_llm_settings(
            actor=admin,
            enabled=True,
            url="http://169.254.169.254/v1",
            model="m",
            timeout_seconds=5,
            local=True,
        )


def test_who_may_draft(
    enabled: TriageSettings,
    conversation: Conversation,
    outsider: User,
    analyst: User,
    client: Client,
) -> None:
    assert _draft(client, outsider, conversation).status_code == 404
    assert _draft(client, analyst, conversation).status_code == 403
    assert Fake.requests == []


def test_the_settings_page_saves_and_never_shows_the_key(
    endpoint: str, admin: User, agent: User, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.force_login(admin)
    url = reverse("settings:triage_llm")
    form = {
        "llm_enabled": "1",
        "llm_url": endpoint + "/",
        "llm_model": "tiny-model",
        "llm_timeout_seconds": "7",
        "llm_local": "1",
        "llm_api_key": KEY,
    }
    assert client.post(url, form).status_code == 302
    saved = TriageSettings.get()
    assert (saved.llm_enabled, saved.llm_url, saved.llm_timeout_seconds) == (True, endpoint, 7)
    assert saved.llm_api_key == KEY
    assert KEY not in saved.llm_api_key_encrypted
    # Saving again without a key keeps it; the page never shows it.
    client.post(url, {**form, "llm_api_key": ""})
    assert TriageSettings.get().llm_api_key == KEY
    page = client.get(reverse("settings:triage")).content.decode()
    assert "A key is saved" in page
    assert KEY not in page
    client.post(url, {**form, "llm_api_key": "", "llm_clear_key": "1"})
    assert TriageSettings.get().llm_api_key == ""
    assert KEY not in caplog.text
    client.force_login(agent)
    assert client.post(url, form).status_code == 403


def test_the_key_is_not_logged_when_drafting_fails(
    enabled: TriageSettings,
    conversation: Conversation,
    agent: User,
    client: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    Fake.mode = "500"
    page = _draft(client, agent, conversation).content.decode()
    assert KEY not in page
    assert KEY not in caplog.text
    assert "HTTP 500" in caplog.text


def test_a_bad_settings_form_says_why(admin: User, client: Client, no_private: None) -> None:
    client.force_login(admin)
    form = {"llm_enabled": "1", "llm_url": "", "llm_model": "m", "llm_timeout_seconds": "5"}
    response = client.post(reverse("settings:triage_llm"), form, follow=True)
    assert "needs the endpoint" in response.content.decode()
    assert TriageSettings.get().llm_enabled is False
