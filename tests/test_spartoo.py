"""Spartoo: the orders and returns read from its XML web services (against the simulator, with
its errors, paging and hourly quota), the buyer's messages read from Spartoo's mail, the orders
linked to them, the returns opened as cases, and the order sync under faults; a return accepted
or refused from the case panel (`xml_maj_returns`), exactly once under faults."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import User
from comptoir.cases import operations
from comptoir.cases.models import Case, CaseOperation
from comptoir.cases.tasks import sync_claims
from comptoir.connectors.base import ConnectorError
from comptoir.connectors.email import mime
from comptoir.connectors.spartoo import connector as spartoo_connector
from comptoir.connectors.spartoo import wire
from comptoir.connectors.spartoo.connector import SpartooConnector
from comptoir.connectors.spartoo.simulator import SimLine, SpartooSimulator
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Message, Shop
from comptoir.inbox.tasks import poll_channel
from comptoir.orders.models import Order
from comptoir.orders.tasks import refresh_open_orders, sync_orders
from comptoir.sla.policies import policy_for
from tests.fault_support import record_sleeps, running
from tests.test_case_operations_cdiscount import deliver

FIXTURE = Path(__file__).parent / "fixtures" / "spartoo" / "message_fr.eml"
SYNC_ORDERS = "comptoir.orders.tasks.sync_orders"
SYNC_CLAIMS = "comptoir.cases.tasks.sync_claims"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return record_sleeps(monkeypatch)


@pytest.fixture
def sim() -> Iterator[SpartooSimulator]:
    simulator = SpartooSimulator(seed=7)
    simulator.faults.hang_seconds = 0.6
    with running(simulator, spartoo_connector.forget_clients):
        yield simulator


@pytest.fixture
def spartoo(shop: Shop, team: Any, sim: SpartooSimulator) -> Channel:
    channel = Channel(shop=shop, kind="spartoo", marketplace="spartoo", name="Spartoo", team=team)
    channel.set_settings(
        {"partner_token": sim.partner, "base_url": sim.base_url, "timeout_seconds": 0.4}
    )
    channel.save()
    return channel


@pytest.fixture
def mailbox(shop: Shop, team: Any) -> Channel:
    return Channel.objects.create(
        shop=shop, kind="email", marketplace="spartoo", name="Spartoo mailbox", team=team
    )


def configure(channel: Channel, **overrides: Any) -> None:
    channel.set_settings({**channel.get_settings(), **overrides})
    channel.save()


def connector(channel: Channel) -> SpartooConnector:
    channel.refresh_from_db()
    return SpartooConnector(channel)


def run_queued(path: str, task: Any) -> list[Any]:
    done = []
    for row in DBTaskResult.objects.filter(task_path=path).order_by("enqueued_at"):
        done.append(task.call(*row.args_kwargs["args"]))
        row.delete()
    return done


# -- the web services ----------------------------------------------------------------------------


def test_an_order_is_read_with_its_buyer_lines_status_and_tracking(
    sim: SpartooSimulator, spartoo: Channel
) -> None:
    order = sim.add_order(
        firstname="Chloé",
        lastname="Lambert",
        status=3,
        lines=[SimLine("KCK-39", "Bottines Kickers", size="39", quantity=2, price=wire_price())],
    )

    data = connector(spartoo).fetch_order(order.order_id)

    assert data is not None
    assert (data.external_id, data.status, data.total) == (order.order_id, "shipped", "139.80")
    assert (data.tracking_number, data.carrier) == (f"6A{order.order_id}", "Colissimo")
    assert data.buyer is not None
    assert (data.buyer.name, data.buyer.email) == ("Chloé Lambert", "chloe.lambert@example.fr")
    assert [(i.sku, i.title, i.quantity, i.unit_price) for i in data.items] == [
        ("KCK-39", "Bottines Kickers 39", 2, "69.90")
    ]
    assert data.ordered_at is not None
    assert data.ordered_at < datetime.now(UTC)
    assert connector(spartoo).fetch_order("99999999") is None  # unknown: not an error


def wire_price() -> Any:
    from decimal import Decimal

    return Decimal("69.90")


def test_a_wrong_or_deactivated_partner_stops_the_channel_and_says_why(
    sim: SpartooSimulator, spartoo: Channel
) -> None:
    configure(spartoo, partner_token="0000000000000000")
    with pytest.raises(ConnectorError) as wrong:
        connector(spartoo).test_connection()
    assert wrong.value.permanent
    assert "-2" in str(wrong.value)

    configure(spartoo, partner_token=sim.partner)
    sim.deactivated = True
    poll_channel.call(spartoo.pk)
    spartoo.refresh_from_db()
    assert not spartoo.is_healthy
    assert "-428" in spartoo.last_error


def test_past_the_hourly_quota_the_channel_waits_for_the_hour_to_turn(
    sim: SpartooSimulator, spartoo: Channel
) -> None:
    sim.hourly_quota = 1
    assert connector(spartoo).test_connection()
    with pytest.raises(ConnectorError) as refused:
        connector(spartoo).fetch_order("123456789")
    assert not refused.value.permanent
    assert refused.value.retry_after == wire.QUOTA_WAIT


def test_server_errors_and_429s_are_retried(
    sim: SpartooSimulator, spartoo: Channel, sleeps: list[float]
) -> None:
    order = sim.add_order()
    sim.faults.add("error500", path="xml_export_orders", times=2)
    sim.faults.add("rate_limit", path="xml_export_orders", retry_after=2)

    assert connector(spartoo).fetch_order(order.order_id) is not None
    assert sim.calls[f"POST /mp/{wire.EXPORT_ORDERS}"] == 4
    assert 2.0 in sleeps


# -- returns ------------------------------------------------------------------------------------


def test_returns_are_paged_past_the_cap_and_each_is_stored_once(
    sim: SpartooSimulator, spartoo: Channel
) -> None:
    sim.max_results = 3
    configure(spartoo, max_results=3)
    start = datetime.now(UTC) - timedelta(days=2)
    for n in range(8):
        order = sim.add_order()
        sim.open_return(order.order_id, created_at=start + timedelta(hours=n))
    sim.faults.add("duplicate_page", path="xml_export_returns")
    sim.faults.add("reorder_page", path="xml_export_returns")

    assert poll_channel.call(spartoo.pk) == 8
    assert poll_channel.call(spartoo.pk) == 0  # nothing new: the cursor moved on

    assert Message.objects.filter(channel=spartoo).count() == 8
    assert Conversation.objects.filter(channel=spartoo).count() == 8
    assert sim.calls[f"POST /mp/{wire.EXPORT_RETURNS}"] >= 4  # 8 returns, 3 a page


def test_a_return_opens_a_case_and_its_decision_resolves_it(
    sim: SpartooSimulator, spartoo: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    order = sim.add_order(firstname="Paul", lastname="Durand")
    found = sim.open_return(order.order_id, reason="Article défectueux")

    with django_capture_on_commit_callbacks(execute=True):
        poll_channel.call(spartoo.pk)
    assert run_queued(SYNC_CLAIMS, sync_claims) == [1]
    case = Case.objects.get()
    assert (case.claim_kind, case.external_id) == ("spartoo_return", f"return:{found.return_id}")
    assert case.stage == "open"
    conv = case.conversation
    assert (conv.order_number, conv.customer.name) == (order.order_id, "Paul Durand")
    assert "Article défectueux" in conv.messages.get().text

    sim.set_return_status(found.return_id, wire.RETURN_SENT)
    sim.set_return_status(found.return_id, wire.RETURN_ACCEPTED)
    with django_capture_on_commit_callbacks(execute=True):
        assert poll_channel.call(spartoo.pk) == 1  # asked again by its id: it is still open
    run_queued(SYNC_CLAIMS, sync_claims)
    case.refresh_from_db()
    assert (case.stage, case.marketplace_status) == ("resolved", "Retour accepté")
    assert Case.objects.count() == 1
    assert connector(spartoo).cursor["open_returns"] == []


def test_a_reply_on_the_spartoo_channel_is_refused_with_where_to_answer(
    spartoo: Channel,
) -> None:
    from comptoir.connectors.base import OutboundMessage

    with pytest.raises(ConnectorError) as refused:
        connector(spartoo).send(
            OutboundMessage(
                message_id=1,
                idempotency_key="k",
                conversation_thread_id="order:1",
                to="",
                subject="",
                text="Bonjour",
            )
        )
    assert refused.value.about_message
    assert "mailbox" in str(refused.value)


# -- buyer messages by mail -----------------------------------------------------------------------


def test_spartoos_mail_is_the_buyers_message_with_the_order_and_the_relay_address() -> None:
    msg = mime.parse(FIXTURE.read_bytes(), channel_id=1)

    assert msg.order_number == "18452097"
    assert (msg.sender.identity_kind, msg.sender.name) == ("email", "Chloé Lambert")
    assert msg.sender.email == "msg-7f3k29qd81@messagerie.spartoo.fr"  # where the reply goes
    assert msg.text.startswith("Bonjour,\nJ'ai reçu les bottines Kickers")
    assert "Spartoo Marketplace" not in msg.text
    assert "Pour répondre" not in msg.text
    assert not msg.is_auto  # Spartoo's mailer marks it automatic: the buyer's words are not
    assert msg.meta["relay"] == "spartoo"
    assert "spartoo" in msg.tags


def test_without_a_relay_address_the_buyer_is_known_by_the_order_and_answered_on_spartoo() -> None:
    raw = FIXTURE.read_bytes().replace(
        b'Reply-To: "Chlo\xc3\xa9 Lambert via Spartoo" <msg-7f3k29qd81@messagerie.spartoo.fr>\n',
        b"Reply-To: no-reply@spartoo.com\n",
    )
    msg = mime.parse(raw, channel_id=1)

    assert (msg.sender.identity_kind, msg.sender.identity_value) == ("spartoo_order", "18452097")
    assert msg.sender.email == ""  # Spartoo's own address would merge every buyer into one
    assert msg.meta["reply_via"] == "spartoo_back_office"


def test_spartoos_other_mail_and_other_senders_are_left_alone() -> None:
    raw = FIXTURE.read_bytes().replace(b"Message du client :", b"Votre commande :")
    assert mime.parse(raw, channel_id=1).sender.email == "marketplace@spartoo.com"
    raw = FIXTURE.read_bytes().replace(b"marketplace@spartoo.com", b"chloe@example.fr")
    assert mime.parse(raw, channel_id=1).sender.email == "chloe@example.fr"


def test_the_mails_order_is_read_by_the_shops_spartoo_channel_and_linked(
    sim: SpartooSimulator,
    spartoo: Channel,
    mailbox: Channel,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sim.add_order(order_id="18452097", firstname="Chloé", lastname="Lambert", status=3)

    with django_capture_on_commit_callbacks(execute=True):
        ingest(mime.parse(FIXTURE.read_bytes(), channel_id=mailbox.pk))
    assert run_queued(SYNC_ORDERS, sync_orders) == ["1 stored, 0 unknown to the marketplace"]

    conv = Conversation.objects.get(channel=mailbox)
    assert conv.order is not None
    assert conv.order.channel_id == spartoo.pk
    assert (conv.order.external_id, conv.order.status) == ("18452097", "shipped")
    assert conv.customer.name == "Chloé Lambert"
    assert conv.needs_reply


def test_the_default_response_time_is_48_hours_and_says_it_is_a_guess(mailbox: Channel) -> None:
    policy = policy_for(mailbox.pk)
    assert policy.first_response == timedelta(hours=48)
    assert "guess" in str(policy.source)


# -- faults ---------------------------------------------------------------------------------------


def test_order_sync_under_faults_loses_nothing_and_stores_nothing_twice(
    sim: SpartooSimulator, spartoo: Channel, mailbox: Channel
) -> None:
    numbers = [sim.add_order(status=3).order_id for _ in range(30)]
    Conversation.objects.bulk_create(
        Conversation(
            shop=mailbox.shop, channel=mailbox, team=mailbox.team, subject=n, order_number=n
        )
        for n in numbers
    )
    sim.faults.rates.update({"error500": 0.2, "rate_limit": 0.1, "lose_response": 0.05})
    sim.faults.rates["timeout"] = 0.03
    sim.faults.add("duplicate_page", path="xml_export_orders", times=5)

    for _ in range(6):  # each refresh reads again what the faults kept from it
        refresh_open_orders.call()
        run_queued(SYNC_ORDERS, sync_orders)
        Channel.objects.filter(pk=spartoo.pk).update(
            poll_after=None, failure_count=0, is_healthy=True
        )
        if not Conversation.objects.filter(channel=mailbox, order=None).exists():
            break

    assert sum(sim.faults.injected.values()) > 0
    stored = Counter(Order.objects.values_list("external_id", flat=True))
    assert sorted(stored) == sorted(numbers)  # 0 lost
    assert max(stored.values()) == 1  # 0 duplicated
    assert not Conversation.objects.filter(channel=mailbox, order=None).exists()


def test_returns_polled_under_faults_are_all_stored_once(
    sim: SpartooSimulator, spartoo: Channel
) -> None:
    sim.max_results = 4
    configure(spartoo, max_results=4)
    start = datetime.now(UTC) - timedelta(days=3)
    for n in range(20):
        order = sim.add_order()
        sim.open_return(order.order_id, created_at=start + timedelta(hours=n))
    sim.faults.rates.update({"error500": 0.2, "rate_limit": 0.1, "duplicate_page": 0.2})
    sim.faults.rates["reorder_page"] = 0.2

    for _ in range(8):
        with_error = False
        try:
            poll_channel.call(spartoo.pk)
        except ConnectorError:
            with_error = True
        Channel.objects.filter(pk=spartoo.pk).update(
            poll_after=None, failure_count=0, is_healthy=True
        )
        if Message.objects.filter(channel=spartoo).count() == 20 and not with_error:
            break

    ids = Counter(Message.objects.filter(channel=spartoo).values_list("external_id", flat=True))
    assert len(ids) == 20
    assert max(ids.values()) == 1
    assert sum(sim.faults.injected.values()) > 0


def test_the_demos_spartoo_brings_its_returns_in_as_cases(
    shop: Shop, team: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from comptoir.connectors.demo import demo_for

    channel = Channel.objects.create(
        shop=shop, kind="spartoo", marketplace="spartoo", name="Spartoo", team=team
    )
    market = demo_for(channel, seed=3)
    assert market is not None
    market.simulator.start()
    try:
        channel.set_settings(market.settings())
        channel.save()
        with django_capture_on_commit_callbacks(execute=True):
            assert poll_channel.call(channel.pk) == 3
        assert run_queued(SYNC_CLAIMS, sync_claims) == [3]
        # Any order a mail names exists there.
        assert connector(channel).fetch_order("12345678") is not None
    finally:
        market.simulator.stop()
    assert Case.objects.filter(claim_kind="spartoo_return").count() == 3
    assert market.simulator.violations == []


# -- deciding a return from the case panel ------------------------------------------------------


def return_case(
    sim: SpartooSimulator, channel: Channel, capture: Any, status: int = wire.RETURN_SENT
) -> tuple[Case, str]:
    order = sim.add_order(firstname="Paul", lastname="Durand")
    found = sim.open_return(order.order_id, reason="Taille trop petite")
    sim.set_return_status(found.return_id, status)
    with capture(execute=True):
        poll_channel.call(channel.pk)
    run_queued(SYNC_CLAIMS, sync_claims)
    return Case.objects.get(), found.return_id


@pytest.mark.parametrize("fault", ["lose_response", "error500_after", "timeout", "rate_limit"])
def test_an_acceptance_reaches_spartoo_once_whatever_the_fault(
    sim: SpartooSimulator,
    spartoo: Channel,
    agent: User,
    django_capture_on_commit_callbacks: Any,
    fault: str,
) -> None:
    case, return_id = return_case(sim, spartoo, django_capture_on_commit_callbacks)
    assert operations.supported(case) == {"accept_return", "refuse_return"}
    step = operations.decide_return(case, accept=True, actor=agent)
    case.refresh_from_db()
    assert case.stage == "open"  # not before Spartoo says so
    sim.faults.retry_after = 0.01
    sim.faults.add(fault, method="POST", path=f"/mp/{wire.UPDATE_RETURN}")

    outcomes = deliver(step)

    assert outcomes[-1] == "sent"
    if fault != "rate_limit":
        assert len(outcomes) > 1  # the first answer was lost or refused: looked, then done
    assert sim.updates == [(return_id, wire.RETURN_ACCEPTED)]  # 0 duplicated
    step.refresh_from_db()
    assert (step.delivery_state, step.external_id) == ("sent", f"return:{return_id}:4")
    case.refresh_from_db()
    assert case.stage == "resolved"
    assert sim.violations == []


def test_a_refusal_needs_its_reason_and_resolves_the_case_with_it(
    sim: SpartooSimulator, spartoo: Channel, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    case, return_id = return_case(sim, spartoo, django_capture_on_commit_callbacks)
    with pytest.raises(ValidationError, match="why"):
        operations.decide_return(case, accept=False, reason="  ", actor=agent)
    step = operations.decide_return(case, accept=False, reason="Article porté", actor=agent)
    # The other decision cannot stand beside it.
    with pytest.raises(ValidationError, match="other way"):
        operations.decide_return(case, accept=True, actor=agent)

    assert deliver(step) == ["sent"]

    assert sim.updates == [(return_id, wire.RETURN_REFUSED)]
    case.refresh_from_db()
    assert (case.stage, case.outcome, case.rejection_reason) == (
        "resolved",
        "rejected",
        "Article porté",
    )


def test_spartoos_refusal_is_shown_on_the_step_and_the_case_stays_open(
    sim: SpartooSimulator, spartoo: Channel, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    # Requested, not sent back yet: Spartoo refuses a refusal (-7, out of order).
    case, _ = return_case(
        sim, spartoo, django_capture_on_commit_callbacks, status=wire.RETURN_REQUESTED
    )
    step = operations.decide_return(case, accept=False, reason="Hors délai", actor=agent)

    assert deliver(step) == ["failed"]

    step.refresh_from_db()
    assert step.delivery_state == "failed"
    assert "-7" in step.error
    assert "Retour demandé" in step.error  # what the return is now, in Spartoo's words
    assert sim.updates == []
    case.refresh_from_db()
    assert (case.stage, case.outcome) == ("open", "")
    assert Channel.objects.get(pk=spartoo.pk).is_healthy
    # The buttons stay for another decision; the failed step can be retried.
    operations.retry_operation(step, actor=agent)
    assert CaseOperation.objects.get(pk=step.pk).delivery_state == "queued"


def test_the_case_panel_offers_the_decision_and_queues_it(
    sim: SpartooSimulator,
    spartoo: Channel,
    agent: User,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    case, _ = return_case(sim, spartoo, django_capture_on_commit_callbacks)
    client.force_login(agent)
    page = client.get(reverse("inbox:conversation", args=[case.conversation_id])).content.decode()
    assert "Accept the return on Spartoo" in page
    assert 'name="reason"' in page

    url = reverse("cases:return_decision", args=[case.pk])
    refused = client.post(url, {"decision": "refuse", "reason": ""})
    assert refused.status_code == 400
    assert "Say why the return is refused." in refused.content.decode()

    done = client.post(url, {"decision": "accept"})
    assert done.status_code == 302
    assert CaseOperation.objects.get(case=case).kind == "accept_return"
    page = client.get(reverse("inbox:conversation", args=[case.conversation_id])).content.decode()
    assert "Accept the return on Spartoo" not in page  # decided: the step is shown instead
    assert "Return accepted" in page
