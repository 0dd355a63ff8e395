"""A failed reply sent again: "Retry" (the same message) and "Edit and resend" (new text, the
failed one replaced), from the conversation page and the API, for who may answer only."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import APIToken, User
from comptoir.connectors.base import ConnectorError, InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.actions import NewAttachment
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import (
    Conversation,
    DeliveryState,
    Event,
    EventKind,
    Message,
)
from comptoir.inbox.tasks import send_message
from tests import fake_connector
from tests.fake_connector import FakeConnector

API = "/api/v1"
SEND_TASK = "comptoir.inbox.tasks.send_message"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeConnector]:
    return fake_connector.install(monkeypatch)


@pytest.fixture
def conv(make_inbound: Callable[..., InboundMessage]) -> Conversation:
    result = ingest(make_inbound(thread_id="T-FAIL", text="Où est mon colis ?"))
    return Conversation.objects.get(pk=result.conversation_id)


@pytest.fixture
def failed(fake: type[FakeConnector], conv: Conversation, agent: User) -> Message:
    message = actions.reply(
        conv,
        actor=agent,
        text="Votre colis arrive demain.",
        attachments=[NewAttachment("bon.pdf", "application/pdf", b"%PDF-1.4 bon")],
    )
    fake.script.append(ConnectorError("HTTP 400: thread closed", permanent=True))
    send_message.call(message.pk)
    message.refresh_from_db()
    assert message.delivery_state == DeliveryState.FAILED
    return message


def reload(message: Message) -> Message:
    return Message.objects.get(pk=message.pk)


def sends_queued() -> list[list[Any]]:
    rows = DBTaskResult.objects.filter(task_path=SEND_TASK).order_by("enqueued_at")
    return [row.args_kwargs["args"] for row in rows]


def bearer(user: User) -> dict[str, str]:
    token, raw = APIToken.issue(user, "tests")
    APIToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return {"Authorization": f"Bearer {raw}"}


def api_post(client: Client, url: str, user: User, body: Any = None) -> Any:
    return client.post(
        f"{API}{url}",
        json.dumps(body or {}),
        content_type="application/json",
        headers=bearer(user),
    )


# -- the actions -------------------------------------------------------------------------------


def test_a_retried_reply_is_queued_again_with_an_event_and_no_longer_waits_for_an_answer(
    failed: Message,
    conv: Conversation,
    agent: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    assert Conversation.objects.get(pk=conv.pk).needs_reply is True  # the failure reopened it

    with django_capture_on_commit_callbacks(execute=True):
        actions.retry_delivery(failed, actor=agent)

    assert reload(failed).delivery_state == DeliveryState.QUEUED
    assert sends_queued() == [[failed.pk]]
    event = Event.objects.filter(conversation=conv).latest("pk")
    assert (event.kind, event.actor, event.data["message_id"]) == (
        EventKind.DELIVERY_RETRIED,
        agent,
        failed.pk,
    )
    assert Conversation.objects.get(pk=conv.pk).needs_reply is False
    assert send_message.call(failed.pk) == "sent"


def test_a_retry_does_not_clear_a_buyer_message_that_came_after_the_failed_reply(
    failed: Message,
    conv: Conversation,
    agent: User,
    make_inbound: Callable[..., InboundMessage],
) -> None:
    ingest(make_inbound(thread_id="T-FAIL", external_id="later", text="Alors ?"))

    actions.retry_delivery(failed, actor=agent)

    assert Conversation.objects.get(pk=conv.pk).needs_reply is True


def test_edit_and_resend_sends_the_new_text_once_and_marks_the_failed_one_replaced(
    fake: type[FakeConnector],
    failed: Message,
    conv: Conversation,
    agent: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        new = actions.resend_edited(failed, actor=agent, text="Votre colis arrive lundi.")

    assert reload(failed).delivery_state == DeliveryState.REPLACED
    assert new.pk != failed.pk
    assert new.delivery_state == DeliveryState.QUEUED
    assert [a.filename for a in new.attachments.all()] == ["bon.pdf"]
    assert sends_queued() == [[new.pk]]  # only the new one; the failed one is never queued
    event = Event.objects.filter(conversation=conv, kind=EventKind.DELIVERY_RETRIED).get()
    assert event.data == {"message_id": failed.pk, "replaced_by": new.pk}
    fake.sent.clear()
    assert send_message.call(new.pk) == "sent"
    assert send_message.call(failed.pk) == "not queued"
    assert [o.text for o in fake.sent] == ["Votre colis arrive lundi."]
    assert [o.attachments[0].filename for o in fake.sent] == ["bon.pdf"]
    with pytest.raises(ValidationError):
        actions.retry_delivery(failed, actor=agent)  # a replaced message stays unsent
    with pytest.raises(ValidationError):
        actions.resend_edited(failed, actor=agent, text="encore")


def test_edit_and_resend_with_empty_text_changes_nothing(
    failed: Message, conv: Conversation, agent: User
) -> None:
    with pytest.raises(ValidationError):
        actions.resend_edited(failed, actor=agent, text="   ")

    assert reload(failed).delivery_state == DeliveryState.FAILED
    assert Message.objects.filter(conversation=conv).count() == 2


# -- the conversation page ---------------------------------------------------------------------


def test_a_failed_reply_shows_retry_and_edit_and_resend_to_who_may_answer(
    client: Client, failed: Message, conv: Conversation, agent: User, analyst: User
) -> None:
    client.force_login(agent)
    html = client.get(f"/inbox/c/{conv.pk}/").content.decode()
    assert f'action="/inbox/m/{failed.pk}/retry"' in html
    assert f'action="/inbox/m/{failed.pk}/resend"' in html
    assert "Votre colis arrive demain.</textarea>" in html  # the text comes back to edit

    client.force_login(analyst)
    html = client.get(f"/inbox/c/{conv.pk}/").content.decode()
    assert f"/inbox/m/{failed.pk}/retry" not in html


def test_the_retry_button_queues_the_failed_reply_again(
    client: Client, failed: Message, conv: Conversation, agent: User
) -> None:
    client.force_login(agent)

    response = client.post(f"/inbox/m/{failed.pk}/retry")

    assert response.status_code == 302
    assert response["Location"] == f"/inbox/c/{conv.pk}/"
    assert reload(failed).delivery_state == DeliveryState.QUEUED
    html = client.get(f"/inbox/c/{conv.pk}/").content.decode()
    assert f"/inbox/m/{failed.pk}/retry" not in html


def test_the_edit_and_resend_form_replaces_the_failed_reply(
    client: Client, failed: Message, conv: Conversation, agent: User
) -> None:
    client.force_login(agent)

    response = client.post(f"/inbox/m/{failed.pk}/resend", {"text": "Arrive lundi."})

    assert response.status_code == 302
    assert reload(failed).delivery_state == DeliveryState.REPLACED
    new = Message.objects.filter(conversation=conv).latest("pk")
    assert (new.text, new.delivery_state) == ("Arrive lundi.", DeliveryState.QUEUED)
    html = client.get(f"/inbox/c/{conv.pk}/").content.decode()
    assert "Replaced by an edited copy" in html


def test_retry_is_refused_to_an_analyst_and_hidden_from_another_team(
    client: Client, failed: Message, analyst: User, outsider: User
) -> None:
    client.force_login(analyst)
    assert client.post(f"/inbox/m/{failed.pk}/retry").status_code == 403
    assert client.post(f"/inbox/m/{failed.pk}/resend", {"text": "x"}).status_code == 403
    client.force_login(outsider)
    assert client.post(f"/inbox/m/{failed.pk}/retry").status_code == 404
    assert client.post(f"/inbox/m/{failed.pk}/resend", {"text": "x"}).status_code == 404
    assert reload(failed).delivery_state == DeliveryState.FAILED


def test_retrying_a_reply_that_did_not_fail_answers_400(
    client: Client, fake: type[FakeConnector], conv: Conversation, agent: User
) -> None:
    queued = actions.reply(conv, actor=agent, text="Bonjour")
    client.force_login(agent)

    response = client.post(f"/inbox/m/{queued.pk}/retry")

    assert response.status_code == 400
    assert "only a failed message" in response.content.decode()


# -- the API -----------------------------------------------------------------------------------


def test_the_api_retries_a_failed_reply(
    client: Client, failed: Message, conv: Conversation, agent: User
) -> None:
    response = api_post(client, f"/messages/{failed.pk}/retry", agent)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["delivery_state"], body["delivery_error"]) == (failed.pk, "queued", "")
    event = Event.objects.filter(conversation=conv).latest("pk")
    assert (event.kind, event.actor_label) == (EventKind.DELIVERY_RETRIED, "api")

    again = api_post(client, f"/messages/{failed.pk}/retry", agent)
    assert again.status_code == 422
    assert "only a failed message" in again.json()["detail"]


def test_the_api_resends_a_failed_reply_with_new_text(
    client: Client, failed: Message, agent: User
) -> None:
    response = api_post(client, f"/messages/{failed.pk}/resend", agent, {"text": "Lundi."})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] != failed.pk
    assert (body["text"], body["delivery_state"]) == ("Lundi.", "queued")
    assert [a["filename"] for a in body["attachments"]] == ["bon.pdf"]
    assert reload(failed).delivery_state == DeliveryState.REPLACED


def test_the_api_refuses_retry_to_an_analyst_and_hides_it_from_another_team(
    client: Client, failed: Message, analyst: User, outsider: User
) -> None:
    for user, status in ((analyst, 403), (outsider, 404)):
        assert api_post(client, f"/messages/{failed.pk}/retry", user).status_code == status
        resend = api_post(client, f"/messages/{failed.pk}/resend", user, {"text": "x"})
        assert resend.status_code == status
    assert reload(failed).delivery_state == DeliveryState.FAILED
