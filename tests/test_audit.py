"""The audit log: the actions write it (who, when, from which address, what, never a secret),
nobody edits it, owners and admins read it (page, CSV, API), and it is pruned after its
retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from comptoir import audit
from comptoir.accounts import actions as account_actions
from comptoir.accounts.models import Role, TokenScope, User
from comptoir.accounts.tokens import issue_token
from comptoir.audit.models import AuditEvent
from comptoir.audit.tasks import prune
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("olivia", "olivia@example.com", "pw", role=Role.OWNER)


def entries(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def test_secrets_are_never_written_whatever_the_caller_passes(owner: User) -> None:
    entry = audit.record(
        "test.secret",
        actor=owner,
        changes={
            "password": "hunter2",
            "api_key": "sk-1",
            "nested": {"client_secret": "x"},
            "base_url": "https://m.example",
        },
    )
    assert entry.changes == {
        "password": "(changed)",
        "api_key": "(changed)",
        "nested": {"client_secret": "(changed)"},
        "base_url": "https://m.example",
    }


def test_an_entry_is_never_changed(owner: User) -> None:
    entry = audit.record("test.once", actor=owner)
    entry.action = "test.twice"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=entry.pk).update(action="test.twice")
    assert AuditEvent.objects.get(pk=entry.pk).action == "test.once"


def test_creating_a_user_changing_a_role_and_deactivating_are_recorded_with_the_address(
    owner: User, team: Any
) -> None:
    client = Client(REMOTE_ADDR="203.0.113.7")
    client.force_login(owner)
    with audit.request_context("203.0.113.7", "web"):
        user = account_actions.create_user(
            actor=owner,
            username="nina",
            email="n@example.com",
            role="agent",
            password="a long enough password 42",
            teams=[team.pk],
        )
        account_actions.update_user(user, actor=owner, role="supervisor")
        account_actions.update_user(user, actor=owner, is_active=False)
    (created,) = entries("user.created")
    (role,) = entries("user.role_changed")
    (off,) = entries("user.deactivated")
    assert created.actor_label == "olivia"
    assert str(created.ip) == "203.0.113.7"
    assert created.changes["role"] == "agent"
    assert created.changes["teams"] == [team.name]
    assert role.changes == {"role": ["agent", "supervisor"]}
    assert off.changes == {"is_active": [True, False]}
    assert not AuditEvent.objects.filter(changes__icontains="a long enough password").exists()


def test_a_channels_credentials_change_says_which_never_the_values(
    owner: User, channel: Channel
) -> None:
    channel.set_settings({"api_key": "old-key-123", "base_url": "https://a.example"})
    channel.save()
    actions.configure_channel(
        channel,
        actor=owner,
        shop_id=channel.shop.pk,
        kind=channel.kind,
        marketplace=channel.marketplace,
        name="Amazon FR (renamed)",
        team_id=channel.team_id,
        is_active=True,
        settings={"api_key": "new-key-456", "base_url": "https://a.example"},
    )
    (entry,) = entries("channel.changed")
    assert entry.changes["settings_changed"] == ["api_key"]
    assert entry.changes["name"] == ["Amazon FR (API)", "Amazon FR (renamed)"]
    dumped = str(entry.changes)
    assert "old-key-123" not in dumped
    assert "new-key-456" not in dumped


def test_deleting_restoring_and_purging_are_recorded(
    owner: User, agent: User, make_inbound: Any
) -> None:
    conv = Conversation.objects.get(pk=ingest(make_inbound()).conversation_id)
    actions.delete_conversation(conv, actor=agent)
    actions.restore_conversation(conv, actor=owner)
    actions.delete_conversation(conv, actor=agent)
    actions.purge_deleted(timezone.now() + timedelta(seconds=1))
    deleted = entries("conversation.deleted")
    assert [e.actor_label for e in deleted] == ["marie", "marie"]
    assert entries("conversation.restored")[0].object_id == str(conv.pk)
    assert entries("conversation.purged")[0].changes["ids"] == [conv.pk]
    # The log names the conversation by number, never by its buyer's subject.
    assert not AuditEvent.objects.filter(object_label__icontains="commande").exists()


def test_exports_and_the_report_download_are_recorded(owner: User, channel: Channel) -> None:
    client = Client()
    client.force_login(owner)
    got = client.get("/analytics/export/download", {"kind": "conversations", "period": "7d"})
    assert got.status_code == 200
    b"".join(got.streaming_content)  # type: ignore[attr-defined]
    assert client.get("/analytics/report/", {"period": "7d"}).status_code == 200
    (export,) = entries("export.downloaded")
    assert export.object_id == "conversations"
    assert export.changes["bodies"] is False
    assert entries("report.downloaded")[0].actor_label == "olivia"


def test_owners_filter_and_page_the_log_agents_may_not_open_it(owner: User, agent: User) -> None:
    for n in range(55):
        audit.record("test.paged", actor=owner, object_id=n)
    audit.record("user.created", actor=agent, object_id="x")
    client = Client()
    client.force_login(agent)
    assert client.get("/settings/audit/").status_code == 403
    client.force_login(owner)
    first = client.get("/settings/audit/", {"action": "test"})
    html = first.content.decode()
    assert html.count('id="audit-') == 50
    assert "user.created" not in html
    before = first.context["next_before"]
    rest = client.get("/settings/audit/", {"action": "test", "before": before}).content.decode()
    assert rest.count('id="audit-') == 5
    # (marie's sign-in is in the log too: `login.succeeded`)
    mine = client.get("/settings/audit/", {"actor": "marie", "action": "user"}).content.decode()
    assert mine.count('id="audit-') == 1
    today = timezone.localdate().isoformat()
    assert (
        client.get("/settings/audit/", {"from": "2000-01-01", "to": "2000-01-02"}).context[
            "entries"
        ]
        == []
    )
    assert len(client.get("/settings/audit/", {"from": today}).context["entries"]) == 50
    assert client.get("/settings/audit/", {"from": "soon"}).status_code == 400


def test_the_log_downloads_as_csv_and_the_download_is_itself_recorded(owner: User) -> None:
    audit.record("user.created", actor=owner, label="nina")
    client = Client()
    client.force_login(owner)
    response = client.get("/settings/audit/", {"format": "csv", "action": "user"})
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    assert text.splitlines()[0].startswith("created_at,actor_label,ip")
    assert "user.created" in text
    assert "nina" in text
    assert entries("audit.exported")[0].changes == {"action": "user"}


def test_the_api_lists_the_log_for_an_admin_token(owner: User, agent: User) -> None:
    audit.record("user.created", actor=owner, label="nina")
    _, raw = issue_token(owner, name="siem", scope=TokenScope.ADMIN, actor=owner)
    response = Client().get(
        "/api/v1/audit", {"action": "token"}, HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 200
    (item,) = response.json()["items"]
    # Issued here, outside any request: the entry says so.
    assert item["action"] == "token.created"
    assert item["via"] == "system"
    _, agents = issue_token(agent, name="mine", actor=agent)
    assert Client().get("/api/v1/audit", HTTP_AUTHORIZATION=f"Bearer {agents}").status_code == 403


def test_entries_past_the_retention_are_pruned(owner: User, settings: Any) -> None:
    settings.AUDIT_RETENTION_DAYS = 30
    old = audit.record("test.old", actor=owner)
    recent = audit.record("test.recent", actor=owner)
    AuditEvent.objects.filter(pk=old.pk).delete()  # stand-in for an old row, written below
    AuditEvent.objects.create(
        created_at=timezone.now() - timedelta(days=31), action="test.old", actor_label="x"
    )
    assert prune() == 1
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    settings.AUDIT_RETENTION_DAYS = 0
    AuditEvent.objects.create(
        created_at=timezone.now() - timedelta(days=3650), action="test.old", actor_label="x"
    )
    assert prune() == 0
