"""The daily rollup: kept by the worker equal to a rebuild from the raw rows, read by the KPIs
with the same counts and shares as the facts, and quantiles from its histograms within their
documented error."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.analytics import facts, histogram, kpis, rollup, tasks
from comptoir.analytics.models import (
    ConversationDay,
    ConversationFact,
    DirtyDay,
)
from comptoir.analytics.period import Durations, Filters, Period
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Shop, Status
from tests.analytics_support import T0, H, buyer, conversation, reopen, reply, resolve

PARIS = ZoneInfo("Europe/Paris")
ALL = Filters()


def _snapshot() -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for model in rollup.MODELS:
        names = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        out[model.__name__] = sorted(
            model.objects.values_list(*names), key=lambda row: tuple(map(repr, row))
        )
    return out


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    ran: list[list[int]] = []

    class RunNow:
        def enqueue(self, ids: list[int]) -> None:
            ran.append(list(ids))
            facts.refresh(ids)

    monkeypatch.setattr(tasks, "in_background", lambda task: RunNow())
    return ran


def _random_history(
    agent: User, make_inbound: Callable[..., InboundMessage], capture: Any
) -> list[str]:
    """Forty seeded steps through the inbox's own actions, each its own transaction, then the
    first conversation deleted; returns the threads made."""
    rng = random.Random(14)
    now = timezone.now()
    threads: list[str] = []
    for step in range(40):
        with capture(execute=True):
            op = rng.choice(["new", "new", "more", "reply", "auto", "resolve", "assign", "nrn"])
            if op == "new" or not threads:
                threads.append(f"t{step}")
                days = rng.uniform(0, 40)
                ingest(make_inbound(thread_id=threads[-1], sent_at=now - timedelta(days=days)))
                continue
            conv = Conversation.objects.get(external_thread_id=rng.choice(threads))
            if op == "more":
                ingest(make_inbound(thread_id=conv.external_thread_id, text="Et alors ?"))
            elif op == "reply":
                actions.reply(conv, actor=agent, text="Votre colis part demain.")
            elif op == "auto":
                actions.reply(conv, actor=None, text="Bien reçu.", is_auto=True)
            elif op == "resolve" and conv.status != Status.RESOLVED:
                actions.set_status(conv, status=Status.RESOLVED, actor=agent)
            elif op == "assign":
                actions.assign_conversation(conv, assignee=agent, actor=agent)
            elif op == "nrn":
                actions.mark_no_response_needed(conv, actor=agent)
    # A deletion takes the conversation out of the rollup too.
    gone = Conversation.objects.get(external_thread_id=threads[0])
    with capture(execute=True):
        actions.delete_conversation(gone, actor=agent)
    return threads


def _equals_a_rebuild() -> dict[str, list[tuple[Any, ...]]]:
    kept = _snapshot()
    assert kept["ConversationDay"]
    assert kept["WaitDay"]
    assert kept["VolumeDay"]
    assert kept["HourDay"]
    assert kept["BacklogDay"]
    out = io.StringIO()
    call_command("analytics", "rebuild", stdout=out)
    assert "rollup" in out.getvalue()
    assert _snapshot() == kept
    return kept


def test_rollup_kept_by_the_worker_equals_a_rebuild(
    channel: Channel,
    agent: User,
    make_inbound: Callable[..., InboundMessage],
    worker: list[list[int]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    threads = _random_history(agent, make_inbound, django_capture_on_commit_callbacks)
    assert worker, "the hooks queued no recomputation"
    _equals_a_rebuild()
    for month in (False, True):  # the day rows, and the month rows summing them
        rows = ConversationDay.objects.filter(month=month)
        assert sum(r.conversations for r in rows) == ConversationFact.objects.count()
    assert ConversationFact.objects.count() == len(threads) - 1


def test_batched_rollup_pass_equals_a_rebuild_and_sums_each_day_once(
    channel: Channel,
    agent: User,
    make_inbound: Callable[..., InboundMessage],
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's own tasks: every transaction's facts task marks its days, and the rollup
    passes they queue run only at the end (a worker behind its queue), so one pass sums each
    day once for all of them."""
    facts_tasks: list[list[int]] = []
    passes: list[str] = []

    class RunNow:
        def enqueue(self, ids: list[int]) -> None:
            facts_tasks.append(list(ids))
            tasks.refresh_facts.call(ids)

    monkeypatch.setattr(tasks, "in_background", lambda task: RunNow())
    monkeypatch.setattr(tasks, "queue_rollup", lambda: passes.append("queued"))
    summed: list[tuple[int, Any]] = []
    recompute = rollup._recompute

    def counted(shop: int, days: list[Any], zone: ZoneInfo) -> None:
        summed.extend((shop, day) for day in days)
        recompute(shop, days, zone)

    monkeypatch.setattr(rollup, "_recompute", counted)
    _random_history(agent, make_inbound, django_capture_on_commit_callbacks)
    assert len(passes) == len(facts_tasks) > 10
    assert not ConversationDay.objects.exists(), "a facts task summed the rollup itself"
    marked = set(DirtyDay.objects.values_list("shop_id", "day"))
    assert DirtyDay.objects.count() > len(marked), "no day was marked by several tasks"

    assert tasks.refresh_rollup.call() == len(marked)
    assert sorted(summed) == sorted(marked)  # each marked day summed once, no other
    assert not DirtyDay.objects.exists()
    assert tasks.refresh_rollup.call() == 0  # the passes queued behind find nothing left
    _equals_a_rebuild()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_histogram_quantiles_are_within_the_documented_error(seed: int) -> None:
    rng = random.Random(seed)
    # Response times from a minute to months (log-normal around a few hours).
    values = [min(60 * 2 ** rng.uniform(0, 18), 3e7) for _ in range(rng.randrange(1, 3000))]
    values = [max(v, 60.0) for v in values]
    counts = histogram.of(values)
    assert sum(counts) == len(values)
    exact = Durations.of_seconds(values)
    for q, want in ((0.5, exact.median), (0.9, exact.p90)):
        got = histogram.quantile(counts, q)
        assert got is not None
        assert want is not None
        assert abs(got / 3600 / want - 1) <= histogram.RELATIVE_ERROR + 1e-9


