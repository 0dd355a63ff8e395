"""Cases: the actions and the timeline lines they write, who may change a case, the rule that
opens one, and the claims a connector stores opening (once) or updating their case."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.accounts.permissions import NotVisible
from comptoir.cases import actions, claims
from comptoir.cases.models import Case, OpenedBy, Stage
from comptoir.inbox.display import describe_events
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Event
from comptoir.orders.models import Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def conv(make_inbound: Any) -> Conversation:
    result = ingest(make_inbound(text="Le vase est arrivé cassé.", order_number="171-1"))
    return Conversation.objects.get(pk=result.conversation_id)


def timeline(conv: Conversation) -> list[str]:
    events = list(Event.objects.filter(conversation=conv, kind__startswith="case_").order_by("pk"))
    describe_events(events)
    return [e.summary for e in events]  # type: ignore[attr-defined]


def test_a_case_lives_through_its_actions_and_each_step_is_on_the_timeline(
    conv: Conversation, agent: User
) -> None:
    case = actions.open_case(conv, kind="damaged", actor=agent)
    assert (case.stage, case.opened_by, case.opened_by_user) == ("open", "agent", agent)
    assert case.channel_id == conv.channel_id

    actions.set_stage(case, stage="waiting_carrier", actor=agent)
    due = timezone.now() + timedelta(days=2)
    actions.set_deadline(case, deadline=due, actor=agent)
    actions.record_outcome(case, outcome="partial_refund", amount="25", actor=agent)
    actions.close(case, actor=agent)

    case.refresh_from_db()
    assert case.stage == Stage.RESOLVED
    assert case.resolved_at is not None
    assert (case.outcome, case.refund_amount, case.currency) == (
        "partial_refund",
        Decimal("25.00"),
        "EUR",
    )
    assert case.deadline == due
    assert timeline(conv) == [
        "Case opened: damaged or defective item",
        "Case: waiting on the carrier",
        "Case deadline set",
        "Refund of 25.00 EUR recorded",
        "Case closed",
    ]
    assert set(Event.objects.filter(kind__startswith="case_").values_list("actor", flat=True)) == {
        agent.pk
    }


def test_the_timeline_speaks_french(conv: Conversation, agent: User) -> None:
    from django.utils import translation

    case = actions.open_case(conv, kind="not_received", actor=agent)
    actions.record_outcome(case, outcome="rejected", reason="Colis livré", actor=agent)
    with translation.override("fr"):
        assert timeline(conv) == [
            "Dossier ouvert : article non reçu",
            "Dossier refusé : Colis livré",
        ]


def test_a_full_refund_without_amount_refunds_the_order_total(
    conv: Conversation, agent: User
) -> None:
    order = Order.objects.create(
        shop=conv.shop,
        channel=conv.channel,
        external_id="171-1",
        total=Decimal("49.90"),
        currency="GBP",
    )
    Conversation.objects.filter(pk=conv.pk).update(order=order)
    conv.refresh_from_db()
    case = actions.open_case(conv, kind="refund", actor=agent)
    assert case.order_id == order.pk

    actions.record_outcome(case, outcome="full_refund", actor=agent)

    assert (case.refund_amount, case.currency) == (Decimal("49.90"), "GBP")
    assert timeline(conv)[-1] == "Refund of 49.90 GBP recorded"


def test_wrong_values_are_refused(conv: Conversation, agent: User) -> None:
    with pytest.raises(ValidationError):
        actions.open_case(conv, kind="lost_in_space", actor=agent)
    case = actions.open_case(conv, kind="return", actor=agent)
    with pytest.raises(ValidationError):
        actions.set_stage(case, stage="limbo", actor=agent)
    with pytest.raises(ValidationError):
        actions.record_outcome(case, outcome="partial_refund", actor=agent)
    with pytest.raises(ValidationError):
        actions.record_outcome(case, outcome="partial_refund", amount="-3", actor=agent)
    with pytest.raises(ValidationError):
        actions.record_outcome(case, outcome="rejected", actor=agent)
    with pytest.raises(ValidationError):
        actions.record_outcome(case, outcome="full_refund", amount="9", currency="E", actor=agent)
    assert timeline(conv) == ["Case opened: return"]


def test_one_open_case_of_a_kind_per_conversation(conv: Conversation, agent: User) -> None:
    first = actions.open_case(conv, kind="return", actor=agent)
    assert actions.open_case(conv, kind="return", actor=agent).pk == first.pk
    other = actions.open_case(conv, kind="refund", actor=agent)
    assert other.pk != first.pk
    actions.close(first, actor=agent)
    assert actions.open_case(conv, kind="return", actor=agent).pk not in (first.pk, other.pk)


def test_leaving_resolved_reopens_the_case(conv: Conversation, agent: User) -> None:
    case = actions.open_case(conv, kind="return", actor=agent)
    actions.set_stage(case, stage="resolved", actor=agent)
    assert case.resolved_at is not None
    actions.set_stage(case, stage="waiting_buyer", actor=agent)
    assert (case.stage, case.resolved_at) == ("waiting_buyer", None)


def test_only_who_may_change_the_conversation_changes_its_cases(
    conv: Conversation, agent: User, outsider: User, analyst: User
) -> None:
    with pytest.raises(NotVisible):
        actions.open_case(conv, kind="return", actor=outsider)
    with pytest.raises(PermissionDenied):
        actions.open_case(conv, kind="return", actor=analyst)
    case = actions.open_case(conv, kind="return", actor=agent)
    with pytest.raises(NotVisible):
        actions.close(case, actor=outsider)
    with pytest.raises(PermissionDenied):
        actions.record_outcome(case, outcome="replacement", actor=analyst)
    assert Case.objects.get().stage == "open"


# -- claims the marketplace opened ---------------------------------------------------------------


def ebay_meta(status: str = "RETURN_REQUESTED", respond_by: str = "") -> dict[str, Any]:
    case: dict[str, Any] = {
        "type": "return",
        "id": "5001",
        "status": status,
        "reason": "DEFECTIVE_ITEM",
        "opened_at": "2026-12-01T10:00:00Z",
        "amount": {"value": "49.9", "currency": "EUR"},
    }
    if respond_by:
        case["respond_by"] = respond_by
    return {"ebay_case": case}


def test_a_claim_opens_its_case_once_and_later_reads_update_it(
    conv: Conversation,
) -> None:
    message = conv.messages.get()
    claim = claims.claim_of(message, ebay_meta(respond_by="2026-12-04T10:00:00Z"))
    assert claim is not None
    assert (claim.external_id, claim.claim_kind, claim.kind) == (
        "return:5001",
        "ebay_return",
        "damaged",
    )
    case, opened = actions.open_or_update_claim(conv, claim, via="connector:ebay")
    assert opened
    assert (case.opened_by, case.claimed_amount, case.currency) == (
        OpenedBy.MARKETPLACE,
        Decimal("49.90"),
        "EUR",
    )
    again, opened = actions.open_or_update_claim(conv, claim, via="connector:ebay")
    assert (again.pk, opened) == (case.pk, False)

    closed = claims.claim_of(message, ebay_meta(status="CLOSED"))
    assert closed is not None
    actions.open_or_update_claim(conv, closed, via="connector:ebay")
    case.refresh_from_db()
    assert (case.stage, case.marketplace_status) == ("resolved", "CLOSED")
    assert Case.objects.count() == 1
    assert timeline(conv) == ["Case opened: eBay return", "Case closed"]


def test_the_same_claim_id_on_another_channel_is_another_case(
    conv: Conversation, make_inbound: Any, shop: Any, team: Any
) -> None:
    other = Channel.objects.create(
        shop=shop, kind="api", marketplace="ebay", name="eBay", team=team
    )
    result = ingest(make_inbound(channel_id=other.pk, text="x"))
    other_conv = Conversation.objects.get(pk=result.conversation_id)
    claim = claims.claim_of(conv.messages.get(), ebay_meta())
    assert claim is not None
    actions.open_or_update_claim(conv, claim, via="connector:ebay")
    actions.open_or_update_claim(other_conv, claim, via="connector:ebay")
    assert Case.objects.count() == 2


def test_cdiscount_and_fnac_claims_are_read_and_plain_messages_are_not(
    conv: Conversation,
) -> None:
    message = conv.messages.get()
    cdiscount = claims.claim_of(
        message, {"discussion_id": "D-9", "claim_type": "ProductNotReceived"}
    )
    fnac = claims.claim_of(
        message,
        {
            "fnac_incident_id": "I-3",
            "claim_type": "x",
            "claim_label": "Item damaged",
            "claim_status": "CLOSED",
        },
    )
    assert cdiscount is not None
    assert fnac is not None
    assert (cdiscount.external_id, cdiscount.claim_kind, cdiscount.kind) == (
        "discussion:D-9",
        "cdiscount_claim",
        "not_received",
    )
    assert (fnac.external_id, fnac.kind, fnac.stage) == ("incident:I-3", "damaged", "resolved")
    assert claims.claim_of(message, {"discussion_id": "D-1"}) is None
    assert claims.claim_of(message, {}) is None


# -- the rule action ---------------------------------------------------------------------------


def test_a_rule_opens_a_case_of_its_kind_once(make_inbound: Any) -> None:
    from comptoir.automation import engine
    from comptoir.automation import rules as rule_actions
    from comptoir.automation.models import RuleRun, Trigger

    engine._has_rules[0] = 0.0  # the per-process "any rule?" cache: another test's rules
    rule = rule_actions.create_rule(
        actor=None,
        name="Damaged opens a case",
        trigger=Trigger.MESSAGE_RECEIVED,
        conditions={"all": [{"type": "tags", "values": ["casse"]}]},
        actions=[{"type": "open_case", "kind": "damaged"}],
    )
    conv_id = ingest(
        make_inbound(text="Arrivé cassé.", tags=["casse"], thread_id="t-1")
    ).conversation_id
    engine.pump()
    ingest(make_inbound(text="Toujours cassé.", tags=["casse"], thread_id="t-1"))
    ingest(make_inbound(text="Et encore.", thread_id="t-1"))
    engine.pump()

    case = Case.objects.get()
    assert (case.conversation_id, case.kind, case.opened_by) == (conv_id, "damaged", "rule")
    assert case.opened_by_user is None
    assert Event.objects.get(kind="case_opened").actor_label == f"rule:{rule.pk}"
    assert RuleRun.objects.filter(rule=rule).count() >= 1


def test_a_rule_with_an_unknown_case_kind_is_refused() -> None:
    from comptoir.automation import rules as rule_actions
    from comptoir.automation.models import Trigger

    with pytest.raises(ValidationError) as refused:
        rule_actions.create_rule(
            actor=None,
            name="bad",
            trigger=Trigger.MESSAGE_RECEIVED,
            actions=[{"type": "open_case", "kind": "volcano"}],
        )
    assert "unknown case kind" in str(refused.value)


# -- the pages ---------------------------------------------------------------------------------


def test_the_case_list_shows_the_cases_of_the_conversations_the_agent_sees(
    client: Any, conv: Conversation, agent: User, outsider: User, supervisor: User
) -> None:
    later = actions.open_case(conv, kind="return", actor=agent)
    soon = actions.open_case(conv, kind="damaged", actor=agent)
    actions.set_deadline(soon, deadline=timezone.now() + timedelta(days=2, hours=1), actor=agent)
    closed = actions.open_case(conv, kind="refund", actor=agent)
    actions.close(closed, actor=agent)

    client.force_login(agent)
    page = client.get("/cases/").content.decode()
    assert page.index(f'id="case-{soon.pk}"') < page.index(f'id="case-{later.pk}"')
    assert f'id="case-{closed.pk}"' not in page
    assert "due in 2\xa0d" in page
    assert f'id="case-{closed.pk}"' in client.get("/cases/?stage=resolved").content.decode()
    only = client.get("/cases/?kind=return").content.decode()
    assert f'id="case-{later.pk}"' in only
    assert f'id="case-{soon.pk}"' not in only
    assert f'id="case-{soon.pk}"' not in client.get("/cases/?marketplace=ebay").content.decode()

    client.force_login(outsider)
    assert "case-" not in client.get("/cases/").content.decode().split("<tbody>")[1]
    assert client.post(f"/cases/{soon.pk}/close/").status_code == 404
    assert client.post(f"/cases/open/{conv.pk}/", {"kind": "return"}).status_code == 404
    client.force_login(supervisor)
    assert f'id="case-{soon.pk}"' in client.get("/cases/").content.decode()


def test_the_conversation_panel_opens_and_moves_a_case(
    client: Any, conv: Conversation, agent: User, analyst: User
) -> None:
    client.force_login(agent)
    page = client.get(f"/inbox/c/{conv.pk}/").content.decode()
    assert 'id="open-case"' in page

    response = client.post(f"/cases/open/{conv.pk}/", {"kind": "wrong_item"})
    assert response.status_code == 302
    case = Case.objects.get()
    client.post(f"/cases/{case.pk}/stage/", {"stage": "waiting_buyer"})
    client.post(f"/cases/{case.pk}/deadline/", {"deadline": "2031-01-02T10:00"})
    client.post(
        f"/cases/{case.pk}/outcome/",
        {"outcome": "partial_refund", "amount": "12,50", "currency": "eur"},
    )
    refused = client.post(f"/cases/{case.pk}/outcome/", {"outcome": "partial_refund"})
    assert refused.status_code == 400
    case.refresh_from_db()
    assert (case.stage, case.refund_amount, case.currency) == (
        "waiting_buyer",
        Decimal("12.50"),
        "EUR",
    )
    assert case.deadline is not None
    assert case.deadline.year == 2031
    page = client.get(f"/inbox/c/{conv.pk}/").content.decode()
    assert 'id="cases"' in page
    assert "Waiting on the buyer" in page
    assert "Refund of 12.50 EUR recorded" in page
    # The inbox row shows the open case with its countdown.
    inbox = client.get("/inbox/?view=all").content.decode()
    assert 'class="case-badge"' in inbox

    client.force_login(analyst)
    assert client.post(f"/cases/{case.pk}/close/").status_code == 403
    assert 'id="open-case"' not in client.get(f"/inbox/c/{conv.pk}/").content.decode()
