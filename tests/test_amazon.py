"""The Amazon SP-API channel against its local simulator: orders, proactive messages, limits."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from comptoir.accounts.models import Team
from comptoir.connectors.amazon import connector as amazon_connector
from comptoir.connectors.amazon import swagger
from comptoir.connectors.amazon.connector import AmazonConnector, AuthError
from comptoir.connectors.amazon.simulator import AmazonSimulator
from comptoir.connectors.base import (
    ConnectorError,
    OrderData,
    OutboundAttachment,
    OutboundMessage,
)
from comptoir.connectors.registry import connector_class
from comptoir.inbox.models import Channel, Shop
from comptoir.lib import http
from comptoir.orders.actions import store_order
from comptoir.orders.models import Order
from tests.conftest import require_specs

MESSAGES = r"/messaging/v1/orders/[^/]+/messages/"


class Clock:
    """Stands for `http.monotonic`/`http.sleep` (the simulator reads the same clock)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def specs() -> Iterator[None]:
    """Amazon's models, read afresh for each test from `contract.specs_dir()`."""
    swagger.load.cache_clear()
    yield
    swagger.load.cache_clear()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(http, "monotonic", clock.monotonic)
    monkeypatch.setattr(http, "sleep", clock.sleep)
    # Buckets and tokens of other tests ran on another clock.
    monkeypatch.setattr(http, "_buckets", {})
    monkeypatch.setattr(amazon_connector, "_tokens", {})
    return clock


@pytest.fixture
def sim(clock: Clock) -> Iterator[AmazonSimulator]:
    simulator = AmazonSimulator(seed=4)
    # The client gives up after `timeout_seconds` (below) on a hung request; a plain one must
    # never come near it, even with both cores busy (0.3 s was seen timing out under load).
    simulator.faults.hang_seconds = 1.6
    with simulator:
        yield simulator


@pytest.fixture
def amazon(shop: Shop, team: Team, sim: AmazonSimulator) -> Channel:
    channel = Channel.objects.create(
        shop=shop, kind="amazon", marketplace="amazon", name="Amazon FR (SP-API)", team=team
    )
    channel.set_settings(
        {
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "refresh_token": sim.refresh_token,
            "seller_id": sim.seller_id,
            "marketplace_id": sim.marketplace_id,
            "shop_name": "Maison Lumière",
            "endpoint": sim.url,
            "token_url": f"{sim.url}/auth/o2/token",
            "timeout_seconds": 1.2,
        }
    )
    channel.save()
    return channel


@pytest.fixture
def conn(amazon: Channel) -> Iterator[AmazonConnector]:
    connector = AmazonConnector(amazon)
    yield connector
    connector.close()


def reload(channel: Channel) -> Channel:
    return Channel.objects.get(pk=channel.pk)


def token_for(sim: AmazonSimulator) -> str:
    response = httpx.post(
        f"{sim.url}/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": sim.refresh_token,
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
        },
    )
    return str(response.json()["access_token"])


# -- the channel -------------------------------------------------------------------------------


def test_the_channel_kind_is_installed_and_fetches_nothing() -> None:
    assert connector_class("amazon") is AmazonConnector
    assert not AmazonConnector.can_fetch()
    assert not AmazonConnector.can_find_sent()


def test_test_connection_names_the_shop(conn: AmazonConnector, sim: AmazonSimulator) -> None:
    sim.add_order(purchased=datetime.now(UTC) - timedelta(hours=3))
    sim.add_order(purchased=datetime.now(UTC) - timedelta(days=3))

    answer = conn.test_connection()

    assert answer.startswith("connected as shop Maison Lumière on marketplace A13V1IB3VIYZZH")
    assert "1 order(s)" in answer
    assert sim.calls["GET /orders/v0/orders"] == 1
    assert sim.violations == []


def test_buyer_replies_are_refused_and_point_to_the_email_channel(
    conn: AmazonConnector, sim: AmazonSimulator
) -> None:
    outbound = OutboundMessage(
        message_id=1,
        idempotency_key="comptoir-1",
        conversation_thread_id="",
        to="abc@marketplace.amazon.fr",
        subject="Re: votre commande",
        text="Bonjour",
        order_number="402-1234567-1234567",
    )

    with pytest.raises(ConnectorError, match="answered from the email channel") as caught:
        conn.send(outbound)

    assert caught.value.permanent
    assert sum(sim.calls.values()) == 0


