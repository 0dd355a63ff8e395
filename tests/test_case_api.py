"""The cases REST API (/api/v1/cases): list with its filters, read, open, move on, record the
outcome, set the deadline; the same scope and write rules as the pages; typed in OpenAPI."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, get_args

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounts.models import APIToken, User
from comptoir.cases import actions
from comptoir.cases.api import ClaimKindName, KindName, OutcomeName, StageName
from comptoir.cases.models import Stage
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Event, Shop
from comptoir.lib import cases as words

API = "/api/v1"
pytestmark = pytest.mark.django_db


def bearer(user: User) -> dict[str, str]:
    token, raw = APIToken.issue(user, "tests")
    APIToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return {"Authorization": f"Bearer {raw}"}


def post(client: Client, url: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(
        API + url, json.dumps(body), content_type="application/json", headers=headers
    )


_n = iter(range(1, 10_000))


def new_conv(make_inbound: Any, **overrides: Any) -> Conversation:
    overrides.setdefault("thread_id", f"case-api-{next(_n)}")
    result = ingest(make_inbound(**overrides))
    return Conversation.objects.get(pk=result.conversation_id)


@pytest.fixture
def conv(make_inbound: Any) -> Conversation:
    return new_conv(make_inbound, order_number="402-1234567-7654321")


def test_the_schemas_name_every_word_of_cases() -> None:
    assert set(get_args(KindName)) == set(words.KINDS)
    assert set(get_args(ClaimKindName)) == {"", *words.CLAIM_KINDS}
    assert set(get_args(StageName)) == set(Stage.values)
    assert set(get_args(OutcomeName)) == set(words.OUTCOMES)


def test_a_case_is_opened_moved_and_decided_through_the_api(
    client: Client, conv: Conversation, agent: User
) -> None:
    headers = bearer(agent)
    due = timezone.now() + timedelta(days=2)
    opened = post(
        client,
        "/cases",
        {"conversation_id": conv.pk, "kind": "damaged", "deadline": due.isoformat()},
        headers,
    )
    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert (body["kind"], body["stage"], body["opened_by"]) == ("damaged", "open", "agent")
    assert body["order_number"] == "402-1234567-7654321"
    assert body["marketplace"] == "amazon"
    case_id = body["id"]
    # Asking again answers the open case of that kind.
    again = post(client, "/cases", {"conversation_id": conv.pk, "kind": "damaged"}, headers)
    assert again.json()["id"] == case_id

    moved = post(client, f"/cases/{case_id}/stage", {"stage": "waiting_carrier"}, headers)
    assert moved.json()["stage"] == "waiting_carrier"
    decided = post(
        client,
        f"/cases/{case_id}/outcome",
        {"outcome": "partial_refund", "amount": "12.5", "currency": "eur"},
        headers,
    )
    assert decided.status_code == 200, decided.content
    assert (decided.json()["refund_amount"], decided.json()["currency"]) == ("12.50", "EUR")
    cleared = post(client, f"/cases/{case_id}/deadline", {"deadline": None}, headers)
    assert cleared.json()["deadline"] is None
    closed = post(client, f"/cases/{case_id}/stage", {"stage": "resolved"}, headers)
    assert closed.json()["resolved_at"] is not None
    assert client.get(f"{API}/cases/{case_id}", headers=headers).json()["stage"] == "resolved"
    kinds = list(Event.objects.filter(conversation=conv).values_list("actor_label", flat=True))
    assert "api" in kinds


def test_wrong_values_are_refused_with_the_reason(
    client: Client, conv: Conversation, agent: User
) -> None:
    headers = bearer(agent)
    case = actions.open_case(conv, kind="refund", actor=agent)
    assert (
        post(client, "/cases", {"conversation_id": conv.pk, "kind": "nope"}, headers).status_code
        == 422
    )
    partial = post(client, f"/cases/{case.pk}/outcome", {"outcome": "partial_refund"}, headers)
    assert partial.status_code == 422
    assert "amount" in partial.json()["detail"]
    rejected = post(client, f"/cases/{case.pk}/outcome", {"outcome": "rejected"}, headers)
    assert rejected.status_code == 422
    assert client.get(f"{API}/cases?marketplace=mars", headers=headers).status_code == 422
    assert client.get(f"{API}/cases?stage=later", headers=headers).status_code == 422


def test_the_same_scope_and_write_rules_as_the_pages(
    client: Client, conv: Conversation, agent: User, outsider: User, analyst: User
) -> None:
    case = actions.open_case(conv, kind="refund", actor=agent)
    other = bearer(outsider)
    assert client.get(f"{API}/cases/{case.pk}", headers=other).status_code == 404
    assert client.get(f"{API}/cases", headers=other).json()["count"] == 0
    assert post(client, f"/cases/{case.pk}/stage", {"stage": "resolved"}, other).status_code == 404
    assert (
        post(client, "/cases", {"conversation_id": conv.pk, "kind": "return"}, other).status_code
        == 404
    )
    # An analyst reads every case but changes none.
    reader = bearer(analyst)
    assert client.get(f"{API}/cases/{case.pk}", headers=reader).status_code == 200
    assert post(client, f"/cases/{case.pk}/stage", {"stage": "resolved"}, reader).status_code == 403
    assert (
        post(client, "/cases", {"conversation_id": conv.pk, "kind": "return"}, reader).status_code
        == 403
    )
    assert client.get(f"{API}/cases", headers={}).status_code == 401
    case.refresh_from_db()
    assert case.stage == "open"


def test_the_list_filters_and_pages_by_deadline(
    client: Client, make_inbound: Any, agent: User, shop: Shop, team: Any
) -> None:
    headers = bearer(agent)
    ebay = Channel.objects.create(shop=shop, kind="api", marketplace="ebay", name="eBay", team=team)
    now = timezone.now()
    made = []
    for n, (kind, hours) in enumerate(
        [("refund", 5), ("damaged", 50), ("return", None), ("damaged", 1), ("refund", 30)]
    ):
        channel = ebay if n % 2 else None
        extra = {"channel_id": channel.pk} if channel else {}
        conv = new_conv(make_inbound, **extra)
        deadline = now + timedelta(hours=hours) if hours else None
        made.append(actions.open_case(conv, kind=kind, actor=agent, deadline=deadline))
    actions.close(made[4], actor=agent)

    def listed(query: str) -> list[int]:
        response = client.get(f"{API}/cases?{query}", headers=headers)
        assert response.status_code == 200, response.content
        return [c["id"] for c in response.json()["items"]]

    # Open ones, the nearest deadline first, those without one last.
    assert listed("") == [made[3].pk, made[0].pk, made[1].pk, made[2].pk]
    assert listed("kind=damaged") == [made[3].pk, made[1].pk]
    assert listed("marketplace=ebay") == [made[3].pk, made[1].pk]
    before = (now + timedelta(hours=10)).isoformat().replace("+", "%2B")
    assert listed(f"deadline_before={before}") == [made[3].pk, made[0].pk]
    assert listed("stage=resolved") == [made[4].pk]
    assert len(listed("stage=all")) == 5
    first = client.get(f"{API}/cases?limit=3", headers=headers).json()
    assert (len(first["items"]), first["count"], first["next_offset"]) == (3, 4, 3)
    assert listed("limit=3&offset=3") == [made[2].pk]


def test_the_list_costs_the_same_queries_for_2_or_20_cases(
    client: Client, make_inbound: Any, agent: User
) -> None:
    headers = bearer(agent)
    counts = []
    for n in (2, 18):
        for _ in range(n):
            actions.open_case(new_conv(make_inbound), kind="refund", actor=agent)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"{API}/cases?limit=100", headers=headers).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_the_openapi_document_types_the_case_endpoints(client: Client, db: None) -> None:
    spec = client.get(f"{API}/openapi.json").json()
    assert {"/api/v1/cases", "/api/v1/cases/{case_id}", "/api/v1/cases/{case_id}/outcome"} <= set(
        spec["paths"]
    )
    case_out = spec["components"]["schemas"]["CaseOut"]["properties"]
    assert case_out["stage"]["enum"] == list(Stage.values)
    params = {p["name"] for p in spec["paths"]["/api/v1/cases"]["get"]["parameters"]}
    assert {"stage", "kind", "marketplace", "deadline_before", "limit", "offset"} <= params
