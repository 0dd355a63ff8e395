"""eBay's returns, inquiries and cases open their Case through the real path: the simulator,
a poll, the after-ingest hook, the queued task; re-reads never open a second case."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from comptoir.cases.models import Case
from comptoir.cases.tasks import sync_claims
from comptoir.connectors.ebay.simulator import EbaySimulator
from comptoir.inbox.models import Channel, Event, Shop
from comptoir.inbox.tasks import poll_channel
from tests.ebay_support import channel_settings, running_simulator

ORDER = "12-34567-89012"
SYNC = "comptoir.cases.tasks.sync_claims"


@pytest.fixture
def sim(sleeps: list[float], monkeypatch: pytest.MonkeyPatch) -> Iterator[EbaySimulator]:
    yield from running_simulator(monkeypatch)


@pytest.fixture
def ebay_channel(shop: Shop, team: Any, sim: EbaySimulator) -> Channel:
    channel = Channel(shop=shop, kind="ebay", marketplace="ebay", name="eBay FR", team=team)
    channel.set_settings(channel_settings(sim))
    channel.save()
    return channel


def poll(channel: Channel, capture: Any) -> list[int]:
    """Poll the channel with its after-commit hooks run, then the queued claim syncs."""
    with capture(execute=True):
        poll_channel.call(channel.pk)
    done = []
    for row in DBTaskResult.objects.filter(task_path=SYNC).order_by("enqueued_at"):
        done.append(sync_claims.call(*row.args_kwargs["args"]))
        row.delete()
    return done


def test_an_ebay_return_opens_one_case_that_follows_the_claim(
    sim: EbaySimulator, ebay_channel: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    sim.buyer_writes("Bonjour, une question.", buyer="paul_l")  # not a claim
    rid = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "La lampe est cassée.", amount="49.90")

    assert poll(ebay_channel, django_capture_on_commit_callbacks) == [1]

    case = Case.objects.get()
    assert (case.external_id, case.claim_kind, case.kind) == (
        f"return:{rid}",
        "ebay_return",
        "damaged",
    )
    assert (case.opened_by, case.stage, case.reason) == ("marketplace", "open", "DEFECTIVE_ITEM")
    assert str(case.claimed_amount) == "49.90"
    assert case.currency == "EUR"
    assert case.deadline is not None
    assert case.conversation.external_thread_id == f"return:{rid}"
    first_deadline = case.deadline

    sim.advance(3600)
    sim.buyer_follows_up(rid, "Et l'étiquette de retour ?")
    poll(ebay_channel, django_capture_on_commit_callbacks)
    # A full re-read from an empty cursor stores nothing new, and opens nothing.
    Channel.objects.filter(pk=ebay_channel.pk).update(cursor={})
    poll(ebay_channel, django_capture_on_commit_callbacks)

    case.refresh_from_db()
    assert Case.objects.count() == 1
    assert case.deadline is not None
    assert case.deadline > first_deadline

    sim.close_claim(rid)
    poll(ebay_channel, django_capture_on_commit_callbacks)
    case.refresh_from_db()
    assert (case.stage, case.marketplace_status) == ("resolved", "CLOSED")
    assert list(
        Event.objects.filter(kind__startswith="case_")
        .order_by("pk")
        .values_list("kind", "actor_label")
    ) == [
        ("case_opened", "connector:ebay"),
        ("case_changed", "connector:ebay"),
        ("case_changed", "connector:ebay"),
    ]
    assert sim.violations == []


def test_an_inquiry_escalated_to_a_case_gives_two_cases(
    sim: EbaySimulator, ebay_channel: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    iid = sim.buyer_opens_inquiry(ORDER, "Mon colis n'est jamais arrivé.", buyer="paul_l")
    poll(ebay_channel, django_capture_on_commit_callbacks)
    sim.advance(60)
    cid = sim.case_escalated(ORDER, "J'ouvre un litige.", buyer="paul_l", from_id=iid)
    poll(ebay_channel, django_capture_on_commit_callbacks)

    inquiry = Case.objects.get(external_id=f"inquiry:{iid}")
    dispute = Case.objects.get(external_id=f"case:{cid}")
    assert (inquiry.kind, inquiry.claim_kind, inquiry.stage) == (
        "not_received",
        "ebay_inquiry",
        "resolved",
    )
    assert (dispute.kind, dispute.claim_kind, dispute.stage) == (
        "not_received",
        "ebay_case",
        "open",
    )
