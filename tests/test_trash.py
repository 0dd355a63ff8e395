"""Deletion that can be undone: a deleted conversation waits in the owners' and admins' trash
(web page and API) until the retention ends, and the purge then removes it with its files (the
attachments, the mail as received) and its raw inbound records."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import APIToken, Role, User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions, files
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Attachment, Conversation, InboundRecord, Message
from tests.conftest import ago

MakeInbound = Callable[..., InboundMessage]


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("alex", "alex@example.com", "pw", role=Role.ADMIN)


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(user: User) -> dict[str, str]:
    token, raw = APIToken.issue(user, "tests")
    APIToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def new(make_inbound: MakeInbound, **overrides: Any) -> Conversation:
    overrides.setdefault("thread_id", f"trash-{uuid.uuid4()}")
    result = ingest(make_inbound(**overrides))
    assert result.conversation_id is not None, result.error
    return Conversation.objects.get(pk=result.conversation_id)


def deleted(conv: Conversation, agent: User, *, days_ago: float = 0) -> Conversation:
    actions.delete_conversation(conv, actor=agent)
    if days_ago:
        Conversation.objects.filter(pk=conv.pk).update(deleted_at=ago(days=days_ago))
    return Conversation.objects.get(pk=conv.pk)


def age_file(digest: str) -> None:
    """Stored long ago: past the grace a file just written (maybe about to be named) gets."""
    old = time.time() - 2 * files.DISCARD_GRACE
    os.utime(files.path_for(digest), (old, old))


# -- the purge -------------------------------------------------------------------------------------


def test_the_purge_removes_attachments_the_raw_mail_and_the_inbound_record(
    make_inbound: MakeInbound, agent: User
) -> None:
    secret = f"invoice {uuid.uuid4()}".encode()
    eml = files.store_bytes(f"From: buyer\n\n{uuid.uuid4()}".encode())
    conv = new(
        make_inbound,
        source_sha256=eml,
        attachments=[{"filename": "facture.pdf", "data": secret}],
    )
    message = Message.objects.get(conversation=conv)
    attachment = Attachment.objects.get(message=message)
    assert message.inbound_record_id is not None
    for digest in (eml, attachment.sha256):
        assert files.path_for(digest).exists()
        age_file(digest)
    deleted(conv, agent, days_ago=31)

    assert actions.purge_deleted(ago(days=30)) == 1

    assert not files.path_for(attachment.sha256).exists()
    assert not files.path_for(eml).exists()
    assert not InboundRecord.objects.filter(pk=message.inbound_record_id).exists()
    assert not Message.objects.filter(pk=message.pk).exists()


def test_a_deleted_conversation_counts_in_the_late_rates_until_the_purge(
    make_inbound: MakeInbound, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    from comptoir.analytics import facts
    from comptoir.analytics.models import BuyerMessageFact, ConversationFact

    with django_capture_on_commit_callbacks(execute=True):
        conv = new(make_inbound)
    message = Message.objects.get(conversation=conv)
    facts.refresh([conv.pk])
    assert BuyerMessageFact.objects.filter(message_id=message.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        deleted(conv, agent, days_ago=31)
    facts.refresh([conv.pk])
    # The marketplace counts the message all the same; the conversation's own facts go.
    assert BuyerMessageFact.objects.filter(message_id=message.pk).exists()
    assert not ConversationFact.objects.filter(conversation_id=conv.pk).exists()
    DBTaskResult.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        assert actions.purge_deleted(ago(days=30)) == 1

    # The purge queued the refresh of the purged conversation's facts, which drops them.
    queued = DBTaskResult.objects.filter(task_path__endswith="refresh_facts")
    assert [conv.pk] in [t.args_kwargs["args"][0] for t in queued]
    facts.refresh([conv.pk])
    assert not BuyerMessageFact.objects.filter(conversation_id=conv.pk).exists()


def test_the_purge_keeps_a_file_another_conversation_still_holds(
    make_inbound: MakeInbound, agent: User
) -> None:
    logo = f"logo {uuid.uuid4()}".encode()
    gone = new(make_inbound, attachments=[{"filename": "logo.png", "data": logo}])
    kept = new(make_inbound, attachments=[{"filename": "logo.png", "data": logo}])
    digest = Attachment.objects.get(message__conversation=kept).sha256
    age_file(digest)
    deleted(gone, agent, days_ago=31)

    actions.purge_deleted(ago(days=30))

    assert not Conversation.objects.filter(pk=gone.pk).exists()
    assert files.path_for(digest).read_bytes() == logo


def test_the_purge_leaves_a_file_being_stored_again_right_now(
    make_inbound: MakeInbound, agent: User
) -> None:
    """A writer that found the file already there touched it: its row may not be committed yet."""
    data = f"photo {uuid.uuid4()}".encode()
    conv = new(make_inbound, attachments=[{"filename": "photo.jpg", "data": data}])
    digest = Attachment.objects.get(message__conversation=conv).sha256
    age_file(digest)
    deleted(conv, agent, days_ago=31)
    files.store_bytes(data)  # another message arriving with the same photo

    actions.purge_deleted(ago(days=30))

    assert files.path_for(digest).exists()


def test_a_conversation_in_the_trash_is_kept_until_the_retention_ends(
    make_inbound: MakeInbound, agent: User, settings: Any
) -> None:
    from comptoir.inbox import tasks

    settings.DELETED_RETENTION_DAYS = 30
    data = f"recent {uuid.uuid4()}".encode()
    conv = new(make_inbound, attachments=[{"filename": "a.txt", "data": data}])
    digest = Attachment.objects.get(message__conversation=conv).sha256
    age_file(digest)
    deleted(conv, agent, days_ago=29)

    assert tasks.purge.call()["conversations"] == 0

    assert files.path_for(digest).exists()
    assert Conversation.objects.filter(pk=conv.pk).exists()


# -- restore: the action's rule --------------------------------------------------------------------


def test_an_admin_restores_a_deleted_conversation_and_agents_and_supervisors_may_not(
    make_inbound: MakeInbound, agent: User, supervisor: User, admin: User
) -> None:
    from django.core.exceptions import PermissionDenied

    conv = deleted(new(make_inbound), agent)
    for refused in (agent, supervisor):
        with pytest.raises(PermissionDenied):
            actions.restore_conversation(conv, actor=refused)
    assert Conversation.objects.get(pk=conv.pk).deleted_at is not None

    actions.restore_conversation(conv, actor=admin)

    assert Conversation.objects.get(pk=conv.pk).is_visible


# -- the trash page --------------------------------------------------------------------------------


def test_the_trash_page_lists_deleted_conversations_with_their_purge_date_and_restores(
    make_inbound: MakeInbound, agent: User, admin: User, settings: Any
) -> None:
    settings.DELETED_RETENTION_DAYS = 30
    conv = deleted(new(make_inbound, subject="Colis abîmé"), agent, days_ago=2)
    alive = new(make_inbound, subject="Toujours là")
    client = as_user(admin)

    page = client.get("/settings/trash/").content.decode()

    assert f'id="trash-{conv.pk}"' in page
    assert "Colis abîmé" in page
    assert "by marie" in page
    assert f'id="trash-{alive.pk}"' not in page
    purge_after = (conv.deleted_at + timezone.timedelta(days=30)).date().isoformat()
    assert purge_after in page

    answer = client.post(f"/settings/trash/{conv.pk}/restore", follow=True)

    assert answer.status_code == 200
    assert Conversation.objects.get(pk=conv.pk).is_visible
    assert f'id="trash-{conv.pk}"' not in answer.content.decode()
    assert "back in the inbox" in answer.content.decode()


@pytest.mark.parametrize("persona", ["agent", "supervisor", "analyst"])
def test_the_trash_page_is_for_owners_and_admins_only(
    request: pytest.FixtureRequest, make_inbound: MakeInbound, agent: User, persona: str
) -> None:
    conv = deleted(new(make_inbound), agent)
    client = as_user(request.getfixturevalue(persona))

    assert client.get("/settings/trash/").status_code == 403
    assert client.post(f"/settings/trash/{conv.pk}/restore").status_code == 403
    assert Conversation.objects.get(pk=conv.pk).deleted_at is not None


def test_restoring_a_conversation_not_in_the_trash_is_not_found(
    make_inbound: MakeInbound, admin: User
) -> None:
    alive = new(make_inbound)

    assert as_user(admin).post(f"/settings/trash/{alive.pk}/restore").status_code == 404
    assert as_user(admin).post("/settings/trash/999999/restore").status_code == 404


def test_a_restore_refused_because_the_thread_went_on_says_why(
    make_inbound: MakeInbound, agent: User, admin: User
) -> None:
    first = deleted(new(make_inbound, thread_id="T-TRASH"), agent)
    new(make_inbound, thread_id="T-TRASH")

    answer = as_user(admin).post(f"/settings/trash/{first.pk}/restore", follow=True)

    assert "newer conversation continues" in answer.content.decode()
    assert Conversation.objects.get(pk=first.pk).deleted_at is not None


# -- the API ---------------------------------------------------------------------------------------


def test_the_api_deletes_lists_the_trash_and_restores(
    make_inbound: MakeInbound, agent: User, admin: User, settings: Any
) -> None:
    settings.DELETED_RETENTION_DAYS = 30
    conv = new(make_inbound)
    client = Client()

    assert (
        client.post(f"/api/v1/conversations/{conv.pk}/delete", **bearer(agent)).status_code == 204
    )
    assert client.get(f"/api/v1/conversations/{conv.pk}", **bearer(agent)).status_code == 404

    listed = client.get("/api/v1/trash", **bearer(admin)).json()["items"]
    assert [c["id"] for c in listed] == [conv.pk]
    stored = Conversation.objects.get(pk=conv.pk)
    assert stored.deleted_at is not None
    purge_after = stored.deleted_at + timezone.timedelta(days=30)
    assert listed[0]["purge_after"][:10] == purge_after.date().isoformat()

    restored = client.post(f"/api/v1/conversations/{conv.pk}/restore", **bearer(admin))
    assert restored.status_code == 200
    assert restored.json()["id"] == conv.pk
    assert Conversation.objects.get(pk=conv.pk).is_visible
    assert client.get("/api/v1/trash", **bearer(admin)).json()["items"] == []


@pytest.mark.parametrize(("persona", "listing"), [("agent", 403), ("supervisor", 403)])
def test_the_api_trash_is_for_owners_and_admins_and_restore_is_not_found_to_others(
    request: pytest.FixtureRequest,
    make_inbound: MakeInbound,
    agent: User,
    persona: str,
    listing: int,
) -> None:
    conv = deleted(new(make_inbound), agent)
    auth = bearer(request.getfixturevalue(persona))

    assert Client().get("/api/v1/trash", **auth).status_code == listing
    answer = Client().post(f"/api/v1/conversations/{conv.pk}/restore", **auth)
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found"}
    assert Conversation.objects.get(pk=conv.pk).deleted_at is not None


def test_the_api_delete_of_another_teams_conversation_is_not_found(
    make_inbound: MakeInbound, outsider: User
) -> None:
    conv = new(make_inbound)

    answer = Client().post(f"/api/v1/conversations/{conv.pk}/delete", **bearer(outsider))

    assert answer.status_code == 404
    assert Conversation.objects.get(pk=conv.pk).deleted_at is None
