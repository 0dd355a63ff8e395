"""The tags API (list, create, rename, delete) and the action bar's changes through the API
(tags on a conversation, priority, team, archive, merge, bulk): the same actions and the same
rules as the pages (404 for another team's conversation, 403 for who may not)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from comptoir.accounts.models import APIToken, Role, Team, TokenScope, User
from comptoir.audit.models import AuditEvent
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation, Event, EventKind, Status, Tag

API = "/api/v1"
pytestmark = pytest.mark.django_db
_n = iter(range(1, 10_000))


def bearer(user: User, scope: str | None = None) -> dict[str, str]:
    _token, raw = APIToken.issue(user, "tests", scope or TokenScope.WRITE)
    return {"Authorization": f"Bearer {raw}"}


def call(client: Client, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(
        API + url, data, content_type="application/json", headers=headers
    )


def new_conv(make_inbound: Any, **overrides: Any) -> Conversation:
    overrides.setdefault("thread_id", f"tags-api-{next(_n)}")
    return Conversation.objects.get(pk=ingest(make_inbound(**overrides)).conversation_id)


@pytest.fixture
def conv(make_inbound: Any) -> Conversation:
    return new_conv(make_inbound)


def test_tags_are_listed_with_the_count_of_the_callers_conversations(
    client: Client, conv: Conversation, agent: User, outsider: User, supervisor: User
) -> None:
    actions.tag_conversation(conv, tag="vip", actor=agent)
    Tag.objects.create(name="broken")
    mine = call(client, "get", "/tags", bearer(agent)).json()
    assert [(t["name"], t["conversation_count"]) for t in mine["items"]] == [
        ("broken", 0),
        ("vip", 1),
    ]
    assert (mine["count"], mine["next_offset"]) == (2, None)
    # Another team sees the tag (they are shared) but not that team A's conversation has it.
    theirs = call(client, "get", "/tags?q=vi", bearer(outsider)).json()
    assert [(t["name"], t["conversation_count"]) for t in theirs["items"]] == [("vip", 0)]
    first = call(client, "get", "/tags?limit=1", bearer(supervisor)).json()
    assert (len(first["items"]), first["next_offset"]) == (1, 1)


def test_an_agent_creates_a_tag_but_only_supervisors_rename_or_delete_one(
    client: Client, conv: Conversation, agent: User, supervisor: User
) -> None:
    created = call(client, "post", "/tags", bearer(agent), {"name": " refund ", "color": "#FF0000"})
    assert created.status_code == 201, created.content
    tag = created.json()
    assert (tag["name"], tag["color"]) == ("refund", "#ff0000")
    again = call(client, "post", "/tags", bearer(agent), {"name": "refund"})
    assert again.status_code == 422
    actions.tag_conversation(conv, tag="refund", actor=agent)
    url = f"/tags/{tag['id']}"
    refused = call(client, "put", url, bearer(agent), {"name": "refunds"})
    assert refused.status_code == 403
    assert call(client, "delete", url, bearer(agent)).status_code == 403
    renamed = call(client, "put", url, bearer(supervisor), {"name": "refunds"})
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["name"] == "refunds"
    assert list(conv.tags.values_list("name", flat=True)) == ["refunds"]
    assert call(client, "delete", url, bearer(supervisor)).status_code == 204
    assert not conv.tags.exists()
    assert call(client, "get", url, bearer(supervisor)).status_code == 404
    logged = list(
        AuditEvent.objects.filter(action__startswith="tag.").order_by("pk").values_list("action")
    )
    assert logged == [("tag.created",), ("tag.changed",), ("tag.deleted",)]


def test_a_conversation_is_tagged_and_untagged_through_the_api(
    client: Client, conv: Conversation, agent: User, outsider: User
) -> None:
    url = f"/conversations/{conv.pk}"
    tagged = call(client, "post", f"{url}/tags", bearer(agent), {"tag": "fragile"})
    assert tagged.status_code == 200, tagged.content
    assert tagged.json()["tags"] == ["fragile"]
    event = Event.objects.filter(conversation=conv, kind=EventKind.TAGGED).get()
    assert (event.actor_id, event.actor_label) == (agent.pk, "api")
    # Another team's agent: the conversation does not exist for them.
    assert (
        call(client, "post", f"{url}/untag", bearer(outsider), {"tag": "fragile"}).status_code
        == 404
    )
    untagged = call(client, "post", f"{url}/untag", bearer(agent), {"tag": "fragile"})
    assert untagged.json()["tags"] == []


def test_priority_team_and_archive_through_the_api(
    client: Client, conv: Conversation, agent: User, analyst: User, other_team: Team
) -> None:
    url = f"/conversations/{conv.pk}"
    assert (
        call(client, "post", f"{url}/priority", bearer(agent), {"priority": 3}).json()["priority"]
        == 3
    )
    assert (
        call(client, "post", f"{url}/priority", bearer(agent), {"priority": 9}).status_code == 422
    )
    # An agent may not hand it to a team they are not in (the action's rule).
    moved = call(client, "post", f"{url}/team", bearer(agent), {"team_id": other_team.pk})
    assert moved.status_code == 403
    archived = call(client, "post", f"{url}/archive", bearer(agent), {})
    assert archived.json()["archived"] is True
    back = call(client, "post", f"{url}/archive", bearer(agent), {"archived": False})
    assert back.json()["archived"] is False
    # An analyst reads it, and may change nothing.
    assert (
        call(client, "post", f"{url}/priority", bearer(analyst), {"priority": 0}).status_code == 403
    )
    assert Conversation.objects.get(pk=conv.pk).priority == 3


def test_two_conversations_are_merged_through_the_api(
    client: Client, make_inbound: Any, agent: User
) -> None:
    a = new_conv(make_inbound, text="first")
    b = new_conv(make_inbound, text="second")
    merged = call(client, "post", f"/conversations/{a.pk}/merge", bearer(agent), {"into": b.pk})
    assert merged.status_code == 200, merged.content
    assert (merged.json()["id"], merged.json()["message_count"]) == (b.pk, 2)
    assert Conversation.objects.get(pk=a.pk).merged_into_id == b.pk
    same = call(client, "post", f"/conversations/{b.pk}/merge", bearer(agent), {"into": b.pk})
    assert same.status_code == 422


def test_bulk_changes_the_callers_conversations_and_leaves_the_others(
    client: Client, make_inbound: Any, agent: User, outsider: User, other_team: Team
) -> None:
    mine = [new_conv(make_inbound) for _ in range(3)]
    other_channel = mine[0].channel
    other_channel.pk = None
    other_channel.name, other_channel.team = "Other team's", other_team
    other_channel.save()
    theirs = new_conv(make_inbound, channel_id=other_channel.pk)
    ids = [c.pk for c in mine] + [theirs.pk]
    body = {"ids": ids, "action": "set_status", "status": "resolved"}
    result = call(client, "post", "/conversations/bulk", bearer(agent), body).json()
    assert result == {"done": [c.pk for c in mine], "failed": {}, "not_found": [theirs.pk]}
    assert set(Conversation.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Status.RESOLVED,
        Status.OPEN,
    }
    assert Conversation.objects.get(pk=theirs.pk).status == Status.OPEN
    tagged = call(
        client,
        "post",
        "/conversations/bulk",
        bearer(agent),
        {"ids": ids, "action": "tag", "tag": "x"},
    ).json()
    assert tagged["done"] == [c.pk for c in mine]
    missing = call(
        client, "post", "/conversations/bulk", bearer(agent), {"ids": ids, "action": "tag"}
    )
    assert missing.status_code == 422
    assigned = call(
        client,
        "post",
        "/conversations/bulk",
        bearer(agent),
        {"ids": [mine[0].pk], "action": "assign", "assignee_id": outsider.pk},
    ).json()
    # The outsider would not see it: refused for that conversation, said why.
    assert assigned["done"] == []
    assert list(assigned["failed"]) == [str(mine[0].pk)]


def test_a_read_only_user_changes_nothing_in_bulk(
    client: Client, conv: Conversation, analyst: User
) -> None:
    body = {"ids": [conv.pk], "action": "archive"}
    assert call(client, "post", "/conversations/bulk", bearer(analyst), body).status_code == 403
    owner = User.objects.create_user("o", "o@example.com", "pw", role=Role.OWNER)
    read = bearer(owner, TokenScope.READ)
    assert call(client, "post", "/conversations/bulk", read, body).status_code == 403
    assert Conversation.objects.get(pk=conv.pk).archived is False


def test_triages_reading_is_corrected_through_the_api(
    client: Client, conv: Conversation, agent: User, analyst: User
) -> None:
    url = f"/conversations/{conv.pk}/reading"
    fixed = call(client, "post", url, bearer(agent), {"field": "intent", "value": "refund"})
    assert fixed.status_code == 200, fixed.content
    assert (fixed.json()["intent"], fixed.json()["intent_source"]) == ("refund", "agent")
    wrong = call(client, "post", url, bearer(agent), {"field": "urgency", "value": "meh"})
    assert wrong.status_code == 422
    body = {"field": "intent", "value": "payment"}
    assert call(client, "post", url, bearer(analyst), body).status_code == 403
    assert Conversation.objects.get(pk=conv.pk).intent == "refund"


def test_a_nul_character_is_refused_not_a_database_error(
    client: Client, conv: Conversation, supervisor: User
) -> None:
    """Found by the fuzzing on PostgreSQL, which cannot store one."""
    assert call(client, "post", "/tags", bearer(supervisor), {"name": "a\x00b"}).status_code == 422
    body = {"ids": [conv.pk], "action": "tag", "tag": "\x00"}
    assert call(client, "post", "/conversations/bulk", bearer(supervisor), body).status_code == 422
    assert call(client, "get", "/tags?q=%00", bearer(supervisor)).status_code == 422
    assert not Tag.objects.exists()
