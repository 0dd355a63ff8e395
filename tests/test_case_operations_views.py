"""The case panel's forms that tell the marketplace, through the web: the inbox's permission
rule (404 for a conversation the user cannot see, 403 for one who only reads), and the
refusals shown with their reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from comptoir.accounts.models import Team, User
from comptoir.cases.actions import Claim, open_or_update_claim
from comptoir.cases.models import Case, CaseOperation
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Shop


@pytest.fixture
def claim(shop: Shop, team: Team, make_inbound: Any) -> Case:
    """An eBay return (no network: nothing is sent while the test's transaction is open)."""
    ebay = Channel.objects.create(
        shop=shop, kind="ebay", marketplace="ebay", name="eBay", team=team
    )
    result = ingest(make_inbound(channel_id=ebay.pk, thread_id="return:5001"))
    conv = Conversation.objects.get(pk=result.conversation_id)
    case, _ = open_or_update_claim(
        conv,
        Claim(external_id="return:5001", claim_kind="ebay_return", kind="return"),
        via="test",
    )
    Case.objects.filter(pk=case.pk).update(claimed_amount="49.90", currency="EUR")
    return case


def post(client: Client, user: User, url: str, **data: str) -> Any:
    client.force_login(user)
    return client.post(url, data)


@pytest.mark.parametrize(("who", "status"), [("outsider", 404), ("analyst", 403)])
def test_who_may_not_change_the_conversation_sends_nothing(
    client: Client, claim: Case, request: pytest.FixtureRequest, who: str, status: int
) -> None:
    user = request.getfixturevalue(who)
    for step, data in (("answer", {"text": "Bonjour"}), ("refund", {"amount": "10"})):
        response = post(client, user, f"/cases/{claim.pk}/{step}/", **data)
        assert response.status_code == status
    assert CaseOperation.objects.count() == 0


def test_an_agent_refunds_once_and_a_second_refund_is_refused_with_its_reason(
    client: Client, claim: Case, agent: User
) -> None:
    first = post(client, agent, f"/cases/{claim.pk}/refund/", amount="", currency="EUR")
    assert first.status_code == 302
    second = post(client, agent, f"/cases/{claim.pk}/refund/", amount="5")
    assert second.status_code == 400
    assert "already sent to the marketplace" in second.content.decode()
    op = CaseOperation.objects.get()
    assert (op.kind, op.payload["amount"], op.payload["full"]) == ("refund", "49.90", True)
    # A step that has not failed cannot be retried; the case closes here only (no close
    # step on eBay).
    assert post(client, agent, f"/cases/steps/{op.pk}/retry/").status_code == 400
    assert post(client, agent, f"/cases/{claim.pk}/close-claim/").status_code == 302
    claim.refresh_from_db()
    assert claim.stage == "resolved"
    assert CaseOperation.objects.count() == 1