# -- orders ------------------------------------------------------------------------------------


def test_get_order_maps_status_items_totals_and_dates(
    conn: AmazonConnector, sim: AmazonSimulator, amazon: Channel
) -> None:
    order_id = sim.add_order(
        status="Shipped",
        items=[
            ("LAMP-01", "Lampe de chevet", 2, "99.80"),
            ("SHADE-02", "Abat-jour lin", 1, "24.50"),
            ("BULB-03", "Ampoule E27", 3, "14.70"),
        ],
        buyer_email="x7k2abc@marketplace.amazon.fr",
    )
    payload = sim.orders[order_id].payload

    data = conn.fetch_order(order_id)

    assert data is not None
    assert data.external_id == order_id
    assert data.status == "shipped"
    assert data.currency == "EUR"
    assert data.total == "139.00"
    # Three items over two pages of getOrderItems.
    assert [(i.sku, i.quantity, i.unit_price) for i in data.items] == [
        ("LAMP-01", 2, "49.90"),
        ("SHADE-02", 1, "24.50"),
        ("BULB-03", 3, "4.90"),
    ]
    assert sim.calls[f"GET /orders/v0/orders/{order_id}/orderItems"] == 2
    assert data.ship_by is not None
    assert data.ship_by.strftime("%Y-%m-%dT%H:%M:%SZ") == payload["LatestShipDate"]
    assert data.expected_delivery_at is not None
    assert data.expected_delivery_at.strftime("%Y-%m-%dT%H:%M:%SZ") == payload["LatestDeliveryDate"]
    assert data.ordered_at is not None
    assert data.buyer is not None
    assert data.buyer.email == "x7k2abc@marketplace.amazon.fr"
    order = store_order(amazon, data)
    assert order.total == Decimal("139.00")
    assert order.status == "shipped"
    assert sim.violations == []


@pytest.mark.parametrize(
    ("amazon_status", "ours"),
    [
        ("Pending", "pending"),
        ("PendingAvailability", "pending"),
        ("Unshipped", "accepted"),
        ("PartiallyShipped", "accepted"),
        ("Shipped", "shipped"),
        ("InvoiceUnconfirmed", "shipped"),
        ("Canceled", "cancelled"),
        ("Unfulfillable", "unknown"),
    ],
)
def test_amazon_order_statuses_map_onto_ours(
    conn: AmazonConnector, sim: AmazonSimulator, amazon_status: str, ours: str
) -> None:
    order_id = sim.add_order(status=amazon_status)

    data = conn.fetch_order(order_id)

    assert data is not None
    assert data.status == ours


def test_an_unknown_order_or_a_number_that_is_not_amazon_s_gives_none(
    conn: AmazonConnector, sim: AmazonSimulator
) -> None:
    assert conn.fetch_order("123-1234567-1234567") is None
    assert sim.calls["GET /orders/v0/orders/123-1234567-1234567"] == 1
    before = sum(sim.calls.values())
    assert conn.fetch_order("CMD-12345") is None
    assert sum(sim.calls.values()) == before  # not asked at all


def test_fetch_orders_reads_fifty_orders_per_get_orders_request(
    conn: AmazonConnector, sim: AmazonSimulator
) -> None:
    wanted = [sim.add_order(items=[("LAMP-01", "Lampe", 1, "49.90")]) for _ in range(120)]
    unrelated = sim.add_order()

    found = conn.fetch_orders([*wanted, "123-1234567-1234567", "CMD-12345"])

    assert sorted(found) == sorted(wanted)
    assert unrelated not in found
    assert found[wanted[7]].items[0].sku == "LAMP-01"
    # 120 orders: three getOrders (50, 50, 20) and no getOrder; items still one call each.
    assert sim.calls["GET /orders/v0/orders"] == 3
    assert not any(
        k.startswith("GET /orders/v0/orders/") and "/orderItems" not in k for k in sim.calls
    )
    assert sum(v for k, v in sim.calls.items() if k.endswith("/orderItems")) == 120
    assert AmazonConnector.order_batch_size == 50
    assert sim.violations == []