def test_histogram_buckets_and_their_bound() -> None:
    assert histogram.quantile([0] * histogram.BUCKETS, 0.5) is None
    assert abs(histogram.RELATIVE_ERROR - 0.0595) < 1e-3
    # Every value in a bounded bucket is within the bound of what the bucket stands for.
    for seconds in [60, 61, 90, 3599, 3600, 86400, 7 * 86400, 150 * 86400]:
        estimate = histogram.representative(histogram.bucket(seconds))
        assert abs(estimate / seconds - 1) <= histogram.RELATIVE_ERROR + 1e-9
    for seconds in [0, 1, 59.9]:  # below a minute: within 30 s
        assert abs(histogram.representative(histogram.bucket(seconds)) - seconds) <= 30
    assert histogram.bucket(1e12) == histogram.BUCKETS - 1
    assert histogram.quantile(histogram.of([7200.0]), 0.9) == pytest.approx(7200, rel=0.06)


# -- the KPIs read the rollup and give the facts' figures --------------------------------------


@pytest.fixture
def spread(channel: Channel, agent: User) -> list[Conversation]:
    """Conversations over 60 days on two channels, with replies after 1 to 40 hours, some
    resolved, reopened, unanswered; intents and languages."""
    other = Channel.objects.create(shop=channel.shop, kind="api", marketplace="ebay", name="eBay")
    rng = random.Random(7)
    convs = []
    for i in range(90):
        at = T0 - timedelta(days=60) + timedelta(hours=rng.uniform(0, 60 * 24))
        conv = conversation(
            channel if i % 3 else other,
            at=at,
            assignee=agent if i % 2 else None,
            intent=rng.choice(["return", "where_is_my_order", ""]),
            language=rng.choice(["fr", "de"]),
        )
        buyer(conv, at)
        if i % 7 == 0:
            continue  # unanswered
        answered = at + timedelta(hours=rng.uniform(0.02, 40))
        reply(conv, answered, agent)
        if i % 4 == 0:
            buyer(conv, answered + 3 * H)
            reply(conv, answered + timedelta(hours=rng.uniform(4, 30)), agent)
        if i % 3 == 0:
            resolve(conv, answered + timedelta(hours=rng.uniform(1, 300)))
            if i % 9 == 0:
                reopen(conv, conv.resolved_at + timedelta(days=2))
        convs.append(conv)
    facts.refresh(Conversation.objects.values_list("pk", flat=True), now=T0 + 3 * H)
    return convs


def _midnight(day: int) -> datetime:
    return datetime.combine((T0 - timedelta(days=day)).date(), time.min, PARIS)


PERIODS = {
    "whole days": Period(_midnight(20), _midnight(5)),
    "ragged": Period(T0 - timedelta(days=25, hours=7), T0 - timedelta(days=2, hours=3)),
    "long": Period(_midnight(61), _midnight(-1)),
    "no whole day": Period(_midnight(4) + H, _midnight(3) + 23 * H),
}


def _facts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollup, "split", lambda period, filters: None)


