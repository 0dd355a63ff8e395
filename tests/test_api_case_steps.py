"""A case's steps on the marketplace through the API (answer, refund, close the claim, list the
steps, retry a failed one, close the case), against the Cdiscount simulator: the same
operations as the case panel, the same rules (404 for another team, 403 for read-only)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from comptoir.accounts.models import APIToken, User
from comptoir.cases import actions
from comptoir.cases.models import Case, CaseOperation
from comptoir.connectors.cdiscount.simulator import CdiscountSimulator
from comptoir.inbox.models import Channel
from tests.test_case_claims_ebay import poll
from tests.test_case_operations_cdiscount import channel, sim  # noqa: F401

API = "/api/v1"
pytestmark = pytest.mark.django_db


def call(client: Client, url: str, user: User, body: Any = None, method: str = "post") -> Any:
    _token, raw = APIToken.issue(user, "tests")
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(
        API + url, data, content_type="application/json", headers={"Authorization": f"Bearer {raw}"}
    )


@pytest.fixture
def case(
    sim: CdiscountSimulator,  # noqa: F811
    channel: Channel,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> Case:
    sim.buyer_writes(
        order_id="2311230001XYZ", text="Colis jamais reçu.", claim_type="PackageNotReceived"
    )
    poll(channel, django_capture_on_commit_callbacks)
    return Case.objects.get()


def test_a_claim_is_answered_retried_and_closed_through_the_api(
    client: Client, case: Case, agent: User, outsider: User, analyst: User
) -> None:
    url = f"/cases/{case.pk}"
    assert call(client, f"{url}/answer", outsider, {"text": "x"}).status_code == 404
    assert call(client, f"{url}/answer", analyst, {"text": "x"}).status_code == 403
    answered = call(client, f"{url}/answer", agent, {"text": "Nous relançons le transporteur."})
    assert answered.status_code == 201, answered.content
    step = answered.json()
    assert (step["kind"], step["delivery_state"], step["text"]) == (
        "respond",
        "queued",
        "Nous relançons le transporteur.",
    )
    # Octopia takes no refund: said, nothing queued.
    assert call(client, f"{url}/refund", agent, {"amount": "10"}).status_code == 422
    assert call(client, f"{url}/answer", agent, {"text": "  "}).status_code == 422
    # A step that failed is sent again; one that did not is refused.
    retry = f"/cases/steps/{step['id']}/retry"
    assert call(client, retry, agent).status_code == 422
    CaseOperation.objects.filter(pk=step["id"]).update(delivery_state="failed", error="timeout")
    assert call(client, retry, outsider).status_code == 404
    again = call(client, retry, agent)
    assert (again.status_code, again.json()["delivery_state"], again.json()["error"]) == (
        200,
        "queued",
        "",
    )
    # An analyst reads the steps' figures, not what they say to the buyer.
    read = call(client, f"{url}/steps", analyst, method="get").json()
    assert [(s["kind"], s["text"]) for s in read] == [("respond", None)]
    closed = call(client, f"{url}/close-claim", agent, {"text": ""})
    assert closed.status_code == 200, closed.content
    assert closed.json()["stage"] == "resolved"
    steps = call(client, f"{url}/steps", agent, method="get").json()
    assert [s["kind"] for s in steps] == ["respond", "close"]
    assert call(client, f"{url}/answer", agent, {"text": "late"}).status_code == 422


def test_a_case_is_closed_here_only_through_the_api(
    client: Client, case: Case, agent: User
) -> None:
    other = actions.open_case(case.conversation, kind="return", actor=agent)
    closed = call(client, f"/cases/{other.pk}/close", agent)
    assert closed.status_code == 200, closed.content
    assert closed.json()["stage"] == "resolved"
    assert not CaseOperation.objects.filter(case=other).exists()