def test_the_simulator_refuses_more_than_fifty_amazon_order_ids(
    conn: AmazonConnector, sim: AmazonSimulator
) -> None:
    ids = [f"402-{i:07d}-1234567" for i in range(51)]

    with pytest.raises(ConnectorError, match="at most 50") as caught:
        conn._list_orders(ids)

    assert caught.value.status == 400


# -- proactive messages ------------------------------------------------------------------------


def test_allowed_messages_lists_what_amazon_allows_on_the_order(
    conn: AmazonConnector, sim: AmazonSimulator
) -> None:
    shipped = sim.add_order(status="Shipped")
    custom = sim.add_order(allowed=["confirmCustomizationDetails"])

    assert conn.allowed_messages(shipped) == [
        "confirmDeliveryDetails",
        "unexpectedProblem",
        "legalDisclosure",
        "invoice",
        "warranty",
    ]
    assert conn.allowed_messages(custom) == ["confirmCustomizationDetails"]
    assert sim.violations == []


def test_a_type_the_order_does_not_allow_is_refused_as_amazon_does(
    conn: AmazonConnector, sim: AmazonSimulator, amazon: Channel
) -> None:
    order_id = sim.add_order(status="Unshipped")
    # Amazon's own answer, as the simulator gives it.
    raw = httpx.post(
        f"{sim.url}/messaging/v1/orders/{order_id}/messages/confirmDeliveryDetails",
        params={"marketplaceIds": sim.marketplace_id},
        json={"text": "Livraison demain"},
        headers={"x-amz-access-token": token_for(sim)},
    )
    assert raw.status_code == 403
    assert raw.json()["errors"][0]["message"] == ("Invalid amazonOrderId and template combination.")

    with pytest.raises(ConnectorError) as caught:
        conn.send_proactive(order_id, "confirmDeliveryDetails", "Livraison demain")

    assert caught.value.permanent
    assert not caught.value.maybe_sent
    message = str(caught.value)
    assert "does not allow a confirmDeliveryDetails message" in message
    assert "confirmOrderDetails" in message  # the allowed ones are listed
    assert sim.seller_messages() == []
    # The message was refused, not the credentials: the channel stays healthy.
    assert reload(amazon).is_healthy


def test_a_proactive_message_reaches_amazon_once(
    conn: AmazonConnector, sim: AmazonSimulator
) -> None:
    order_id = sim.add_order(status="Shipped")

    result = conn.send_proactive(order_id, "unexpectedProblem", "Votre colis a du retard.")

    (sent,) = sim.seller_messages(order_id)
    assert (sent.kind, sent.text, sent.attachments) == (
        "unexpectedProblem",
        "Votre colis a du retard.",
        [],
    )
    assert result.external_id.startswith(f"{order_id}/unexpectedProblem/")
    assert result.sent_at is not None
    assert sim.violations == []


def test_attachments_go_through_an_upload_destination(
    conn: AmazonConnector, sim: AmazonSimulator
) -> None:
    order_id = sim.add_order(allowed=["confirmCustomizationDetails", "invoice"])
    proof = OutboundAttachment("gravure.png", "image/png", b"\x89PNG gravure")
    invoice = OutboundAttachment("facture.pdf", "application/pdf", b"%PDF facture")

    conn.send_proactive(order_id, "confirmCustomizationDetails", "Voici la gravure", [proof])
    conn.send_proactive(order_id, "invoice", "", [invoice])

    custom, bill = sim.seller_messages(order_id)
    assert custom.text == "Voici la gravure"
    assert custom.attachments == [("gravure.png", b"\x89PNG gravure")]
    assert (bill.kind, bill.text, bill.attachments) == (
        "invoice",
        "",
        [("facture.pdf", b"%PDF facture")],
    )
    assert len(sim.uploads) == 2
    assert sim.violations == []


