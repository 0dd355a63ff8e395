"""The REST API: auth, scope, listing and paging, the write endpoints and the inbound channel."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import APIToken, Role, Team, User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import (
    Channel,
    Conversation,
    DeliveryState,
    Direction,
    Event,
    EventKind,
    InboundRecord,
    InboundState,
    Message,
    Shop,
    Status,
)
from comptoir.inbox.permissions import visible_conversations

from .conftest import ago

API = "/api/v1"
MakeInbound = Callable[..., InboundMessage]
_threads = itertools.count(1)


def bearer(user: User) -> dict[str, str]:
    token, raw = APIToken.issue(user, "tests")
    # Already "used": the first request would otherwise add an UPDATE and skew query counts.
    APIToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return {"Authorization": f"Bearer {raw}"}


def new_conversation(make_inbound: MakeInbound, **overrides: Any) -> Conversation:
    # Its own thread, so that ingest never files it under an earlier conversation.
    overrides.setdefault("thread_id", f"thread-{next(_threads)}")
    result = ingest(make_inbound(**overrides))
    assert result.conversation_id is not None, result.error
    return Conversation.objects.get(pk=result.conversation_id)


@pytest.fixture
def conv(make_inbound: MakeInbound) -> Conversation:
    return new_conversation(make_inbound, order_number="402-1234567-7654321")


@pytest.fixture
def as_agent(agent: User) -> dict[str, str]:
    return bearer(agent)


def post(client: Client, url: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


def ids(response: Any) -> list[int]:
    return [item["id"] for item in response.json()["items"]]


# -- auth --------------------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "/conversations"),
    ("get", "/conversations/{id}"),
    ("get", "/conversations/{id}/messages"),
    ("post", "/conversations/{id}/reply"),
    ("post", "/conversations/{id}/note"),
    ("post", "/conversations/{id}/assign"),
    ("post", "/conversations/{id}/status"),
    ("post", "/inbound"),
]
CHANNEL_ENDPOINTS = [("get", "/channels"), ("post", "/channels/{id}/test")]

WRITE_BODIES = {
    "/reply": {"text": "Bonjour"},
    "/note": {"text": "note"},
    "/assign": {"assignee_id": None},
    "/status": {"status": "pending"},
}


def call(
    client: Client, method: str, path: str, conv: Conversation, headers: dict[str, str]
) -> Any:
    url = API + path.format(id=conv.pk)
    if method == "get":
        return client.get(url, headers=headers)
    body = next((b for suffix, b in WRITE_BODIES.items() if path.endswith(suffix)), {})
    return post(client, url, body, headers)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS + CHANNEL_ENDPOINTS)
def test_every_endpoint_needs_a_token(
    client: Client, conv: Conversation, method: str, path: str
) -> None:
    response = call(client, method, path, conv, {})
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_a_wrong_or_revoked_token_is_refused(client: Client, agent: User) -> None:
    assert (
        client.get(f"{API}/conversations", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    headers = bearer(agent)
    APIToken.objects.update(revoked_at=timezone.now())
    assert client.get(f"{API}/conversations", headers=headers).status_code == 401


def test_a_token_of_an_inactive_user_is_refused(client: Client, agent: User) -> None:
    headers = bearer(agent)
    User.objects.filter(pk=agent.pk).update(is_active=False)
    assert client.get(f"{API}/conversations", headers=headers).status_code == 401


def test_a_valid_token_reads_and_records_its_use(client: Client, agent: User) -> None:
    token, raw = APIToken.issue(agent, "ERP")
    response = client.get(f"{API}/conversations", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}
    token.refresh_from_db()
    assert token.last_used_at is not None


# -- scope -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [e for e in ENDPOINTS if e[1] != "/inbound"])
def test_an_outsider_gets_404_on_every_conversation_endpoint(
    client: Client, conv: Conversation, outsider: User, method: str, path: str
) -> None:
    before = Event.objects.count()
    response = call(client, method, path, conv, bearer(outsider))
    if path == "/conversations":
        assert response.status_code == 200
        assert response.json()["items"] == []
    else:
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}
    assert Event.objects.count() == before


def test_an_outsider_cannot_post_to_another_teams_api_channel(
    client: Client, channel: Channel, outsider: User, make_inbound: MakeInbound
) -> None:
    body = make_inbound().model_dump_json()
    response = client.post(
        f"{API}/inbound?channel_id={channel.pk}",
        body,
        content_type="application/json",
        headers=bearer(outsider),
    )
    assert response.status_code == 404
    assert not InboundRecord.objects.exists()


def test_an_agent_sees_conversations_of_a_team_that_owns_them_even_on_another_channel(
    shop: Shop, other_team: Team, outsider: User, conv: Conversation
) -> None:
    assert not visible_conversations(outsider).exists()
    Conversation.objects.filter(pk=conv.pk).update(team=other_team)
    assert list(visible_conversations(outsider)) == [conv]


def test_supervisors_and_analysts_see_every_team(
    client: Client, conv: Conversation, analyst: User, other_team: Team
) -> None:
    boss = User.objects.create_user("owner", role=Role.OWNER)
    for user in (analyst, boss):
        assert ids(client.get(f"{API}/conversations", headers=bearer(user))) == [conv.pk]


@pytest.mark.parametrize(("method", "path"), [e for e in ENDPOINTS if e[0] == "post"])
def test_an_analyst_reads_but_gets_403_on_every_write(
    client: Client, conv: Conversation, analyst: User, method: str, path: str
) -> None:
    headers = bearer(analyst)
    assert client.get(f"{API}/conversations/{conv.pk}", headers=headers).status_code == 200
    before = (Event.objects.count(), Message.objects.count(), InboundRecord.objects.count())
    response = call(client, method, path, conv, headers)
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    after = (Event.objects.count(), Message.objects.count(), InboundRecord.objects.count())
    assert after == before


def test_deleted_and_merged_conversations_are_hidden(
    client: Client, make_inbound: MakeInbound, agent: User, as_agent: dict[str, str]
) -> None:
    kept, deleted, merged = (new_conversation(make_inbound) for _ in range(3))
    actions.delete_conversation(deleted, actor=agent)
    actions.merge_conversations(merged, into=kept, actor=agent)
    assert ids(client.get(f"{API}/conversations", headers=as_agent)) == [kept.pk]
    for hidden in (deleted, merged):
        response = client.get(f"{API}/conversations/{hidden.pk}", headers=as_agent)
        assert response.status_code == 404


# -- list, filters, paging ---------------------------------------------------------------------


def test_a_conversation_reads_with_its_channel_customer_and_tags(
    client: Client, conv: Conversation, agent: User, as_agent: dict[str, str]
) -> None:
    actions.tag_conversation(conv, tag="livraison", actor=agent)
    data = client.get(f"{API}/conversations/{conv.pk}", headers=as_agent).json()
    assert data["id"] == conv.pk
    assert data["channel"]["kind"] == "api"
    assert data["customer"]["email"] == "buyer@example.com"
    assert data["tags"] == ["livraison"]
    assert data["needs_reply"] is True
    assert data["assignee"] is None
    assert data["order_number"] == "402-1234567-7654321"
    assert data["order"] is None  # no such order stored yet


def test_a_conversation_reads_with_its_order(
    client: Client, conv: Conversation, as_agent: dict[str, str]
) -> None:
    from decimal import Decimal

    from comptoir.orders.models import Order

    order = Order.objects.create(
        shop=conv.shop,
        channel=conv.channel,
        external_id=conv.order_number,
        status="shipped",
        total=Decimal("59.90"),
        items=[{"sku": "LMP-1", "title": "Lampe", "quantity": 1, "unit_price": "59.90"}],
        carrier="Colissimo",
        tracking_number="6A12345678901",
    )
    actions.link_conversations_to_order(order)

    data = client.get(f"{API}/conversations/{conv.pk}", headers=as_agent).json()

    assert data["order"]["external_id"] == "402-1234567-7654321"
    assert data["order"]["status"] == "shipped"
    assert data["order"]["tracking_number"] == "6A12345678901"
    assert data["order"]["items"][0]["title"] == "Lampe"
    assert Decimal(data["order"]["total"]) == Decimal("59.90")


def test_the_list_is_filtered_by_every_parameter(
    client: Client,
    make_inbound: MakeInbound,
    agent: User,
    supervisor: User,
    shop: Shop,
    team: Team,
    as_agent: dict[str, str],
) -> None:
    other_channel = Channel.objects.create(shop=shop, kind="api", name="Fnac", team=team)
    mine = new_conversation(make_inbound, subject="Colis abîmé", order_number="FN-42")
    theirs = new_conversation(make_inbound, channel_id=other_channel.pk, subject="Facture")
    nobody = new_conversation(make_inbound, subject="Merci", needs_reply=False)
    actions.assign_conversation(mine, assignee=agent, actor=agent)
    actions.assign_conversation(theirs, assignee=supervisor, actor=agent)
    actions.tag_conversation(theirs, tag="facture", actor=agent)
    actions.set_status(nobody, status=Status.RESOLVED, actor=agent)

    def listed(query: str) -> set[int]:
        response = client.get(f"{API}/conversations?{query}", headers=as_agent)
        assert response.status_code == 200, response.json()
        return set(ids(response))

    assert listed("") == {mine.pk, theirs.pk, nobody.pk}
    assert listed("status=resolved") == {nobody.pk}
    assert listed(f"channel={other_channel.pk}") == {theirs.pk}
    assert listed("assignee=me") == {mine.pk}
    assert listed("assignee=none") == {nobody.pk}
    assert listed(f"assignee={supervisor.pk}") == {theirs.pk}
    assert listed("needs_reply=true") == {mine.pk, theirs.pk}
    assert listed("needs_reply=false") == {nobody.pk}
    assert listed("tag=facture") == {theirs.pk}
    assert listed("order_number=FN-42") == {mine.pk}
    assert listed("q=colis") == {mine.pk}
    assert listed("q=fn-4") == {mine.pk}
    assert listed("q=nothing-like-it") == set()


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("assignee=someone", 422),
        ("status=lost", 422),
        ("limit=101", 422),
        ("limit=0", 422),
        ("needs_reply=maybe", 422),
        ("order=oldest", 422),
        ("cursor=not-a-cursor", 400),
        ("cursor=eyJvIjogInJlY2VudCJ9", 400),  # valid base64 JSON, wrong shape
    ],
)
def test_bad_list_parameters_answer_a_clear_4xx(
    client: Client, as_agent: dict[str, str], query: str, status: int
) -> None:
    response = client.get(f"{API}/conversations?{query}", headers=as_agent)
    assert response.status_code == status
    assert response.json()["detail"]


def test_a_cursor_from_one_order_is_refused_by_another(
    client: Client, make_inbound: MakeInbound, as_agent: dict[str, str]
) -> None:
    for _ in range(3):
        new_conversation(make_inbound)
    first = client.get(f"{API}/conversations?limit=2", headers=as_agent).json()
    response = client.get(
        f"{API}/conversations?limit=2&order=respond_by&cursor={first['next_cursor']}",
        headers=as_agent,
    )
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def _walk(client: Client, headers: dict[str, str], query: str) -> list[int]:
    seen: list[int] = []
    cursor = ""
    for _ in range(50):
        url = f"{API}/conversations?limit=3&{query}" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers).json()
        assert len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        if not page["next_cursor"]:
            return seen
        cursor = page["next_cursor"]
    raise AssertionError("paging did not end")


def test_pages_by_last_message_have_no_duplicates_or_gaps_even_on_ties(
    client: Client, make_inbound: MakeInbound, as_agent: dict[str, str]
) -> None:
    same_time = ago(hours=1)
    convs = [new_conversation(make_inbound, sent_at=same_time) for _ in range(4)]
    convs += [new_conversation(make_inbound, sent_at=ago(minutes=m)) for m in (50, 10, 30)]
    expected = list(
        Conversation.objects.order_by("-last_message_at", "-id").values_list("id", flat=True)
    )
    assert len(expected) == 7
    assert _walk(client, as_agent, "") == expected


def test_pages_by_respond_by_put_the_soonest_first_and_the_undated_last(
    client: Client, make_inbound: MakeInbound, agent: User, as_agent: dict[str, str]
) -> None:
    convs = [new_conversation(make_inbound, sent_at=ago(hours=h)) for h in (1, 5, 3, 5)]
    convs += [new_conversation(make_inbound, needs_reply=False) for _ in range(3)]
    dated = sorted(
        (c for c in Conversation.objects.all() if c.respond_by), key=lambda c: (c.respond_by, c.pk)
    )
    undated = sorted(c.pk for c in Conversation.objects.filter(respond_by__isnull=True))
    assert len(dated) == 4
    assert len(undated) == 3
    assert _walk(client, as_agent, "order=respond_by") == [c.pk for c in dated] + undated


@pytest.mark.parametrize("order", ["recent", "respond_by"])
def test_the_list_costs_the_same_queries_for_3_or_30_conversations(
    client: Client,
    make_inbound: MakeInbound,
    agent: User,
    supervisor: User,
    as_agent: dict[str, str],
    django_assert_num_queries: Any,
    order: str,
) -> None:
    def fill(n: int) -> None:
        for i in range(n):
            c = new_conversation(make_inbound, sender={"identity_value": f"b{i}@example.com"})
            actions.assign_conversation(c, assignee=agent if i % 2 else supervisor, actor=agent)
            actions.tag_conversation(c, tag=f"t{i % 3}", actor=agent)

    url = f"{API}/conversations?limit=100&order={order}"
    fill(3)
    with django_assert_num_queries(3) as small:  # token, conversations, tags
        assert len(client.get(url, headers=as_agent).json()["items"]) == 3
    fill(27)
    with django_assert_num_queries(len(small.captured_queries)):
        assert len(client.get(url, headers=as_agent).json()["items"]) == 30


def test_messages_are_listed_oldest_first_and_paged(
    client: Client, conv: Conversation, agent: User, as_agent: dict[str, str]
) -> None:
    actions.add_note(conv, actor=agent, text="Vérifier le transporteur")
    actions.reply(conv, actor=agent, text="Nous regardons.")
    response = client.get(f"{API}/conversations/{conv.pk}/messages", headers=as_agent)
    items = response.json()["items"]
    assert [m["direction"] for m in items] == ["in", "note", "out"]
    assert items[2]["delivery_state"] == "queued"
    assert items[0]["attachments"] == []
    first = client.get(f"{API}/conversations/{conv.pk}/messages?limit=2", headers=as_agent).json()
    rest = client.get(
        f"{API}/conversations/{conv.pk}/messages?limit=2&cursor={first['next_cursor']}",
        headers=as_agent,
    ).json()
    assert [m["id"] for m in first["items"] + rest["items"]] == [m["id"] for m in items]
    assert rest["next_cursor"] is None


# -- writes ------------------------------------------------------------------------------------


def test_a_reply_is_queued_as_an_outbound_message_with_an_event(
    client: Client, conv: Conversation, agent: User, as_agent: dict[str, str]
) -> None:
    response = post(
        client,
        f"{API}/conversations/{conv.pk}/reply",
        {"text": "Votre colis arrive demain.", "then_status": "resolved"},
        as_agent,
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["direction"] == "out"
    assert data["delivery_state"] == "queued"
    message = Message.objects.get(pk=data["id"])
    assert message.direction == Direction.OUT
    assert message.delivery_state == DeliveryState.QUEUED
    assert message.author == agent
    event = Event.objects.get(conversation=conv, kind=EventKind.REPLIED)
    assert event.actor == agent
    conv.refresh_from_db()
    assert conv.status == Status.RESOLVED
    assert conv.needs_reply is False


@pytest.mark.parametrize(
    "body",
    [{"text": "   "}, {}, {"text": "ok", "then_status": "snoozed"}, {"text": 3.5}],
)
def test_a_bad_reply_is_refused_with_422_and_nothing_is_queued(
    client: Client, conv: Conversation, as_agent: dict[str, str], body: dict[str, Any]
) -> None:
    response = post(client, f"{API}/conversations/{conv.pk}/reply", body, as_agent)
    assert response.status_code == 422
    assert response.json()["detail"]
    assert not Message.objects.filter(direction=Direction.OUT).exists()


def test_a_body_that_is_not_json_is_a_400_not_a_500(
    client: Client, conv: Conversation, as_agent: dict[str, str]
) -> None:
    response = client.post(
        f"{API}/conversations/{conv.pk}/reply",
        b"{not json",
        content_type="application/json",
        headers=as_agent,
    )
    assert response.status_code == 400
    assert response.json()["detail"]


def test_a_note_is_stored_and_never_sent(
    client: Client, conv: Conversation, agent: User, as_agent: dict[str, str]
) -> None:
    response = post(client, f"{API}/conversations/{conv.pk}/note", {"text": "VIP"}, as_agent)
    assert response.status_code == 201
    note = Message.objects.get(pk=response.json()["id"])
    assert (note.direction, note.delivery_state) == (Direction.NOTE, DeliveryState.NONE)
    assert Event.objects.filter(conversation=conv, kind=EventKind.NOTE_ADDED).exists()


def test_assigning_and_unassigning_write_events(
    client: Client, conv: Conversation, agent: User, supervisor: User, as_agent: dict[str, str]
) -> None:
    url = f"{API}/conversations/{conv.pk}/assign"
    response = post(client, url, {"assignee_id": supervisor.pk}, as_agent)
    assert response.status_code == 200
    assert response.json()["assignee"]["username"] == "paul"
    response = post(client, url, {"assignee_id": None}, as_agent)
    assert response.json()["assignee"] is None
    kinds = list(
        Event.objects.filter(conversation=conv, actor=agent)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == [EventKind.ASSIGNED, EventKind.UNASSIGNED]


def test_a_conversation_cannot_be_assigned_to_someone_who_cannot_see_or_answer_it(
    client: Client,
    conv: Conversation,
    outsider: User,
    analyst: User,
    as_agent: dict[str, str],
) -> None:
    url = f"{API}/conversations/{conv.pk}/assign"
    # The action's refusal (403, one message whatever the reason: no probing of other teams).
    for user_id in (outsider.pk, 999999, analyst.pk):
        response = post(client, url, {"assignee_id": user_id}, as_agent)
        assert response.status_code == 403, user_id
        assert response.json()["detail"] == f"user {user_id} cannot be assigned this conversation"
    assert post(client, url, {}, as_agent).status_code == 422  # a malformed body
    conv.refresh_from_db()
    assert conv.assignee_id is None


def test_status_changes_go_through_the_actions(
    client: Client, conv: Conversation, as_agent: dict[str, str]
) -> None:
    url = f"{API}/conversations/{conv.pk}/status"
    response = post(client, url, {"status": "pending"}, as_agent)
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    until = timezone.now() + timedelta(days=2)
    response = post(client, url, {"status": "snoozed", "snooze_until": until.isoformat()}, as_agent)
    assert response.status_code == 200
    assert response.json()["status"] == "snoozed"
    conv.refresh_from_db()
    assert conv.snoozed_until == until
    kinds = set(Event.objects.filter(conversation=conv).values_list("kind", flat=True))
    assert {EventKind.STATUS_CHANGED, EventKind.SNOOZED} <= kinds


@pytest.mark.parametrize(
    "body",
    [
        {"status": "snoozed"},
        {"status": "snoozed", "snooze_until": "2001-01-01T00:00:00+00:00"},
        {"status": "snoozed", "snooze_until": "2099-01-01T00:00:00"},  # no timezone
        {"status": "open", "snooze_until": "2099-01-01T00:00:00+00:00"},
        {"status": "closed"},
    ],
)
def test_a_bad_status_change_is_a_422_with_the_reason(
    client: Client, conv: Conversation, as_agent: dict[str, str], body: dict[str, Any]
) -> None:
    response = post(client, f"{API}/conversations/{conv.pk}/status", body, as_agent)
    assert response.status_code == 422
    assert response.json()["detail"]
    conv.refresh_from_db()
    assert conv.status == Status.OPEN


# -- inbound -----------------------------------------------------------------------------------


def send_inbound(
    client: Client, body: bytes, headers: dict[str, str], channel_id: int | None = None
) -> Any:
    query = f"?channel_id={channel_id}" if channel_id is not None else ""
    return client.post(
        f"{API}/inbound{query}", body, content_type="application/json", headers=headers
    )


def test_an_inbound_message_is_stored_then_recognised_as_a_duplicate(
    client: Client, channel: Channel, make_inbound: MakeInbound, as_agent: dict[str, str]
) -> None:
    body = make_inbound(external_id="api-1").model_dump_json().encode()
    first = send_inbound(client, body, as_agent, channel.pk)
    assert first.status_code == 201, first.json()
    data = first.json()
    assert data["outcome"] == "stored"
    assert Message.objects.get(pk=data["message_id"]).conversation_id == data["conversation_id"]
    record = InboundRecord.objects.get(pk=data["record_id"])
    assert (record.source, record.state, bytes(record.raw)) == ("api", InboundState.STORED, body)

    again = send_inbound(client, body, as_agent, channel.pk)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert again.json()["message_id"] == data["message_id"]
    assert Message.objects.count() == 1
    assert InboundRecord.objects.get(pk=again.json()["record_id"]).state == InboundState.DUPLICATE


def test_the_channel_may_be_named_in_the_body_alone(
    client: Client, make_inbound: MakeInbound, as_agent: dict[str, str]
) -> None:
    response = send_inbound(client, make_inbound().model_dump_json().encode(), as_agent)
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"external_id": "x1"}', "sender"),
        (b'{"external_id": "\xff\xfe"}', "UTF-8"),
        (b"", "not valid JSON"),
    ],
)
def test_an_invalid_inbound_payload_is_kept_as_a_failed_record(
    client: Client, channel: Channel, as_agent: dict[str, str], body: bytes, error: str
) -> None:
    response = send_inbound(client, body, as_agent, channel.pk)
    assert response.status_code == 422
    data = response.json()
    assert data["outcome"] == "failed"
    assert error in data["detail"]
    record = InboundRecord.objects.get(pk=data["record_id"])
    assert record.state == InboundState.FAILED
    assert error in record.error
    assert bytes(record.raw) == body
    assert record.channel_id == channel.pk
    assert not Message.objects.exists()


def test_a_payload_naming_no_channel_is_still_kept(
    client: Client, as_agent: dict[str, str]
) -> None:
    response = send_inbound(client, b"{broken", as_agent)
    assert response.status_code == 422
    record = InboundRecord.objects.get(pk=response.json()["record_id"])
    assert (record.state, record.channel_id) == (InboundState.FAILED, None)


def test_inbound_is_refused_on_a_channel_that_is_not_an_api_channel(
    client: Client, shop: Shop, team: Team, make_inbound: MakeInbound, as_agent: dict[str, str]
) -> None:
    mailbox = Channel.objects.create(shop=shop, kind="email", name="Mailbox", team=team)
    body = make_inbound(channel_id=mailbox.pk).model_dump_json().encode()
    response = send_inbound(client, body, as_agent, mailbox.pk)
    assert response.status_code == 422
    assert "only API channels" in response.json()["detail"]
    assert not Message.objects.exists()


def test_inbound_refuses_a_body_naming_another_channel_than_the_query(
    client: Client,
    shop: Shop,
    channel: Channel,
    make_inbound: MakeInbound,
    as_agent: dict[str, str],
) -> None:
    elsewhere = Channel.objects.create(shop=shop, kind="api", name="Unteamed API")
    body = make_inbound(channel_id=elsewhere.pk).model_dump_json().encode()
    response = send_inbound(client, body, as_agent, channel.pk)
    assert response.status_code == 422
    assert "differs" in response.json()["detail"]
    assert not Message.objects.exists()
    # Refused, yet kept: the raw payload is there to look at.
    record = InboundRecord.objects.get(pk=response.json()["record_id"])
    assert bytes(record.raw) == body


def test_inbound_to_a_missing_channel_is_404(client: Client, as_agent: dict[str, str]) -> None:
    response = send_inbound(client, b"{}", as_agent, 987654)
    assert response.status_code == 404


# -- OpenAPI and the token command -------------------------------------------------------------


def test_the_openapi_document_is_served_as_json(client: Client, db: None) -> None:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    spec = json.loads(response.content)
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/api/v1/conversations",
        "/api/v1/conversations/{conv_id}/reply",
        "/api/v1/inbound",
    ):
        assert path in paths
    body = paths["/api/v1/inbound"]["post"]["requestBody"]["content"]["application/json"]
    assert "sender" in body["schema"]["properties"]
    assert "$defs" not in json.dumps(body)  # refs inlined: they would point at the spec's root


def test_the_token_command_creates_a_working_token_and_revokes_it(
    client: Client, agent: User
) -> None:
    out = StringIO()
    call_command("token", "create", "marie", "ERP sync", stdout=out, stderr=StringIO())
    raw = out.getvalue().strip()
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get(f"{API}/conversations", headers=headers).status_code == 200
    listing = StringIO()
    call_command("token", "list", stdout=listing)
    assert raw[:12] in listing.getvalue()
    assert raw not in listing.getvalue()
    call_command("token", "revoke", raw[:12], stdout=StringIO())
    assert client.get(f"{API}/conversations", headers=headers).status_code == 401


def test_the_token_command_explains_its_errors(agent: User) -> None:
    with pytest.raises(CommandError, match="no user named"):
        call_command("token", "create", "ghost", "x")
    with pytest.raises(CommandError, match="no active token"):
        call_command("token", "revoke", "cpt_nothing1")


def test_the_token_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from comptoir.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["token", "--help"])
    assert exit_info.value.code == 0
    assert "create" in capsys.readouterr().out


def _cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(
    "url",
    [
        "/conversations/99999999999999999999999",
        "/conversations/99999999999999999999999/messages",
        "/conversations?channel=99999999999999999999999&assignee=99999999999999999999999",
        "/conversations?cursor=" + _cursor({"o": "recent", "v": None, "id": 10**30}),
        "/conversations?cursor="
        + _cursor({"o": "recent", "v": "9999-12-31T23:59:59-14:00", "id": 1}),
        "/conversations?cursor=" + _cursor({"o": "recent", "v": "2024-01-01T00:00:00", "id": 1}),
        "/conversations?cursor=" + _cursor({"o": "recent", "v": 5, "id": 1}),
        "/conversations?cursor=%FF%FE",
    ],
)
def test_out_of_range_values_are_never_a_500(
    client: Client, conv: Conversation, as_agent: dict[str, str], url: str
) -> None:
    response = client.get(API + url, headers=as_agent)
    assert response.status_code in (200, 400, 404, 422)
    assert response.json()


def test_out_of_range_ids_in_bodies_are_never_a_500(
    client: Client, conv: Conversation, as_agent: dict[str, str]
) -> None:
    huge = 10**30
    response = post(
        client, f"{API}/conversations/{conv.pk}/assign", {"assignee_id": huge}, as_agent
    )
    assert response.status_code == 403  # as any id that names nobody who may take it
    assert send_inbound(client, b"{}", as_agent, huge).status_code in (404, 422)
    response = send_inbound(client, json.dumps({"channel_id": huge}).encode(), as_agent)
    assert response.status_code in (404, 422)


# -- channels ----------------------------------------------------------------------------------


def test_channels_are_listed_with_their_health_within_the_users_scope(
    client: Client, channel: Channel, other_team: Any, as_agent: dict[str, str]
) -> None:
    hidden = Channel.objects.create(shop=channel.shop, kind="api", name="Autre", team=other_team)
    Channel.objects.filter(pk=channel.pk).update(is_healthy=False, last_error="401: key revoked")

    data = client.get(f"{API}/channels", headers=as_agent).json()

    assert [c["id"] for c in data] == [channel.pk]
    assert data[0]["is_healthy"] is False
    assert data[0]["last_error"] == "401: key revoked"
    assert hidden.pk not in [c["id"] for c in data]


def test_an_admin_tests_a_channel_and_reads_the_connectors_answer(
    client: Client, channel: Channel, as_agent: dict[str, str]
) -> None:
    from django_tasks_db.models import DBTaskResult

    admin = User.objects.create_user("admin2", "a@x.fr", "x", role="admin")

    refused = post(client, f"{API}/channels/{channel.pk}/test", {}, as_agent)
    started = post(client, f"{API}/channels/{channel.pk}/test", {}, bearer(admin))

    assert refused.status_code == 403
    assert started.status_code == 202
    task_id = started.json()["task_id"]
    waiting = client.get(f"{API}/channels/{channel.pk}/test/{task_id}", headers=bearer(admin))
    assert waiting.json() == {"task_id": task_id, "status": "READY", "ok": None, "message": ""}
    # The worker runs it (as `comptoir worker` does, minus closing the test's connection).
    (queued,) = DBTaskResult.objects.all()
    queued.claim("test-worker")
    queued.set_successful(queued.task.call(*queued.args_kwargs["args"]))
    result = client.get(f"{API}/channels/{channel.pk}/test/{task_id}", headers=bearer(admin))
    assert result.json() == {
        "task_id": task_id,
        "status": "SUCCESSFUL",
        "ok": True,
        "message": "ok",
    }
    other = Channel.objects.create(shop=channel.shop, kind="api", name="Autre")
    wrong = client.get(f"{API}/channels/{other.pk}/test/{task_id}", headers=bearer(admin))
    assert wrong.status_code == 404
    unknown = client.get(f"{API}/channels/{channel.pk}/test/nope", headers=bearer(admin))
    assert unknown.status_code == 404


def test_the_api_filters_and_shows_triages_reading(
    client: Client, agent: User, make_inbound: MakeInbound
) -> None:
    urgent = new_conversation(make_inbound, text="Remboursez-moi ou j'ouvre un litige !")
    calm = new_conversation(make_inbound, text="Avez-vous ce pull en taille M ?")
    Conversation.objects.filter(pk=urgent.pk).update(
        intent="refund", intent_source="triage", urgency="high", sentiment="negative"
    )
    Conversation.objects.filter(pk=calm.pk).update(intent="product_question", urgency="low")
    Message.objects.filter(conversation=urgent).update(
        intent="refund", intent_confidence=0.93, entities=[{"kind": "amount", "value": "9.90"}]
    )
    headers = bearer(agent)

    def ids(query: str) -> set[int]:
        response = client.get(f"{API}/conversations?{query}", headers=headers)
        assert response.status_code == 200, response.content
        return {c["id"] for c in response.json()["items"]}

    assert ids("intent=refund") == {urgent.pk}
    assert ids("urgency=high&sentiment=negative") == {urgent.pk}
    assert ids("intent=product_question&urgency=low") == {calm.pk}
    assert client.get(f"{API}/conversations?urgency=extreme", headers=headers).status_code == 422
    item = client.get(f"{API}/conversations/{urgent.pk}", headers=headers).json()
    assert (item["intent"], item["urgency"], item["sentiment"]) == ("refund", "high", "negative")
    messages = client.get(f"{API}/conversations/{urgent.pk}/messages", headers=headers).json()
    first = messages["items"][0] if isinstance(messages, dict) else messages[0]
    assert (first["intent"], first["intent_confidence"]) == ("refund", 0.93)
    assert first["entities"] == [{"kind": "amount", "value": "9.90"}]
