"""A Fnac claim refunded through `incidents_update` against the simulator (which checks every
request against Fnac's XSDs), faults on: Fnac refunds the incident exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from comptoir.accounts.models import Team, User
from comptoir.cases import operations
from comptoir.cases.models import Case
from comptoir.connectors.fnac import connector as fnac_connector
from comptoir.connectors.fnac import dialect
from comptoir.connectors.fnac.connector import FnacConnector
from comptoir.connectors.fnac.simulator import FnacSimulator
from comptoir.inbox.models import Channel, Shop
from comptoir.lib import http
from comptoir.orders.actions import store_order
from tests.conftest import require_specs
from tests.test_case_claims_ebay import poll
from tests.test_case_operations_cdiscount import deliver


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[FnacSimulator]:
    require_specs(*(f"fnac/{name}" for name in (*dialect.SERVICES.values(), "base.xsd")))
    monkeypatch.setattr(http, "sleep", lambda seconds: None)
    fnac_connector.forget_tokens()
    simulator = FnacSimulator(seed=11)
    simulator.faults.hang_seconds = 1.4  # longer than the client's timeout
    simulator.faults.retry_after = 0.01
    simulator.start()
    yield simulator
    simulator.stop()
    fnac_connector.forget_tokens()
    assert simulator.violations == []
    assert simulator.answer_problems == []


@pytest.fixture
def fnac(shop: Shop, team: Team, sim: FnacSimulator) -> Channel:
    channel = Channel(shop=shop, kind="fnac", marketplace="fnac", name="Fnac", team=team)
    channel.set_settings(
        {
            "partner_id": sim.partner_id,
            "shop_id": sim.shop_id,
            "key": sim.key,
            "base_url": sim.base_url,
            "timeout_seconds": 1.0,
        }
    )
    channel.save()
    return channel


def claim_case(sim: FnacSimulator, fnac: Channel, capture: Any) -> tuple[Case, str]:
    order = sim.add_order()
    data = FnacConnector(fnac).fetch_order(order)
    assert data is not None
    store_order(fnac, data)
    incident = sim.open_incident(order, claim_type=1, message="Colis jamais arrivé")
    poll(fnac, capture)
    return Case.objects.get(external_id=f"incident:{incident}"), incident


@pytest.mark.parametrize("fault", ["lose_response", "error500_after", "timeout", "rate_limit"])
def test_a_claim_is_refunded_once_on_fnac_whatever_the_fault(
    sim: FnacSimulator,
    fnac: Channel,
    agent: User,
    django_capture_on_commit_callbacks: Any,
    fault: str,
) -> None:
    case, incident = claim_case(sim, fnac, django_capture_on_commit_callbacks)
    assert operations.supported(case) == {"refund"}
    refund = operations.refund_claim(case, amount=None, actor=agent)
    assert refund.payload["full"] is True
    sim.faults.add(fault, path="/incidents_update")

    outcomes = deliver(refund)

    refund.refresh_from_db()
    assert outcomes[-1] == "sent", refund.error
    assert sim.incident_refunds == [incident]
    # Found after the lost answer rather than refunded again.
    assert sim.calls["POST /api.php/incidents_update"] <= 2
    case.refresh_from_db()
    assert case.outcome == "full_refund"


def test_fnac_takes_no_partial_refund_and_the_step_says_why(
    sim: FnacSimulator, fnac: Channel, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    case, _incident = claim_case(sim, fnac, django_capture_on_commit_callbacks)
    assert case.order is not None
    assert case.order.total is not None
    refund = operations.refund_claim(case, amount="1", actor=agent)

    assert deliver(refund) == ["failed"]

    refund.refresh_from_db()
    assert "whole order lines" in refund.error
    assert sim.incident_refunds == []
    assert sim.calls["POST /api.php/incidents_update"] == 0