@pytest.mark.parametrize(
    ("kind", "text", "files", "reason"),
    [
        ("unexpectedProblem", "x" * 2001, 0, "at most 2000"),
        ("confirmCustomizationDetails", "x" * 801, 0, "at most 800"),
        ("unexpectedProblem", "Retard", 1, "cannot carry attachments"),
        ("confirmCustomizationDetails", "Gravure", 6, "at most 5"),
        ("invoice", "Votre facture", 1, "attachments only, no text"),
        ("invoice", "", 0, "needs an attachment"),
        ("unexpectedProblem", "", 0, "needs a text"),
        ("negativeFeedbackRemoval", "Merci", 0, "not an Amazon message type"),
    ],
)
def test_limits_are_refused_before_anything_is_sent(
    conn: AmazonConnector,
    sim: AmazonSimulator,
    kind: str,
    text: str,
    files: int,
    reason: str,
) -> None:
    order_id = sim.add_order(status="Shipped")
    attachments = [
        OutboundAttachment(f"f{n}.pdf", "application/pdf", b"%PDF") for n in range(files)
    ]

    with pytest.raises(ConnectorError, match=reason) as caught:
        conn.send_proactive(order_id, kind, text, attachments)

    assert caught.value.permanent
    assert sum(sim.calls.values()) == 0


def test_an_attachment_over_the_size_cap_is_refused_before_sending(
    conn: AmazonConnector, sim: AmazonSimulator, amazon: Channel
) -> None:
    amazon.set_settings({**amazon.get_settings(), "max_attachment_bytes": 10})
    amazon.save()
    order_id = sim.add_order(allowed=["confirmCustomizationDetails"])
    big = OutboundAttachment("photo.jpg", "image/jpeg", b"x" * 11)

    with pytest.raises(ConnectorError, match=r"photo\.jpg is 11 bytes; .* at most 10"):
        AmazonConnector(amazon).send_proactive(order_id, "confirmCustomizationDetails", "A", [big])

    assert sum(sim.calls.values()) == 0


@pytest.mark.parametrize(
    ("fault", "reached"),
    [("lose_response", 1), ("timeout", 0), ("error500_after", 1), ("store_late", 1)],
)
def test_a_message_whose_answer_is_lost_is_not_sent_again(
    conn: AmazonConnector, sim: AmazonSimulator, amazon: Channel, fault: str, reached: int
) -> None:
    """Amazon has no idempotency key and no read of sent messages: never resend blindly."""
    order_id = sim.add_order(status="Shipped")
    sim.faults.add(fault, method="POST", path=MESSAGES)

    with pytest.raises(ConnectorError, match="may have delivered") as caught:
        conn.send_proactive(order_id, "confirmDeliveryDetails", "Livraison mardi")

    assert caught.value.maybe_sent
    assert caught.value.permanent  # a human checks Seller Central first
    assert caught.value.about_message  # "unknown: check" is this message's state, not the channel's
    assert "Seller Central" in str(caught.value)
    path = f"POST /messaging/v1/orders/{order_id}/messages/confirmDeliveryDetails"
    sim.run_late()  # a slow Amazon stores it after the client gave up
    assert sim.calls[path] == 1
    assert len(sim.seller_messages(order_id)) == reached
    assert reload(amazon).is_healthy


# -- rate limits, retries, tokens --------------------------------------------------------------


@pytest.mark.parametrize("call", ["allowed_messages", "send_proactive"])
def test_ten_quick_messaging_calls_wait_as_the_bucket_says(
    conn: AmazonConnector, sim: AmazonSimulator, clock: Clock, call: str
) -> None:
    order_id = sim.add_order(status="Shipped")
    start = clock.now

    for n in range(10):
        if call == "allowed_messages":
            assert "confirmDeliveryDetails" in conn.allowed_messages(order_id)
        else:
            conn.send_proactive(order_id, "confirmDeliveryDetails", f"Livraison n°{n}")

    # A burst of 5, then one request per second: Amazon's Messaging usage plan.
    assert clock.sleeps == pytest.approx([1.0] * 5)
    assert clock.now - start == pytest.approx(5.0)
    assert sim.rate_limited == []
    assert sum(n for k, n in sim.calls.items() if "/messaging/" in k) == 10
    if call == "send_proactive":
        assert len(sim.seller_messages(order_id)) == 10


