"""Each KPI on a small fixed history, exclusions included (see docs/metrics.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.analytics import facts, kpis
from comptoir.analytics.models import ConversationFact
from comptoir.analytics.period import Durations, Filters, Period
from comptoir.inbox.models import Channel, Conversation, DeliveryState, EventKind
from comptoir.orders.models import Order
from tests.analytics_support import T0, H, buyer, conversation, event, note, reopen, reply, resolve

NOW = T0 + timedelta(days=10)
PERIOD = Period(T0 - timedelta(days=1), NOW)
ALL = Filters()


@dataclass
class History:
    quick: Conversation  # auto-ack, one agent reply at 2 h, resolved: first-contact resolution
    slow: Conversation  # first reply at 30 h (late), then a next response of 4 h
    reopened: Conversation  # resolved, reopened on day 3, resolved again
    marked: Conversation  # marked "no response needed", resolved without a reply
    failed: Conversation  # its only reply failed: unanswered, late
    old: Conversation  # created a year before the period


@pytest.fixture
def history(channel: Channel, agent: User) -> History:
    quick = conversation(channel, assignee=agent, intent="where_is_my_order", language="fr")
    buyer(quick, T0)
    reply(quick, T0 + timedelta(minutes=1), auto=True)  # the rules' acknowledgement
    note(quick, T0 + H, agent)
    reply(quick, T0 + 2 * H, agent)
    resolve(quick, T0 + 3 * H)

    slow = conversation(channel, intent="return", language="de")
    buyer(slow, T0)
    reply(slow, T0 + 30 * H, agent)
    buyer(slow, T0 + 31 * H)
    buyer(slow, T0 + 32 * H)  # the wait opened at 31 h is still open: not a new one
    reply(slow, T0 + 35 * H)  # written on the marketplace's site: no author, still a reply

    again = conversation(channel, assignee=agent)
    buyer(again, T0)
    reply(again, T0 + H, agent)
    resolve(again, T0 + 2 * H)
    buyer(again, T0 + timedelta(days=3))
    reopen(again, T0 + timedelta(days=3))
    reply(again, T0 + timedelta(days=3) + H, agent)
    resolve(again, T0 + timedelta(days=3, hours=2))

    marked = conversation(channel)
    buyer(marked, T0 + 4 * H)
    event(marked, EventKind.NO_RESPONSE_NEEDED, T0 + 5 * H)
    resolve(marked, T0 + 5 * H)

    failed = conversation(channel)
    buyer(failed, T0 + 5 * H)
    buyer(failed, T0 + 5 * H, auto=True)
    reply(failed, T0 + 6 * H, agent, state=DeliveryState.FAILED)

    old = conversation(channel, at=T0 - timedelta(days=365))
    buyer(old, T0 - timedelta(days=365))

    gone = conversation(channel, deleted_at=T0)
    buyer(gone, T0)
    facts.refresh(Conversation.objects.values_list("pk", flat=True), now=NOW)
    return History(quick, slow, again, marked, failed, old)


def test_first_response_counts_human_replies_only(history: History) -> None:
    times = kpis.first_response_time(PERIOD, ALL)
    # quick 2 h (not the 1-minute auto-ack), slow 30 h, reopened 1 h; marked and failed never
    # answered; old out of the period.
    assert times.calendar.count == 3
    assert times.calendar.median == pytest.approx(2)
    assert times.calendar.mean == pytest.approx(11)
    assert times.calendar.p90 == pytest.approx(30 - 0.2 * 28)
    # Business hours (Paris office hours, Mon 11:00 to Tue 17:00 is 7 + 8 hours).
    slow = ConversationFact.objects.get(pk=history.slow.pk)
    assert slow.first_response_business_seconds == pytest.approx(15 * 3600)
    assert times.business.median == pytest.approx(2)


def test_next_response_from_the_first_unanswered_buyer_message(history: History) -> None:
    times = kpis.next_response_time(PERIOD, ALL)
    # slow: 31 h -> 35 h; reopened: day 3 -> day 3 + 1 h.
    assert times.calendar.count == 2
    assert times.calendar.median == pytest.approx(2.5)


def test_within_sla_and_exclusions(history: History) -> None:
    share = kpis.within_sla(PERIOD, ALL)
    # On time: quick, reopened. Late: slow (30 h > 24 h), failed (unanswered after 24 h).
    # Marked: not counted.
    assert (share.part, share.whole) == (2, 4)
    assert ConversationFact.objects.get(pk=history.marked.pk).within_sla is None


def test_marketplace_rate_is_the_sla_apps(history: History) -> None:
    (rates,) = kpis.marketplace_late_rates(PERIOD, ALL)
    ninety = rates.periods[-1]
    # Late: slow's first message, failed's unanswered one, and the deleted conversation's (the
    # marketplace counts it all the same); marked excluded.
    assert (ninety.late, ninety.excluded) == (3, 1)


def test_resolution_fcr_and_reopen(history: History) -> None:
    resolution = kpis.resolution_time(PERIOD, ALL)
    # quick 3 h, reopened 3 days 2 h, marked 1 h.
    assert resolution.count == 3
    assert resolution.median == pytest.approx(3)
    fcr = kpis.first_contact_resolution(PERIOD, ALL)
    # quick only; reopened was reopened within 7 days; marked had no reply.
    assert (fcr.part, fcr.whole) == (1, 2)
    reopened = kpis.reopen_rate(PERIOD, ALL)
    assert (reopened.part, reopened.whole) == (1, 3)


def test_fcr_survives_a_reopen_after_seven_days(channel: Channel, agent: User) -> None:
    conv = conversation(channel)
    buyer(conv, T0)
    reply(conv, T0 + H, agent)
    resolve(conv, T0 + 2 * H)
    reopen(conv, T0 + timedelta(days=8))
    facts.refresh([conv.pk], now=NOW)
    fact = ConversationFact.objects.get(pk=conv.pk)
    assert fact.fcr
    assert fact.reopened
    assert fact.resolved_at is None


def test_counts_and_volumes(history: History, channel: Channel) -> None:
    assert kpis.messages_per_conversation(PERIOD, ALL) == pytest.approx((4 + 5 + 4 + 1 + 3) / 5)
    nrn = kpis.no_response_needed_share(PERIOD, ALL)
    assert (nrn.part, nrn.whole) == (1, 5)
    assert kpis.volume(PERIOD, ALL, "channel_id") == {channel.pk: 5}
    assert kpis.volume(PERIOD, ALL, "marketplace") == {"amazon": 5}
    assert kpis.volume(PERIOD, ALL, "language") == {"": 3, "de": 1, "fr": 1}
    assert kpis.volume(PERIOD, Filters(marketplace="ebay"), "intent") == {}
    with pytest.raises(ValueError, match="subject"):
        kpis.volume(PERIOD, ALL, "subject")
    grid = kpis.heatmap(PERIOD, ALL)
    assert grid[0][11] == 5  # Monday, 11:00 in Paris
    assert sum(map(sum, grid)) == 5


def test_backlog_per_day(history: History) -> None:
    days = kpis.backlog(Period(T0, T0 + timedelta(days=4)), ALL)
    assert [d.isoformat() for d, _ in days] == [
        "2026-03-02",
        "2026-03-03",
        "2026-03-04",
        "2026-03-05",
        "2026-03-06",
    ]
    # End of Monday: slow, failed, old are open (quick, reopened, marked resolved; the
    # reopened one counts by its last resolution, on day 3, so it is open until then).
    assert days[0][1] == 4
    assert days[-1][1] == 3


def test_conversations_per_100_orders(history: History, channel: Channel) -> None:
    assert kpis.conversations_per_100_orders(PERIOD, ALL) is None
    for i in range(20):
        Order.objects.create(
            shop_id=channel.shop_id, channel=channel, external_id=f"O{i}", ordered_at=T0
        )
    assert kpis.conversations_per_100_orders(PERIOD, ALL) == pytest.approx(25)


def test_per_agent_and_team(history: History, agent: User, channel: Channel) -> None:
    rows = {row.id: row for row in kpis.per_agent(PERIOD, ALL)}
    mine = rows[agent.pk]
    assert mine.handled == 2
    assert mine.first_response.median == pytest.approx(1.5)
    assert (mine.fcr.part, mine.fcr.whole) == (1, 2)
    assert rows[None].handled == 3
    (team,) = kpis.per_team(PERIOD, ALL)
    assert (team.id, team.handled) == (channel.team_id, 5)
    assert kpis.per_team(PERIOD, Filters(team_id=-1)) == []


def test_csat_and_nps_read_the_surveys_of_the_period_and_the_filters(channel: Channel) -> None:
    from comptoir.surveys.models import Survey

    assert kpis.csat(PERIOD, ALL) is None
    assert kpis.nps(PERIOD, ALL) is None
    inside = PERIOD.start + (PERIOD.end - PERIOD.start) / 2

    def answer(kind: str, score: int, at: datetime = inside) -> None:
        conv = Conversation.objects.create(shop=channel.shop, channel=channel)
        Survey.objects.create(
            conversation=conv,
            kind=kind,
            token=f"t{conv.pk}",
            channel="email",
            sent_at=at,
            score=score,
            answered_at=at,
        )

    for score in (5, 4, 2):
        answer("csat", score)
    answer("csat", 1, at=PERIOD.start - timedelta(days=1))  # before the period
    for score in (10, 9, 3):
        answer("nps", score)
    assert kpis.csat(PERIOD, ALL) == pytest.approx(200 / 3)
    assert kpis.nps(PERIOD, ALL) == pytest.approx(100 / 3)
    assert kpis.survey_response_rate(PERIOD, ALL) == 100.0
    assert kpis.csat(PERIOD, Filters(channel_id=channel.pk)) == pytest.approx(200 / 3)
    assert kpis.csat(PERIOD, Filters(channel_id=-1)) is None


def test_durations_summary() -> None:
    assert Durations.of_seconds([]) == Durations(0, None, None, None)
    one = Durations.of_seconds([3600])
    assert (one.median, one.p90) == (1, 1)
    now = timezone.now()
    assert Period.last(30, now) == Period(now - timedelta(days=30), now)


def test_overview_and_per_channel_agree_with_the_single_kpis(
    history: History, channel: Channel
) -> None:
    figures = kpis.overview(PERIOD, ALL)
    assert figures.conversations == 5
    assert figures.first_response == kpis.first_response_time(PERIOD, ALL)
    assert figures.within_sla == kpis.within_sla(PERIOD, ALL)
    assert figures.fcr == kpis.first_contact_resolution(PERIOD, ALL)
    assert figures.reopen == kpis.reopen_rate(PERIOD, ALL)
    assert figures.no_response_needed == kpis.no_response_needed_share(PERIOD, ALL)
    (row,) = kpis.per_channel(PERIOD, ALL)
    assert (row.channel_id, row.conversations) == (channel.pk, 5)
    assert row.first_response == figures.first_response.calendar
    assert kpis.per_channel(PERIOD, Filters(channel_id=-1)) == []
