"""A Cdiscount claim's whole life against the Octopia simulator, faults on: the buyer opens it,
the seller answers and closes it, each exactly once on Cdiscount."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from comptoir.accounts.models import Team, User
from comptoir.cases import operations
from comptoir.cases.models import Case, CaseOperation
from comptoir.cases.sync_out import send_case_operation
from comptoir.connectors.cdiscount import connector as cdiscount
from comptoir.connectors.cdiscount.simulator import CdiscountSimulator
from comptoir.inbox.models import Channel, Event, Shop
from comptoir.lib import http
from tests.test_case_claims_ebay import poll
from tests.test_case_operations_ebay import settle_time_passes

ORDER = "2311230001XYZ"


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[CdiscountSimulator]:
    monkeypatch.setattr(http, "sleep", lambda seconds: None)
    monkeypatch.setattr(cdiscount, "_tokens", {})
    simulator = CdiscountSimulator(seed=7)
    simulator.faults.hang_seconds = 1.4  # longer than the client's timeout
    simulator.faults.retry_after = 0.01
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def channel(shop: Shop, team: Team, sim: CdiscountSimulator) -> Channel:
    channel = Channel(
        shop=shop, kind="cdiscount", marketplace="cdiscount", name="Cdiscount", team=team
    )
    channel.set_settings(
        {
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "seller_id": sim.seller_id,
            "base_url": f"{sim.url}/seller/v2",
            "auth_url": sim.url,
            "timeout_seconds": 1.0,
        }
    )
    channel.save()
    return channel


def seller_texts(sim: CdiscountSimulator) -> list[str]:
    return [
        m.body for d in sim.discussions.values() for m in d.messages if m.sender_type == "Seller"
    ]


def deliver(op: CaseOperation) -> list[str]:
    """Run the step's task as the queue would, until it is sent or fails for good: a failed
    attempt is retried as the next one, a "looking" one again once the settle time passed."""
    outcomes: list[str] = []
    attempt = 1
    while len(outcomes) < 10:
        outcome = send_case_operation.call(op.pk, attempt=attempt).split(":")[0]
        outcomes.append(outcome)
        op.refresh_from_db()
        if op.delivery_state != "queued":  # sent, or failed for good
            break
        if outcome == "looking":
            settle_time_passes()
        else:
            attempt += 1
    return outcomes


def test_a_claim_is_answered_and_closed_once_on_cdiscount_though_answers_are_lost(
    sim: CdiscountSimulator, channel: Channel, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    sim.buyer_writes(order_id=ORDER, text="Colis jamais reçu.", claim_type="PackageNotReceived")
    poll(channel, django_capture_on_commit_callbacks)
    case = Case.objects.get()
    discussion_id = case.external_id.removeprefix("discussion:")
    assert operations.supported(case) == {"respond", "close"}
    with pytest.raises(ValidationError):  # Octopia takes no refund
        operations.refund_claim(case, amount="10", actor=agent)

    answer = operations.answer_claim(case, text="Nous relançons le transporteur.", actor=agent)
    sim.faults.add("lose_response", path="/messages")
    sim.faults.add("rate_limit", path="/messages")
    assert send_case_operation.call(answer.pk).startswith("failed")
    assert send_case_operation.call(answer.pk, attempt=2) == "sent"

    closing = operations.close_claim(case, actor=agent)
    assert closing is not None
    sim.faults.add("error500", path="/close")
    sim.faults.add("timeout", path="/close")
    sim.faults.add("lose_response", path="/close")
    assert deliver(closing) == ["failed", "looking", "failed", "looking", "failed", "sent"]

    assert seller_texts(sim) == ["Nous relançons le transporteur."]
    assert sim.discussions[discussion_id].is_open is False
    closing.refresh_from_db()
    assert closing.delivery_state == "sent"
    case.refresh_from_db()
    assert case.stage == "resolved"
    # Found closed after the lost answer: never closed a second time.
    assert sim.faults.injected["lose_response"] == 2
    assert sim.closed_by_seller == [discussion_id]
    lines = list(
        Event.objects.filter(data__change__startswith="operation_")
        .order_by("pk")
        .values_list("data__change", "data__operation", "actor")
    )
    assert lines == [
        ("operation_queued", "respond", agent.pk),
        ("operation_sent", "respond", None),
        ("operation_queued", "close", agent.pk),
        ("operation_sent", "close", None),
    ]
    assert sim.violations == []


def test_a_case_opened_by_the_seller_closes_here_only(
    sim: CdiscountSimulator, channel: Channel, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    sim.buyer_writes(order_id=ORDER, text="Où en est ma commande ?")
    poll(channel, django_capture_on_commit_callbacks)
    conv = channel.conversations.get()
    from comptoir.cases.actions import open_case

    case = open_case(conv, kind="not_received", actor=agent)

    assert operations.supported(case) == frozenset()
    assert operations.close_claim(case, actor=agent) is None
    case.refresh_from_db()
    assert case.stage == "resolved"
    assert CaseOperation.objects.count() == 0
    assert sim.closed_by_seller == []