def test_the_simulator_answers_429_over_amazon_s_usage_plan(
    sim: AmazonSimulator, clock: Clock
) -> None:
    order_id = sim.add_order(status="Shipped")
    url = f"/messaging/v1/orders/{order_id}"
    params = {"marketplaceIds": sim.marketplace_id}

    with httpx.Client(base_url=sim.url, headers={"x-amz-access-token": token_for(sim)}) as raw:
        statuses = [raw.get(url, params=params).status_code for _ in range(6)]
        throttled = raw.get(url, params=params)
        clock.now += 1.0
        after_a_second = raw.get(url, params=params)

    assert statuses == [200] * 5 + [429]
    assert throttled.status_code == 429
    assert throttled.headers["x-amzn-RateLimit-Limit"] == "1"
    assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
    assert after_a_second.status_code == 200


def test_500_and_429_are_retried_honouring_retry_after(
    conn: AmazonConnector, sim: AmazonSimulator, clock: Clock
) -> None:
    order_id = sim.add_order()
    sim.faults.add("error500", path=rf"/orders/v0/orders/{order_id}$", times=2)
    sim.faults.add("rate_limit", path="/orderItems", retry_after=7)

    data = conn.fetch_order(order_id)

    assert data is not None
    assert len(data.items) == 1
    assert 7.0 in clock.sleeps
    assert sim.calls[f"GET /orders/v0/orders/{order_id}"] == 3
    assert sim.faults.injected == Counter({"error500": 2, "rate_limit": 1})


def test_an_expired_token_is_refreshed_with_login_with_amazon(
    conn: AmazonConnector, sim: AmazonSimulator, amazon: Channel
) -> None:
    order_id = sim.add_order()
    assert conn.fetch_order(order_id) is not None
    assert sim.tokens_issued == 1

    # Amazon's answer to an expired token is a 403 that says so.
    sim.expire_tokens()
    assert AmazonConnector(amazon).fetch_order(order_id) is not None
    assert sim.tokens_issued == 2

    # An early expiry answered 401 goes through the same refresh.
    sim.faults.add("expired_token", path="/orders/v0/orders/")
    assert AmazonConnector(amazon).fetch_order(order_id) is not None
    assert sim.tokens_issued == 3
    assert reload(amazon).is_healthy


def test_a_token_is_renewed_before_it_expires(
    conn: AmazonConnector, sim: AmazonSimulator, clock: Clock
) -> None:
    order_id = sim.add_order()
    conn.fetch_order(order_id)
    clock.now += 3600 - 30  # within the last minute of its hour

    assert conn.fetch_order(order_id) is not None

    assert sim.tokens_issued == 2
    # No request was refused on the way.
    assert sim.calls[f"GET /orders/v0/orders/{order_id}"] == 2


@pytest.mark.parametrize("refusal", ["403", "401 after a refresh"])
def test_a_refusal_marks_the_channel_unhealthy_with_a_readable_error(
    conn: AmazonConnector, sim: AmazonSimulator, amazon: Channel, refusal: str
) -> None:
    order_id = sim.add_order()
    if refusal == "403":
        sim.denied = True  # the app lost its role for this seller
    else:
        sim.faults.add("expired_token", path="/orders/v0/orders/", times=2)

    with pytest.raises(AuthError) as caught:
        conn.fetch_order(order_id)

    assert caught.value.permanent
    channel = reload(amazon)
    assert not channel.is_healthy
    assert channel.last_error.startswith(f"Amazon refused access (Amazon SP-API: {refusal[:3]} ")
    assert "Seller Central" in channel.last_error
    if refusal == "403":
        assert "Access to requested resource is denied." in channel.last_error
    else:
        assert sim.tokens_issued == 2  # refreshed once, then refused again


def test_a_revoked_authorisation_marks_the_channel_unhealthy(
    conn: AmazonConnector, sim: AmazonSimulator, amazon: Channel
) -> None:
    order_id = sim.add_order(status="Shipped")
    conn.allowed_messages(order_id)
    sim.revoke()
    sim.denied = False
    sim.expire_tokens()

    with pytest.raises(AuthError, match="Login with Amazon refused"):
        conn.send_proactive(order_id, "confirmDeliveryDetails", "Livraison mardi")

    channel = reload(amazon)
    assert not channel.is_healthy
    assert "invalid_grant" in channel.last_error or "invalid grant" in channel.last_error
    assert sim.seller_messages() == []