def _figures(period: Period, filters: Filters) -> dict[str, Any]:
    o = kpis.overview(period, filters)
    return {
        "counts": (o.conversations, o.within_sla, o.fcr, o.reopen, o.no_response_needed),
        "messages": o.messages_per_conversation,
        "shares": (
            kpis.within_sla(period, filters),
            kpis.first_contact_resolution(period, filters),
            kpis.reopen_rate(period, filters),
            kpis.no_response_needed_share(period, filters),
        ),
        "volumes": {by: kpis.volume(period, filters, by) for by in kpis.VOLUME_FIELDS},
        "channels": [
            (r.channel_id, r.conversations, r.within_sla, r.fcr, r.reopen, r.first_response.count)
            for r in kpis.per_channel(period, filters)
        ],
        "heatmap": kpis.heatmap(period, filters),
        "people": [
            (r.id, r.handled, r.fcr, r.first_response.count, r.resolution.count)
            for r in kpis.per_agent(period, filters) + kpis.per_team(period, filters)
        ],
        "durations": [
            o.first_response.calendar,
            o.first_response.business,
            o.next_response.calendar,
            o.resolution,
        ],
    }


@pytest.mark.parametrize("name", list(PERIODS))
@pytest.mark.parametrize("assigned", [False, True])
def test_kpis_from_the_rollup_equal_the_facts(
    spread: list[Conversation],
    agent: User,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    assigned: bool,
) -> None:
    period = PERIODS[name]
    filters = Filters(assignee_id=agent.pk) if assigned else ALL
    assert (rollup.split(period, filters) is None) == (name == "no whole day")
    with monkeypatch.context() as patch:
        if name == "long":  # as if the period held too many durations to read them one by one
            patch.setattr(kpis, "EXACT_LIMIT", 0)
        from_rollup = _figures(period, filters)
    with monkeypatch.context() as patch:
        _facts_only(patch)
        exact = _figures(period, filters)
    assert from_rollup["counts"] == exact["counts"]
    assert from_rollup["shares"] == exact["shares"]
    assert from_rollup["volumes"] == exact["volumes"]
    assert from_rollup["channels"] == exact["channels"]
    assert from_rollup["heatmap"] == exact["heatmap"]
    assert from_rollup["people"] == exact["people"]
    assert from_rollup["messages"] == pytest.approx(exact["messages"])
    assert exact["counts"][0] > 0
    for got, want in zip(from_rollup["durations"], exact["durations"], strict=True):
        assert got.count == want.count
        # From the histograms: the mean exact, the quantiles within the bound.
        if name == "long" and want.count:
            assert got.mean == pytest.approx(want.mean)
            for a, b in ((got.median, want.median), (got.p90, want.p90)):
                assert a is not None
                assert b is not None
                assert abs(a / b - 1) <= histogram.RELATIVE_ERROR + 1e-9
        else:
            assert got == want


def test_the_backlog_from_the_rollup_counts_what_was_open_each_evening(
    spread: list[Conversation],
) -> None:
    days = kpis.backlog(PERIODS["long"], ALL)
    assert len(days) == 62
    assert max(n for _, n in days) > 0
    for day, n in days:
        evening = datetime.combine(day + timedelta(days=1), time.min, PARIS)
        still = ConversationFact.objects.filter(created_at__lt=evening)
        assert n == still.exclude(resolved_at__lt=evening).count(), day


def test_whole_days_are_read_from_the_rollup(spread: list[Conversation]) -> None:
    period = PERIODS["whole days"]
    before = kpis.overview(period, ALL)
    assert before.conversations > 0
    # With the facts of those days gone (not the rollup), the figures stay: they came from it.
    ConversationFact.objects.filter(
        created_at__gte=period.start, created_at__lt=period.end
    ).delete()
    assert kpis.overview(period, ALL).conversations == before.conversations
    assert kpis.within_sla(period, ALL) == before.within_sla


def test_shops_in_several_timezones_read_the_facts(spread: list[Conversation]) -> None:
    period = PERIODS["whole days"]
    assert rollup.split(period, ALL) is not None
    other = Shop.objects.create(name="Tokyo", slug="tokyo", timezone="Asia/Tokyo")
    assert rollup.split(period, ALL) is None
    assert rollup.split(period, Filters(shop_id=other.pk)) is not None
    shop = spread[0].shop_id
    assert rollup.split(period, Filters(shop_id=shop)) is not None
    facts_count = ConversationFact.objects.filter(
        created_at__gte=period.start, created_at__lt=period.end
    ).count()
    assert kpis.overview(period, ALL).conversations == facts_count
