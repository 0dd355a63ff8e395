"""The customers and orders API: read only, scoped as conversations are (an agent sees the
buyers and orders of their teams' channels and conversations, 404 for the others), with no
message text, keyset-paginated, and a fixed number of queries whatever the rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounts.models import APIToken, Team, User
from comptoir.connectors.base import OrderData
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation
from comptoir.orders.actions import store_order
from comptoir.orders.models import Order

API = "/api/v1"
pytestmark = pytest.mark.django_db
_n = iter(range(1, 10_000))


def bearer(user: User) -> dict[str, str]:
    _token, raw = APIToken.issue(user, "tests")
    return {"Authorization": f"Bearer {raw}"}


def get(client: Client, url: str, user: User) -> Any:
    return client.get(API + url, headers=bearer(user))


def new_conv(make_inbound: Any, **overrides: Any) -> Conversation:
    overrides.setdefault("thread_id", f"people-api-{next(_n)}")
    return Conversation.objects.get(pk=ingest(make_inbound(**overrides)).conversation_id)


def buyer(email: str, name: str) -> dict[str, str]:
    return {"identity_kind": "email", "identity_value": email, "email": email, "name": name}


@pytest.fixture
def other_channel(channel: Channel, other_team: Team) -> Channel:
    return Channel.objects.create(
        shop=channel.shop, kind="api", marketplace="ebay", name="eBay", team=other_team
    )


@pytest.fixture
def order(channel: Channel, make_inbound: Any) -> Order:
    conv = new_conv(make_inbound, order_number="402-0000001-0000001", text="Where is it?")
    placed = store_order(
        channel,
        OrderData(
            external_id="402-0000001-0000001",
            status="accepted",
            total="42.50",
            ship_by=timezone.now() - timedelta(days=1),
        ),
    )
    Order.objects.filter(pk=placed.pk).update(customer=conv.customer)
    return Order.objects.get(pk=placed.pk)


def test_customers_are_listed_searched_and_scoped_by_team(
    client: Client,
    make_inbound: Any,
    other_channel: Channel,
    agent: User,
    outsider: User,
    supervisor: User,
) -> None:
    jeanne = new_conv(make_inbound, sender=buyer("jeanne@example.com", "Jeanne Martin"))
    new_conv(make_inbound, sender=buyer("paul@example.com", "Paul Durand"))
    theirs = new_conv(
        make_inbound, channel_id=other_channel.pk, sender=buyer("zoe@example.com", "Zoé Roux")
    )
    names = [c["name"] for c in get(client, "/customers", agent).json()["items"]]
    assert names == ["Paul Durand", "Jeanne Martin"]  # newest first, not the other team's
    assert [c["name"] for c in get(client, "/customers", outsider).json()["items"]] == ["Zoé Roux"]
    assert len(get(client, "/customers", supervisor).json()["items"]) == 3
    found = get(client, "/customers?q=JEANNE@", agent).json()["items"]
    assert [c["id"] for c in found] == [jeanne.customer_id]
    assert get(client, f"/customers/{theirs.customer_id}", agent).status_code == 404
    page = get(client, "/customers?limit=1", agent).json()
    nxt = get(client, f"/customers?limit=1&cursor={page['next_cursor']}", agent).json()
    assert [c["name"] for c in nxt["items"]] == ["Jeanne Martin"]
    assert nxt["next_cursor"] is None
    assert get(client, "/customers?cursor=nope", agent).status_code == 400


def test_a_customer_comes_with_their_conversations_and_orders_but_no_message_text(
    client: Client, order: Order, agent: User
) -> None:
    response = get(client, f"/customers/{order.customer_id}", agent)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["identities"] == [
        {"kind": "email", "value": "buyer@example.com", "channel_id": order.channel_id}
    ]
    assert [c["order_number"] for c in body["conversations"]] == ["402-0000001-0000001"]
    assert [(o["external_id"], o["total"]) for o in body["orders"]] == [
        ("402-0000001-0000001", "42.50")
    ]
    assert b"Where is it?" not in response.content


def test_orders_are_found_by_external_id_and_read_with_their_conversations(
    client: Client, order: Order, agent: User, outsider: User
) -> None:
    listed = get(client, "/orders?external_id=402-0000001-0000001", agent).json()["items"]
    assert [o["id"] for o in listed] == [order.pk]
    assert get(client, "/orders?external_id=402-0000001-0000001", outsider).json()["items"] == []
    assert [o["id"] for o in get(client, "/orders?late=true", agent).json()["items"]] == [order.pk]
    assert get(client, "/orders?late=false", agent).json()["items"] == []
    detail = get(client, f"/orders/{order.pk}", agent).json()
    assert (detail["status"], detail["customer_id"]) == ("accepted", order.customer_id)
    assert [c["id"] for c in detail["conversations"]] == list(
        order.conversations.values_list("pk", flat=True)
    )
    assert get(client, f"/orders/{order.pk}", outsider).status_code == 404


def test_the_lists_take_the_same_queries_for_one_row_or_many(
    client: Client, channel: Channel, make_inbound: Any, agent: User
) -> None:
    def count(url: str) -> int:
        headers = bearer(agent)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(API + url, headers=headers).status_code == 200
        return len(ctx.captured_queries)

    new_conv(make_inbound, sender=buyer("a@example.com", "A"))
    store_order(channel, OrderData(external_id="A-1"))
    few = count("/customers"), count("/orders")
    for i in range(5):
        new_conv(make_inbound, sender=buyer(f"b{i}@example.com", f"B{i}"))
        store_order(channel, OrderData(external_id=f"B-{i}"))
    assert (count("/customers"), count("/orders")) == few