def test_a_wrong_field_sent_to_amazon_is_caught(
    conn: AmazonConnector, sim: AmazonSimulator
) -> None:
    require_specs("amazon/messaging.json")
    order_id = sim.add_order(status="Shipped")
    path = f"/messaging/v1/orders/{order_id}/messages/confirmDeliveryDetails"

    with pytest.raises(ConnectorError) as body_error:
        conn._call(
            "messaging",
            "POST",
            path,
            params={"marketplaceIds": sim.marketplace_id},
            json_body={"message": "Livraison mardi"},
        )
    with pytest.raises(ConnectorError) as query_error:
        conn._call("messaging", "GET", path.split("/messages")[0], params={"marketplaceId": "X"})

    assert body_error.value.permanent
    assert query_error.value.permanent
    assert len(sim.violations) == 2
    assert "'message'" in sim.violations[0]
    assert "query parameter 'marketplaceIds' is required" in sim.violations[1]
    assert "'marketplaceId' is not in the contract" in sim.violations[1]
    assert sim.seller_messages() == []


# -- the simulator follows Amazon's contract --------------------------------------------------


def test_the_simulator_answers_in_amazon_s_published_shapes(sim: AmazonSimulator) -> None:
    require_specs("amazon/ordersV0.json", "amazon/messaging.json", "amazon/uploads_2020-11-01.json")
    orders = swagger.load("amazon/ordersV0.json")
    messaging = swagger.load("amazon/messaging.json")
    uploads = swagger.load("amazon/uploads_2020-11-01.json")
    assert orders is not None, "Amazon's models are missing"
    assert messaging is not None
    assert uploads is not None
    order_id = sim.add_order(status="Shipped", items=[("A", "a", 1, "1.00")] * 3)
    mp = {"marketplaceIds": sim.marketplace_id}

    with httpx.Client(base_url=sim.url, headers={"x-amz-access-token": token_for(sim)}) as raw:
        answers = [
            (orders, "GetOrderResponse", raw.get(f"/orders/v0/orders/{order_id}")),
            (orders, "GetOrderItemsResponse", raw.get(f"/orders/v0/orders/{order_id}/orderItems")),
            (
                orders,
                "GetOrdersResponse",
                raw.get(
                    "/orders/v0/orders",
                    params={"MarketplaceIds": sim.marketplace_id, "CreatedAfter": "2020-01-01"},
                ),
            ),
            (
                messaging,
                "GetMessagingActionsForOrderResponse",
                raw.get(f"/messaging/v1/orders/{order_id}", params=mp),
            ),
            (
                messaging,
                "CreateUnexpectedProblemResponse",
                raw.post(
                    f"/messaging/v1/orders/{order_id}/messages/unexpectedProblem",
                    params=mp,
                    json={"text": "Retard"},
                ),
            ),
            (
                uploads,
                "CreateUploadDestinationResponse",
                raw.post(
                    f"/uploads/2020-11-01/uploadDestinations/messaging/v1/orders/{order_id}"
                    "/messages/invoice",
                    params={**mp, "contentMD5": "1B2M2Y8AsgTpgAmY7PhCfg=="},
                ),
            ),
            (orders, "GetOrderResponse", raw.get("/orders/v0/orders/999-0000000-0000000")),
        ]

    assert [a[2].status_code for a in answers] == [200, 200, 200, 200, 201, 201, 404]
    for model, name, answer in answers:
        assert model.validate(answer.json(), model.component(name), name) == []
    assert answers[-1][2].json()["errors"][0]["code"] == "NotFound"
    assert "x-amzn-RateLimit-Limit" in answers[0][2].headers
    assert sim.violations == []


def test_the_simulator_is_the_same_for_the_same_seed() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    first, second = AmazonSimulator(seed=11), AmazonSimulator(seed=11)

    ids = first.seed_orders(6, now=now)

    assert second.seed_orders(6, now=now) == ids
    assert [first.orders[i].payload for i in ids] == [second.orders[i].payload for i in ids]
    assert [first.orders[i].items for i in ids] == [second.orders[i].items for i in ids]
    assert AmazonSimulator(seed=12).seed_orders(6, now=now) != ids


