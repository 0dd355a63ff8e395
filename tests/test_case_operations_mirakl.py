"""A case's refund through Mirakl's order refund call (OR28) against the simulator, faults on:
the operator records exactly one refund."""

from __future__ import annotations

from typing import Any

import pytest

from comptoir.accounts.models import User
from comptoir.cases import operations
from comptoir.cases.actions import open_case
from comptoir.cases.models import Case
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox.models import Channel, Conversation
from comptoir.inbox.tasks import poll_channel
from tests.test_case_operations_cdiscount import deliver

ORDER = "DARTY-1001"


def refund_case(sim: MiraklSimulator, channel: Channel, agent: User) -> Case:
    sim.add_order(
        ORDER,
        lines=[
            {"offer_sku": "LAMP", "product_title": "Lampe", "quantity": 1, "price": 30.0},
            {"offer_sku": "BULB", "product_title": "Ampoule", "quantity": 2, "price": 12.0},
        ],
    )
    sim.buyer_writes("La lampe est arrivée cassée.", order_id=ORDER)
    poll_channel.call(channel.pk)
    conv = Conversation.objects.get(channel=channel)
    assert conv.order_number == ORDER
    return open_case(conv, kind="damaged", actor=agent)


@pytest.mark.parametrize("fault", ["lose_response", "error500_after", "timeout", "rate_limit"])
def test_a_refund_reaches_mirakl_once_whatever_the_fault(
    sim: MiraklSimulator,
    darty: Channel,
    agent: User,
    fault: str,
) -> None:
    case = refund_case(sim, darty, agent)
    assert operations.supported(case) == {"refund"}
    refund = operations.refund_claim(case, amount="35", actor=agent, currency="EUR")
    sim.faults.hang_seconds = 2.5  # longer than the channel's 2 s timeout
    sim.faults.retry_after = 0.01
    sim.faults.add(fault, method="PUT", path="/api/orders/refund")

    outcomes = deliver(refund)

    assert outcomes[-1] == "sent"
    if fault == "rate_limit":
        assert outcomes == ["sent"]  # the client waited and asked again
    # 30 on the lamp, 5 on the bulbs: once.
    assert [(r.order_line_id, r.amount, r.reason_code) for r in sim.refunds] == [
        (f"{ORDER}-1", "30.0", "15"),
        (f"{ORDER}-2", "5.0", "15"),
    ]
    refund.refresh_from_db()
    assert refund.delivery_state == "sent"
    assert refund.external_id.count(",") == 1
    case.refresh_from_db()
    assert (case.outcome, str(case.refund_amount)) == ("partial_refund", "35.00")
    assert sim.violations == []


def test_mirakl_refuses_more_than_is_left_and_the_step_says_so(
    sim: MiraklSimulator,
    darty: Channel,
    agent: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    case = refund_case(sim, darty, agent)
    refund = operations.refund_claim(case, amount="60", actor=agent)

    assert deliver(refund) == ["failed"]

    refund.refresh_from_db()
    assert refund.delivery_state == "failed"
    assert "more than is left to refund" in refund.error
    assert sim.refunds == []
    assert Channel.objects.get(pk=darty.pk).is_healthy
