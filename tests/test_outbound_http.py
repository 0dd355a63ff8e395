"""Comptoir's one-shot outbound posts (webhooks, the API channel's reply webhook): what each
answer or failure becomes (retried, failed, recorded), whatever HTTP stack carries them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from comptoir.connectors.api.connector import ApiConnector
from comptoir.connectors.base import ConnectorError, OutboundMessage
from comptoir.inbox.models import Channel
from comptoir.notifications import tasks as notification_tasks
from comptoir.notifications.models import DeliveryState, Webhook, WebhookDelivery
from comptoir.notifications.tasks import deliver_webhook
from tests.mailservers import free_port


@pytest.fixture
def server() -> Iterator[SimpleNamespace]:
    """A local HTTP server answering the (status, body, headers) queued, 200 "{}" otherwise;
    `hang` makes it hold every request until the test ends (a client timeout)."""
    received: list[tuple[str, str, dict[str, str], bytes]] = []
    answers: list[tuple[int, bytes, dict[str, str]]] = []
    hang = threading.Event()
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.command, self.path, dict(self.headers), body))
            if hang.is_set():
                done.wait(10)
                return
            status, payload, headers = answers.pop(0) if answers else (200, b"{}", {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_GET = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{httpd.server_port}",
        received=received,
        answers=answers,
        hang=hang,
    )
    done.set()
    httpd.shutdown()
    httpd.server_close()


# -- the API channel's reply webhook ------------------------------------------------------------


def api_connector(channel: Channel, url: str, timeout: float = 5.0) -> ApiConnector:
    channel.set_settings({"webhook_url": url, "timeout_seconds": timeout})
    channel.save()
    return ApiConnector(channel)


def outbound() -> OutboundMessage:
    return OutboundMessage(
        message_id=42,
        idempotency_key="comptoir-42",
        conversation_thread_id="T-7",
        to="buyer@example.com",
        subject="Re: order",
        text="Your parcel left today.",
        order_number="A-1",
    )


def test_an_api_reply_is_posted_to_the_integrators_webhook_and_takes_its_id(
    channel: Channel, server: SimpleNamespace
) -> None:
    server.answers.append((200, b'{"id": "ext-9"}', {}))

    result = api_connector(channel, server.url + "/hook").send(outbound())

    assert result.external_id == "ext-9"
    [(method, path, headers, body)] = server.received
    assert (method, path) == ("POST", "/hook")
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == "comptoir-42"
    assert json.loads(body) == {
        "idempotency_key": "comptoir-42",
        "thread_id": "T-7",
        "to": "buyer@example.com",
        "subject": "Re: order",
        "text": "Your parcel left today.",
        "order_number": "A-1",
    }


def test_an_api_reply_answered_without_an_id_keeps_comptoirs_own(
    channel: Channel, server: SimpleNamespace
) -> None:
    server.answers.append((200, b"", {}))
    assert api_connector(channel, server.url).send(outbound()).external_id == "comptoir-42"
    server.answers.append((201, b'{"other": 1}', {}))
    assert api_connector(channel, server.url).send(outbound()).external_id == "comptoir-42"


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (404, True), (422, True), (408, False), (429, False), (500, False)],
)
def test_an_api_webhook_refusal_is_permanent_unless_it_says_try_again(
    channel: Channel, server: SimpleNamespace, status: int, permanent: bool
) -> None:
    server.answers.append((status, b'{"error": "no"}', {}))

    with pytest.raises(ConnectorError) as caught:
        api_connector(channel, server.url).send(outbound())

    assert str(caught.value) == f"webhook answered HTTP {status}"
    assert caught.value.permanent is permanent
    assert not caught.value.maybe_sent


def test_an_api_webhook_answer_that_is_not_json_is_a_transient_error(
    channel: Channel, server: SimpleNamespace
) -> None:
    server.answers.append((200, b"<html>ok</html>", {}))

    with pytest.raises(ConnectorError, match="not JSON") as caught:
        api_connector(channel, server.url).send(outbound())

    assert not caught.value.permanent


def test_an_unreachable_api_webhook_is_a_transient_error(channel: Channel) -> None:
    with pytest.raises(ConnectorError, match=r"^webhook unreachable: ") as caught:
        api_connector(channel, f"http://127.0.0.1:{free_port()}/").send(outbound())

    assert not caught.value.permanent


def test_an_api_webhook_that_does_not_answer_in_time_is_a_transient_error(
    channel: Channel, server: SimpleNamespace
) -> None:
    server.hang.set()

    with pytest.raises(ConnectorError, match=r"^webhook unreachable: ") as caught:
        api_connector(channel, server.url, timeout=0.3).send(outbound())

    assert not caught.value.permanent
    assert len(server.received) == 1  # asked once: the task retries, not the connector


# -- notification webhooks ---------------------------------------------------------------------


def delivery_to(url: str) -> WebhookDelivery:
    hook = Webhook.objects.create(name="ERP", url=url, format="json")
    return WebhookDelivery.objects.create(webhook=hook, kind="sla_breached", body='{"a": 1}')


def retries_queued() -> int:
    return DBTaskResult.objects.filter(task_path__endswith="deliver_webhook").count()


@pytest.mark.django_db
def test_a_webhook_that_does_not_answer_in_time_is_retried(
    server: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notification_tasks, "WEBHOOK_TIMEOUT", 0.3)
    server.hang.set()
    delivery = delivery_to(server.url)

    outcome = deliver_webhook.call(delivery.pk)

    assert outcome.startswith("retrying: timed out: ")
    delivery.refresh_from_db()
    assert (delivery.state, delivery.status_code) == (DeliveryState.RETRYING, None)
    assert delivery.error.startswith("timed out: ")
    assert retries_queued() == 1


@pytest.mark.django_db
def test_a_webhook_redirect_is_not_followed_and_fails(server: SimpleNamespace) -> None:
    server.answers.append((302, b"moved", {"Location": server.url + "/elsewhere"}))
    delivery = delivery_to(server.url)

    # The status line only: the body of whatever answered is never echoed.
    assert deliver_webhook.call(delivery.pk) == "failed: HTTP 302 Found"

    assert [path for _, path, _, _ in server.received] == ["/"]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.status_code) == (DeliveryState.FAILED, 302)
    assert retries_queued() == 0


@pytest.mark.django_db
def test_a_webhook_rate_limit_is_retried_and_its_headers_are_sent(server: SimpleNamespace) -> None:
    server.answers.append((429, b"slow down", {}))
    delivery = delivery_to(server.url + "/in")

    assert deliver_webhook.call(delivery.pk) == "retrying: HTTP 429 Too Many Requests"

    [(method, path, headers, body)] = server.received
    assert (method, path, body) == ("POST", "/in", b'{"a": 1}')
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Comptoir-Webhook/1"
    assert headers["X-Comptoir-Event"] == "sla_breached"
    assert headers["X-Comptoir-Delivery"] == str(delivery.pk)
    assert retries_queued() == 1


@pytest.mark.django_db
def test_a_webhook_url_no_client_can_use_fails_without_retry() -> None:
    delivery = delivery_to("http://[::1/")

    outcome = deliver_webhook.call(delivery.pk)

    assert outcome == "failed: InvalidURL: Invalid port: ':1'"
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED
    assert retries_queued() == 0


@pytest.mark.django_db
def test_a_webhook_url_without_a_usable_scheme_is_retried_as_a_transport_error() -> None:
    delivery = delivery_to("ftp://example.invalid/")

    outcome = deliver_webhook.call(delivery.pk)

    assert outcome.startswith("retrying: UnsupportedProtocol: ")
    assert retries_queued() == 1
