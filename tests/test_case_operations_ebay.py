"""A case's answer, refund and closure told to eBay (Post-Order API) against the simulator, with
faults on: each step reaches eBay exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F

from comptoir.accounts.models import User
from comptoir.accounts.permissions import NotVisible
from comptoir.cases import operations
from comptoir.cases.models import Case, CaseOperation
from comptoir.cases.sync_out import send_case_operation, sweep_stuck_operations
from comptoir.connectors.ebay.simulator import EbaySimulator
from comptoir.inbox.models import Channel, Event, Shop
from tests.ebay_support import channel_settings, running_simulator
from tests.fault_support import Killed
from tests.test_case_claims_ebay import poll

ORDER = "12-34567-89012"


@pytest.fixture
def sim(sleeps: list[float], monkeypatch: pytest.MonkeyPatch) -> Iterator[EbaySimulator]:
    yield from running_simulator(monkeypatch)


@pytest.fixture
def ebay_channel(shop: Shop, team: Any, sim: EbaySimulator) -> Channel:
    channel = Channel(shop=shop, kind="ebay", marketplace="ebay", name="eBay FR", team=team)
    channel.set_settings(channel_settings(sim))
    channel.save()
    return channel


def settle_time_passes() -> None:
    """Every unanswered step is an hour older: a retry may now do what it did not find."""
    CaseOperation.objects.exclude(posted_at=None).update(
        posted_at=F("posted_at") - timedelta(hours=1)
    )


def state(op: CaseOperation) -> str:
    op.refresh_from_db()
    return op.delivery_state


def test_a_return_is_answered_and_refunded_once_though_ebays_answers_are_lost(
    sim: EbaySimulator, ebay_channel: Channel, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    rid = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "La lampe est cassée.", amount="49.90")
    poll(ebay_channel, django_capture_on_commit_callbacks)
    case = Case.objects.get(external_id=f"return:{rid}")
    assert operations.supported(case) == {"respond", "refund"}

    answer = operations.answer_claim(case, text="Nous vous remboursons.", actor=agent)
    refund = operations.refund_claim(case, amount="20", actor=agent)
    sim.faults.add("lose_response", path="/send_message")
    sim.faults.add("lose_response", path="/issue_refund")

    assert send_case_operation.call(answer.pk).startswith("failed")
    assert send_case_operation.call(refund.pk).startswith("failed")
    assert (state(answer), state(refund)) == ("queued", "queued")
    # The retries find both in the return's history instead of doing them again.
    assert send_case_operation.call(answer.pk, attempt=2) == "sent"
    assert send_case_operation.call(refund.pk, attempt=2) == "sent"

    assert sim.refunds == [type(sim.refunds[0])(f"return:{rid}", "20.00", "EUR")]
    assert sim.seller_claim_messages() == ["Nous vous remboursons.", ""]
    assert sim.calls[f"POST /post-order/v2/return/{rid}/issue_refund"] == 1
    refund.refresh_from_db()
    assert refund.external_id.startswith(f"return:{rid}:")
    case.refresh_from_db()
    assert (case.outcome, str(case.refund_amount)) == ("partial_refund", "20.00")
    # eBay closed the refunded return: the next poll resolves the case.
    poll(ebay_channel, django_capture_on_commit_callbacks)
    case.refresh_from_db()
    assert case.stage == "resolved"
    assert sim.violations == []


@pytest.mark.parametrize("fault", ["error500_after", "store_late", "error500", "rate_limit"])
def test_an_inquiry_refund_reaches_ebay_once_whatever_the_fault(
    sim: EbaySimulator,
    ebay_channel: Channel,
    agent: User,
    django_capture_on_commit_callbacks: Any,
    fault: str,
) -> None:
    iid = sim.buyer_opens_inquiry(ORDER, "Pas reçu.", amount="35.00")
    poll(ebay_channel, django_capture_on_commit_callbacks)
    case = Case.objects.get(external_id=f"inquiry:{iid}")
    refund = operations.refund_claim(case, amount=None, actor=agent, text="Désolés.")
    sim.faults.add(fault, path="/issue_refund", retry_after=0.01)

    first = send_case_operation.call(refund.pk)
    if fault == "rate_limit":
        # The client waited for Retry-After and tried again within the same attempt.
        assert first == "sent"
    else:
        assert first.startswith("failed")
        if fault in ("store_late", "error500"):
            # Still nothing on eBay: the retry looks again rather than refunding.
            assert send_case_operation.call(refund.pk, attempt=2) == "looking"
            if fault == "store_late":
                sim.run_late()  # eBay stored it after all
            else:
                settle_time_passes()  # eBay never had it: now it may be sent
        assert send_case_operation.call(refund.pk, attempt=2) == "sent"

    assert sim.refunds == [type(sim.refunds[0])(f"inquiry:{iid}", "35.00", "EUR")]
    assert state(refund) == "sent"
    case.refresh_from_db()
    assert (case.outcome, str(case.refund_amount)) == ("full_refund", "35.00")
    assert sim.violations == []


def test_a_refund_ebay_never_got_is_sent_after_the_settle_time(
    sim: EbaySimulator, ebay_channel: Channel, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    cid = sim.case_escalated(ORDER, "J'ouvre un litige.", amount="12.50")
    poll(ebay_channel, django_capture_on_commit_callbacks)
    case = Case.objects.get(external_id=f"case:{cid}")
    refund = operations.refund_claim(case, amount=None, actor=agent)
    sim.faults.add("timeout", path="/issue_refund")

    assert send_case_operation.call(refund.pk).startswith("failed")
    assert send_case_operation.call(refund.pk, attempt=2) == "looking"
    settle_time_passes()
    assert send_case_operation.call(refund.pk, attempt=2) == "sent"

    assert [r.thread for r in sim.refunds] == [f"case:{cid}"]
    assert sim.violations == []


def test_a_step_a_dead_worker_left_is_found_not_done_again(
    sim: EbaySimulator, ebay_channel: Channel, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    rid = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "Cassée.", amount="49.90")
    poll(ebay_channel, django_capture_on_commit_callbacks)
    case = Case.objects.get()
    refund = operations.refund_claim(case, amount="49.90", actor=agent)
    # The worker sent it and died before recording anything: eBay has it, we say "sending".
    sim.faults.add("lose_response", path="/issue_refund")
    send_case_operation.call(refund.pk)
    CaseOperation.objects.filter(pk=refund.pk).update(
        delivery_state="sending", claimed_at=F("created_at") - timedelta(hours=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stuck_operations.call() == 1
    assert state(refund) == "queued"
    assert send_case_operation.call(refund.pk, attempt=3) == "sent"

    assert len(sim.refunds) == 1
    assert sim.calls[f"POST /post-order/v2/return/{rid}/issue_refund"] == 1


def test_ebay_refusing_a_refund_fails_the_step_with_its_reason_and_retry_does_it_once(
    sim: EbaySimulator, ebay_channel: Channel, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    rid = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "Cassée.", amount="49.90")
    poll(ebay_channel, django_capture_on_commit_callbacks)
    case = Case.objects.get()
    sim.close_claim(rid)  # eBay closed it meanwhile: a refund is refused

    refund = operations.refund_claim(case, amount="10", actor=agent)
    assert send_case_operation.call(refund.pk).startswith("failed")
    refund.refresh_from_db()
    assert refund.delivery_state == "failed"
    assert "closed or was refunded" in refund.error
    assert Channel.objects.get(pk=ebay_channel.pk).is_healthy
    failed = Event.objects.filter(kind="case_changed", data__change="operation_failed").get()
    assert failed.data["operation"] == "refund"

    # Retried as it was: eBay refuses it again.
    operations.retry_operation(refund, actor=agent)
    assert state(refund) == "queued"
    assert send_case_operation.call(refund.pk).startswith("failed")
    # Asked again with other terms, the failed one is replaced and can no longer be retried.
    again = operations.refund_claim(case, amount="5", actor=agent)
    assert state(refund) == "replaced"
    with pytest.raises(ValidationError):
        operations.retry_operation(refund, actor=agent)
    assert again.payload["amount"] == "5.00"
    assert sim.refunds == []


def test_only_who_may_change_the_conversation_sends_a_step_and_only_once(
    sim: EbaySimulator,
    ebay_channel: Channel,
    agent: User,
    outsider: User,
    analyst: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cid = sim.case_escalated(ORDER, "Litige.")
    poll(ebay_channel, django_capture_on_commit_callbacks)
    case = Case.objects.get()

    with pytest.raises(NotVisible):
        operations.refund_claim(case, amount=None, actor=outsider)
    with pytest.raises(PermissionDenied):
        operations.refund_claim(case, amount=None, actor=analyst)
    # eBay's cases take no message from the seller.
    with pytest.raises(ValidationError):
        operations.answer_claim(case, text="Bonjour", actor=agent)
    assert CaseOperation.objects.count() == 0

    operations.refund_claim(case, amount=None, actor=agent)
    with pytest.raises(ValidationError):
        operations.refund_claim(case, amount=None, actor=agent)
    assert CaseOperation.objects.count() == 1
    queued = Event.objects.filter(data__change="operation_queued").get()
    assert queued.actor == agent
    assert sim.refunds == []
    assert sim.calls[f"POST /post-order/v2/casemanagement/{cid}/issue_refund"] == 0


def until_killed(op: CaseOperation) -> None:
    """Attempt after attempt until eBay takes the step and the worker dies recording it."""
    for _ in range(20):
        send_case_operation.call(op.pk, attempt=2)
        CaseOperation.objects.filter(pk=op.pk, delivery_state="failed").update(
            delivery_state="queued"
        )
        settle_time_passes()


def test_a_returns_whole_life_under_faults_and_a_crash_refunds_once(
    sim: EbaySimulator,
    ebay_channel: Channel,
    agent: User,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Opened by the buyer on eBay, answered, refunded and resolved, with 5xx, 429, timeouts
    and lost answers on every write, and a worker killed after eBay took the refund but
    before Comptoir recorded it: one answer and one refund on eBay."""
    from comptoir.cases import sync_out
    from tests.test_case_operations_cdiscount import deliver

    rid = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "Cassée, je la renvoie.", amount="49.90")
    poll(ebay_channel, django_capture_on_commit_callbacks)
    case = Case.objects.get()
    writes = r"/(send_message|issue_refund)$"
    for kind in ("error500", "rate_limit", "timeout", "lose_response", "error500_after"):
        sim.faults.add(kind, method="POST", path=writes, retry_after=0.01)

    answer = operations.answer_claim(case, text="Remboursement en cours.", actor=agent)
    assert deliver(answer)[-1] == "sent"

    refund = operations.refund_claim(case, amount=None, actor=agent)
    real = sync_out.record_operation_sent

    def killed(*args: Any, **kwargs: Any) -> None:
        raise Killed

    monkeypatch.setattr(sync_out, "record_operation_sent", killed)
    with pytest.raises(Killed):
        until_killed(refund)
    monkeypatch.setattr(sync_out, "record_operation_sent", real)
    assert state(refund) == "sending"
    CaseOperation.objects.filter(pk=refund.pk).update(
        claimed_at=F("claimed_at") - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stuck_operations.call() == 1
    assert deliver(refund)[-1] == "sent"

    assert sim.seller_claim_messages() == ["Remboursement en cours.", ""]
    assert [(r.thread, r.amount) for r in sim.refunds] == [(f"return:{rid}", "49.90")]
    poll(ebay_channel, django_capture_on_commit_callbacks)
    case.refresh_from_db()
    assert (case.outcome, case.stage) == ("full_refund", "resolved")
    assert sim.violations == []