# -- the proof ---------------------------------------------------------------------------------


def test_orders_and_messages_survive_random_faults(
    conn: AmazonConnector, sim: AmazonSimulator, amazon: Channel
) -> None:
    """A few hundred getOrder and proactive sends (a third with an uploaded attachment) with
    faults on: every order is read right, no message reaches Amazon twice, and every one
    reported sent is there exactly once, with its file."""
    rng = random.Random(7)
    orders: list[str] = []
    for n in range(250):
        items = [
            (f"SKU-{n}-{k}", f"Article {k}", rng.randint(1, 3), f"{rng.randint(5, 90)}.{k}0")
            for k in range(rng.randint(1, 4))
        ]
        allowed = ["unexpectedProblem", "confirmCustomizationDetails"]
        orders.append(
            sim.add_order(status=rng.choice(["Unshipped", "Shipped"]), items=items, allowed=allowed)
        )
    sim.faults.rates.update(
        {
            "error500": 0.05,
            "rate_limit": 0.05,
            "timeout": 0.01,
            "lose_response": 0.05,
            "expired_token": 0.03,
            "duplicate_page": 0.15,
            "reorder_page": 0.15,
        }
    )
    sent: dict[str, str] = {}  # text -> "sent" | "unknown"
    for n, order_id in enumerate(orders):
        if n % 40 == 39:
            sim.expire_tokens()
        connector = AmazonConnector(amazon)  # one per task, as workers do
        data = _read_order(connector, order_id)
        assert data is not None
        store_order(amazon, data)
        text = f"Un souci sur la commande {order_id}, nous revenons vers vous."
        if n % 3:
            sent[text] = _send_once(connector, order_id, "unexpectedProblem", text)
        else:
            proof = OutboundAttachment(f"{order_id}.png", "image/png", order_id.encode())
            text = f"Voici la gravure de la commande {order_id}."
            sent[text] = _send_once(
                connector, order_id, "confirmCustomizationDetails", text, [proof]
            )
        connector.close()

    counts = Counter(m.text for m in sim.seller_messages())
    assert max(counts.values()) == 1
    assert all(counts[text] == 1 for text, state in sent.items() if state == "sent")
    assert set(counts) <= set(sent)
    assert len(sent) == len(orders)
    assert Counter(sent.values())["sent"] > 150
    with_files = [m for m in sim.seller_messages() if m.kind == "confirmCustomizationDetails"]
    assert len(with_files) > 40
    assert all(m.attachments == [(f"{m.order_id}.png", m.order_id.encode())] for m in with_files)
    # Every order is stored once, with its items despite repeated and shuffled pages.
    assert Order.objects.filter(channel=amazon).count() == len(orders)
    for order in Order.objects.filter(channel=amazon):
        expected = sim.orders[order.external_id]
        assert sorted((i["sku"], i["quantity"]) for i in order.items) == sorted(
            (i["SellerSKU"], i["QuantityOrdered"]) for i in expected.items
        )
        assert order.total == Decimal(expected.payload["OrderTotal"]["Amount"])
    injected = sim.faults.injected
    assert all(injected[kind] > 0 for kind in sim.faults.rates), injected
    assert sim.rate_limited == []  # the client kept within Amazon's usage plans
    assert sim.violations == []
    assert reload(amazon).is_healthy


def _read_order(connector: AmazonConnector, order_id: str) -> OrderData | None:
    """Reading is safe to repeat: transient failures are tried again."""
    for _ in range(20):
        try:
            return connector.fetch_order(order_id)
        except ConnectorError as exc:
            if exc.permanent:
                raise
    raise AssertionError(f"order {order_id} could not be read")


def _send_once(
    connector: AmazonConnector,
    order_id: str,
    kind: str,
    text: str,
    files: list[OutboundAttachment] | None = None,
) -> str:
    """Send again only what certainly did not go: "sent", or "unknown" when it may have."""
    for _ in range(20):
        try:
            connector.send_proactive(order_id, kind, text, files)
        except ConnectorError as exc:
            if exc.maybe_sent:
                return "unknown"  # never resent: a human checks Seller Central
            if exc.permanent:
                raise
        else:
            return "sent"
    raise AssertionError(f"the message on {order_id} could not be sent")
