"""SLA: policies and their defaults, respond-by through the conversation's life, the sweep,
the marketplaces' late-response rates, and a weekend of simulated time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import User
from comptoir.analytics.tasks import is_facts_refresh
from comptoir.connectors.base import Connector, InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import (
    Channel,
    Conversation,
    Event,
    EventKind,
    Priority,
    Shop,
    SLAState,
    Status,
)
from comptoir.notifications import actions as notifications
from comptoir.sla import policies
from comptoir.sla import tasks as sla_tasks
from comptoir.sla.metrics import late_response_rates
from comptoir.sla.models import BusinessCalendar, Mode, SLAPolicy
from comptoir.sla.sweep import sweep

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _fresh_policies() -> None:
    policies.clear_cache()


def make_channel(shop: Shop, marketplace: str, kind: str = "api") -> Channel:
    return Channel.objects.create(shop=shop, kind=kind, marketplace=marketplace, name=marketplace)


# -- policies and defaults ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marketplace", "hours"),
    [("amazon", 24), ("cdiscount", 48), ("fnac", 48), ("darty", 24), ("ebay", 24), ("rakuten", 24)],
)
def test_marketplace_channels_default_to_the_published_calendar_hours(
    shop: Shop, marketplace: str, hours: int
) -> None:
    channel = make_channel(shop, marketplace)
    friday_evening = paris(2026, 11, 20, 19)
    assert policies.respond_by_for(channel.pk, friday_evening) == friday_evening + timedelta(
        hours=hours
    )


def test_the_own_shop_defaults_to_24_business_hours_in_the_shops_timezone(shop: Shop) -> None:
    email = make_channel(shop, "shop", kind="email")
    # Friday 19:00 is closed: Monday 9 h, Tuesday 9 h, Wednesday 6 h → Wednesday 15:00.
    assert policies.respond_by_for(email.pk, paris(2026, 11, 20, 19)) == paris(2026, 11, 25, 15)
    assert not policies.is_business_hours(email.pk, paris(2026, 11, 21, 11))
    assert policies.is_business_hours(email.pk, paris(2026, 11, 23, 11))
    assert policies.next_opening(email.pk, paris(2026, 11, 20, 19)) == paris(2026, 11, 23, 9)


def test_the_shops_country_holidays_close_the_default_calendar(shop: Shop) -> None:
    email = make_channel(shop, "shop", kind="email")
    christmas = paris(2026, 12, 25, 11)  # a Friday
    assert not policies.is_business_hours(email.pk, christmas)
    assert policies.next_opening(email.pk, christmas) == paris(2026, 12, 28, 9)


def test_a_channel_policy_overrides_the_default_and_the_cache_sees_it(shop: Shop) -> None:
    amazon = make_channel(shop, "amazon")
    start = paris(2026, 11, 20, 19)
    assert policies.respond_by_for(amazon.pk, start) == start + timedelta(hours=24)
    calendar = BusinessCalendar.objects.create(
        shop=shop, name="Weekdays", hours={str(d): [["08:00", "20:00"]] for d in range(5)}
    )
    SLAPolicy.objects.create(
        channel=amazon,
        first_response_minutes=12 * 60,
        next_response_minutes=6 * 60,
        mode=Mode.BUSINESS,
        calendar=calendar,
        at_risk_percent=50,
    )
    # Friday 19:00 → 1 h on Friday, 11 h on Monday → Monday 19:00; at risk after 6 h: Monday 13:00.
    assert policies.deadlines_for(amazon.pk, start, first=True) == (
        paris(2026, 11, 23, 19),
        paris(2026, 11, 23, 13),
    )
    assert policies.respond_by_for(amazon.pk, start, first=False) == paris(2026, 11, 23, 13)


def test_at_risk_defaults_to_three_quarters_of_the_target(shop: Shop) -> None:
    amazon = make_channel(shop, "amazon")
    start = datetime(2026, 11, 20, 18, tzinfo=UTC)
    assert policies.deadlines_for(amazon.pk, start)[1] == start + timedelta(hours=18)


# -- respond-by through a conversation's life ------------------------------------------------------

MakeInbound = Callable[..., InboundMessage]


def receive(make_inbound: MakeInbound, **overrides: Any) -> Conversation:
    result = ingest(make_inbound(**overrides))
    assert result.conversation_id is not None, result.error
    return Conversation.objects.get(pk=result.conversation_id)


def fresh(conv: Conversation) -> Conversation:
    return Conversation.objects.get(pk=conv.pk)


def test_ingest_sets_respond_by_and_the_at_risk_instant_from_the_policy(
    make_inbound: MakeInbound,
) -> None:
    sent = datetime(2026, 11, 20, 18, tzinfo=UTC)
    conv = receive(make_inbound, sent_at=sent)
    assert conv.sla_state == SLAState.OK
    assert conv.respond_by == sent + timedelta(hours=24)
    assert conv.sla_at_risk_at == sent + timedelta(hours=18)


def test_ingest_reads_the_policy_once_per_channel_not_once_per_message(
    make_inbound: MakeInbound, channel: Channel
) -> None:
    SLAPolicy.objects.create(channel=channel, first_response_minutes=60)
    receive(make_inbound)  # loads the channel's policy into the cache
    with CaptureQueriesContext(connection) as queries:
        for n in range(3):
            conv = receive(make_inbound, thread_id=f"q{n}")
    tables = ("sla_slapolicy", "sla_businesscalendar", "inbox_channel")
    assert not [q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in tables)]
    assert conv.respond_by == conv.last_inbound_at + timedelta(hours=1)  # type: ignore[operator]


def test_a_follow_up_keeps_the_first_deadline_and_a_message_after_a_reply_gets_the_next_target(
    make_inbound: MakeInbound, channel: Channel, agent: User
) -> None:
    SLAPolicy.objects.create(
        channel=channel, first_response_minutes=24 * 60, next_response_minutes=4 * 60
    )
    sent = timezone.now() - timedelta(hours=2)
    conv = receive(make_inbound, sent_at=sent, thread_id="t1")
    receive(make_inbound, sent_at=sent + timedelta(hours=1), thread_id="t1")
    assert fresh(conv).respond_by == sent + timedelta(hours=24)

    actions.reply(conv, actor=agent, text="Bonjour, c'est en route.")
    assert fresh(conv).sla_state == SLAState.NONE
    again = timezone.now()  # after the reply
    receive(make_inbound, sent_at=again, thread_id="t1")
    stored = fresh(conv)
    assert stored.respond_by == again + timedelta(hours=4)
    assert stored.sla_at_risk_at == again + timedelta(hours=3)
    assert stored.sla_state == SLAState.OK


def test_a_real_reply_clears_the_deadline_and_an_auto_reply_does_not(
    make_inbound: MakeInbound, agent: User
) -> None:
    conv = receive(make_inbound)
    deadline = conv.respond_by
    actions.reply(conv, actor=None, text="Nous avons bien reçu votre message.", is_auto=True)
    assert (fresh(conv).respond_by, fresh(conv).sla_state) == (deadline, SLAState.OK)
    actions.reply(conv, actor=agent, text="Votre colis arrive demain.")
    stored = fresh(conv)
    assert (stored.needs_reply, stored.respond_by, stored.sla_state) == (False, None, "none")
    assert stored.sla_at_risk_at is None


def test_an_auto_reply_clears_the_deadline_when_the_policy_says_it_counts(
    make_inbound: MakeInbound, channel: Channel
) -> None:
    SLAPolicy.objects.create(channel=channel, auto_reply_counts=True)
    conv = receive(make_inbound)
    actions.reply(conv, actor=None, text="Nous avons bien reçu votre message.", is_auto=True)
    assert fresh(conv).respond_by is None
    assert fresh(conv).sla_state == SLAState.NONE


def test_resolving_clears_the_sla_state(make_inbound: MakeInbound, agent: User) -> None:
    conv = receive(make_inbound)
    actions.set_status(conv, status=Status.RESOLVED, actor=agent)
    stored = fresh(conv)
    assert (stored.respond_by, stored.sla_state, stored.sla_at_risk_at) == (None, "none", None)


def test_no_response_needed_clears_the_deadline_writes_an_event_and_syncs_nowhere_by_default(
    make_inbound: MakeInbound, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    conv = receive(make_inbound)
    deadline = conv.respond_by
    assert deadline is not None
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        actions.mark_no_response_needed(conv, actor=agent)
    stored = fresh(conv)
    assert (stored.needs_reply, stored.respond_by, stored.sla_state) == (False, None, "none")
    event = Event.objects.filter(conversation=conv).order_by("-pk").first()
    assert event is not None
    assert event.kind == EventKind.NO_RESPONSE_NEEDED
    assert event.actor == agent
    assert event.data == {"respond_by": deadline.isoformat()}
    assert len([c for c in callbacks if not is_facts_refresh(c)]) == 1
    assert not DBTaskResult.objects.filter(task_path__endswith="push_no_response_needed").exists()


def test_no_response_needed_is_pushed_to_a_marketplace_whose_connector_can(
    make_inbound: MakeInbound,
    agent: User,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    marked: list[str] = []

    class Capable(Connector):
        kind = "api"

        def mark_no_response_needed(self, thread_id: str) -> None:
            marked.append(thread_id)

    monkeypatch.setattr(sla_tasks, "connector_class", lambda kind: Capable)
    monkeypatch.setattr(sla_tasks, "get_connector", lambda channel: Capable(channel))
    conv = receive(make_inbound, thread_id="thread-9")
    with django_capture_on_commit_callbacks(execute=True):
        actions.mark_no_response_needed(conv, actor=agent)
    assert DBTaskResult.objects.filter(task_path__endswith="push_no_response_needed").count() == 1
    assert sla_tasks.push_no_response_needed.call(conv.pk) == "ok"
    assert marked == ["thread-9"]


def test_a_seller_answer_synced_from_the_marketplace_clears_the_deadline(
    make_inbound: MakeInbound,
) -> None:
    conv = receive(make_inbound, thread_id="t2", sent_at=timezone.now() - timedelta(hours=1))
    receive(make_inbound, thread_id="t2", direction="out", sent_at=timezone.now())
    assert fresh(conv).sla_state == SLAState.NONE


def test_a_reply_that_finally_fails_puts_the_buyers_deadline_back(
    make_inbound: MakeInbound, agent: User
) -> None:
    sent = timezone.now() - timedelta(hours=3)
    conv = receive(make_inbound, sent_at=sent)
    message = actions.reply(conv, actor=agent, text="Voici le suivi.")
    assert fresh(conv).respond_by is None
    actions.record_delivery_failure(message, error="550 refused", final=True)
    stored = fresh(conv)
    assert (stored.needs_reply, stored.sla_state) == (True, SLAState.OK)
    assert stored.respond_by == sent + timedelta(hours=24)


# -- the sweep ------------------------------------------------------------------------------------


@pytest.fixture
def notified(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[int]]]:
    calls: list[tuple[str, list[int]]] = []

    def fake_notify(kind: str, *, conversations: Sequence[int] = (), **_: Any) -> None:
        calls.append((str(kind), list(conversations)))

    monkeypatch.setattr(notifications, "notify", fake_notify)
    return calls


def test_the_sweep_moves_each_conversation_once_raises_priority_and_notifies(
    make_inbound: MakeInbound,
    notified: list[tuple[str, list[int]]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    t0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
    early = receive(make_inbound, sent_at=t0, thread_id="a")  # at risk t0+18h, late t0+24h
    later = receive(make_inbound, sent_at=t0 + timedelta(hours=4), thread_id="b")
    urgent = receive(make_inbound, sent_at=t0 + timedelta(hours=1), thread_id="c")
    Conversation.objects.filter(pk=urgent.pk).update(priority=Priority.URGENT)

    at = t0 + timedelta(hours=20)
    with django_capture_on_commit_callbacks(execute=True):
        first = sweep(now=at)
        second = sweep(now=at)
    assert (sorted(first.at_risk), first.breached) == (sorted([early.pk, urgent.pk]), [])
    assert (second.at_risk, second.breached) == ([], [])
    assert notified == [("sla_at_risk", sorted([early.pk, urgent.pk]))]
    assert fresh(early).priority == Priority.HIGH
    assert fresh(urgent).priority == Priority.URGENT  # never lowered
    assert fresh(later).sla_state == SLAState.OK

    with django_capture_on_commit_callbacks(execute=True):
        third = sweep(now=t0 + timedelta(hours=24, minutes=30))
        fourth = sweep(now=t0 + timedelta(hours=24, minutes=30))
    assert (third.at_risk, third.breached) == ([later.pk], [early.pk])
    assert (fourth.at_risk, fourth.breached) == ([], [])
    assert fresh(early).priority == Priority.URGENT
    assert fresh(early).sla_state == SLAState.BREACHED
    kinds = list(
        Event.objects.filter(conversation=early, kind__startswith="sla_")
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert kinds == [EventKind.SLA_AT_RISK, EventKind.SLA_BREACHED]
    assert Event.objects.filter(kind__startswith="sla_").count() == 4  # 2 + later + early
    assert notified[1:] == [("sla_breached", [early.pk]), ("sla_at_risk", [later.pk])]


def test_a_conversation_late_past_both_instants_is_breached_without_being_at_risk_first(
    make_inbound: MakeInbound, notified: list[tuple[str, list[int]]]
) -> None:
    t0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
    conv = receive(make_inbound, sent_at=t0)
    result = sweep(now=t0 + timedelta(days=2))
    assert (result.at_risk, result.breached) == ([], [conv.pk])
    kinds = set(Event.objects.filter(conversation=conv).values_list("kind", flat=True))
    assert EventKind.SLA_AT_RISK not in kinds


def test_a_reply_before_the_sweep_keeps_it_from_being_breached(
    make_inbound: MakeInbound, agent: User
) -> None:
    t0 = timezone.now() - timedelta(hours=30)
    conv = receive(make_inbound, sent_at=t0)
    actions.reply(conv, actor=agent, text="Désolé pour le retard.")
    assert sweep().breached == []


# -- Friday evening in Paris, a weekend of simulated time ---------------------------------------


def test_friday_evening_messages_turn_at_risk_and_late_at_each_marketplaces_hour(
    shop: Shop,
    monkeypatch: pytest.MonkeyPatch,
    notified: list[tuple[str, list[int]]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    clock = [paris(2026, 11, 20, 19)]
    monkeypatch.setattr(timezone, "now", lambda: clock[0].astimezone(UTC))
    amazon = make_channel(shop, "amazon")
    fnac = make_channel(shop, "fnac", kind="fnac")
    email = make_channel(shop, "shop", kind="email")
    convs = {}
    for channel in (amazon, fnac, email):
        result = ingest(
            InboundMessage.model_validate(
                {
                    "channel_id": channel.pk,
                    "external_id": f"friday-{channel.pk}",
                    "sender": {"identity_kind": "email", "identity_value": "b@example.com"},
                    "subject": "Ma commande",
                    "text": "Où est ma commande ?",
                    "sent_at": clock[0],
                }
            )
        )
        assert result.conversation_id is not None
        convs[channel.marketplace] = result.conversation_id

    expected = {
        # Amazon: 24 calendar hours, at risk after 18.
        ("sla_at_risk", convs["amazon"]): paris(2026, 11, 21, 13),
        ("sla_breached", convs["amazon"]): paris(2026, 11, 21, 19),
        # Fnac: 48 calendar hours, at risk after 36.
        ("sla_at_risk", convs["fnac"]): paris(2026, 11, 22, 7),
        ("sla_breached", convs["fnac"]): paris(2026, 11, 22, 19),
        # Own shop: 24 business hours, Monday to Friday 9:00-18:00; at risk after 18 of them.
        ("sla_at_risk", convs["shop"]): paris(2026, 11, 24, 18),
        ("sla_breached", convs["shop"]): paris(2026, 11, 25, 15),
    }
    assert Conversation.objects.get(pk=convs["shop"]).respond_by == paris(2026, 11, 25, 15)

    seen: dict[tuple[str, int], datetime] = {}
    step = timedelta(minutes=15)
    while clock[0] < paris(2026, 11, 26, 12):
        clock[0] += step
        before = len(notified)
        with django_capture_on_commit_callbacks(execute=True):
            sweep()
        for kind, ids in notified[before:]:
            for conv_id in ids:
                assert (kind, conv_id) not in seen, "notified twice"
                seen[(kind, conv_id)] = clock[0]
    assert seen == expected
    assert {
        c.pk: c.sla_state for c in Conversation.objects.filter(pk__in=convs.values())
    } == dict.fromkeys(convs.values(), SLAState.BREACHED)


# -- the marketplaces' late-response rates -------------------------------------------------------


def test_the_amazon_late_response_rate_counts_each_buyer_message_as_amazon_does(
    make_inbound: MakeInbound, channel: Channel, agent: User
) -> None:
    now = timezone.now()

    def buyer(thread: str, hours_ago: float) -> Conversation:
        return receive(make_inbound, thread_id=thread, sent_at=now - timedelta(hours=hours_ago))

    def seller(thread: str, hours_ago: float) -> None:
        receive(
            make_inbound,
            thread_id=thread,
            direction="out",
            sent_at=now - timedelta(hours=hours_ago),
        )

    buyer("on-time", 10)
    seller("on-time", 8)
    buyer("late-answer", 40)
    seller("late-answer", 10)  # 30 h later
    buyer("never", 30)
    resolved = buyer("resolved-unanswered", 50)
    actions.set_status(resolved, status=Status.RESOLVED, actor=agent)
    buyer("pending", 3)
    thanks = buyer("thanks", 5)
    actions.mark_no_response_needed(thanks, actor=agent)
    buyer("old", 24 * 12)  # late, 12 days ago: in the 30- and 90-day counts only
    receive(make_inbound, thread_id="auto", sent_at=now - timedelta(hours=30), is_auto=True)

    rates = late_response_rates(channel, now=now)
    week, month, quarter = rates.periods
    assert (week.days, month.days, quarter.days) == (7, 30, 90)
    assert (week.late, week.on_time, week.pending, week.excluded) == (3, 1, 1, 1)
    assert week.rate == pytest.approx(0.75)
    assert (month.late, month.on_time) == (4, 1)
    assert quarter.rate == pytest.approx(0.8)
    assert rates.target_hours == 24


def test_fnac_counts_48_hours_and_the_own_shop_its_business_hours(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    fnac = make_channel(shop, "fnac", kind="fnac")
    email = make_channel(shop, "shop", kind="email")
    friday = paris(2026, 11, 20, 19)
    monday_noon = paris(2026, 11, 23, 12)  # 65 calendar hours, 3 business hours later
    for channel in (fnac, email):
        for direction, at, ext in (("in", friday, "q"), ("out", monday_noon, "a")):
            ingest(
                InboundMessage.model_validate(
                    {
                        "channel_id": channel.pk,
                        "external_id": f"{ext}-{channel.pk}",
                        "thread_id": "t",
                        "direction": direction,
                        "sender": {"identity_kind": "email", "identity_value": "b@example.com"},
                        "text": "Bonjour",
                        "sent_at": at,
                    }
                )
            )
    later = paris(2026, 11, 24, 12)
    assert late_response_rates(fnac, now=later).periods[0].late == 1
    own = late_response_rates(email, now=later)
    assert own.business_hours is True
    assert (own.periods[0].late, own.periods[0].on_time) == (0, 1)


def test_the_api_gives_each_visible_channels_rates(
    client: Any, agent: User, channel: Channel, make_inbound: MakeInbound
) -> None:
    from comptoir.accounts.models import APIToken

    receive(make_inbound, sent_at=timezone.now() - timedelta(hours=30))
    _, token = APIToken.issue(agent, "test")
    response = client.get(
        "/api/v1/sla/late-response-rates", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    (row,) = response.json()
    assert row["channel_id"] == channel.pk
    assert [p["late"] for p in row["periods"]] == [1, 1, 1]
    assert row["periods"][0]["rate"] == 1.0


# -- the settings page and the inbox row ---------------------------------------------------------


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("admin2", "a@x.fr", "x", role="admin")


def test_the_sla_page_is_for_owners_and_admins_and_shows_policies_calendars_and_rates(
    client: Client, agent: User, admin: User, channel: Channel, make_inbound: MakeInbound
) -> None:
    receive(make_inbound, sent_at=timezone.now() - timedelta(hours=30))
    client.force_login(agent)
    assert client.get("/settings/sla/").status_code == 403
    client.force_login(admin)
    html = client.get("/settings/sla/").content.decode()
    assert channel.name in html
    assert "Amazon: answer buyer messages within 24 hours" in html
    assert "100 %" in html  # the one message is late
    assert "1 late of 1" in html


def test_an_admin_sets_a_business_hours_policy_and_a_calendar_with_a_closure(
    client: Client, admin: User, channel: Channel, shop: Shop
) -> None:
    client.force_login(admin)
    response = client.post(
        "/settings/sla/calendars/",
        {
            "shop": shop.pk,
            "new-name": "Atelier",
            "new-timezone": "Europe/Paris",
            "new-holiday_country": "FR",
            "new-holiday_subdivision": "",
            "new-hours_mon": "09:00-12:00, 14:00-18:00",
            "new-hours_tue": "09:00-18:00",
        },
    )
    assert response.status_code == 302, response.content.decode()
    calendar = BusinessCalendar.objects.get(name="Atelier")
    assert calendar.hours == {
        "0": [["09:00", "12:00"], ["14:00", "18:00"]],
        "1": [["09:00", "18:00"]],
    }

    prefix = f"policy{channel.pk}"
    response = client.post(
        f"/settings/sla/channels/{channel.pk}/",
        {
            f"{prefix}-first_response_hours": "4",
            f"{prefix}-next_response_hours": "2.5",
            f"{prefix}-mode": "business",
            f"{prefix}-calendar": calendar.pk,
            f"{prefix}-at_risk_percent": "50",
        },
    )
    assert response.status_code == 302
    # Monday 11:00 + 4 business hours: 1 h before noon, 3 h from 14:00 → 17:00.
    assert policies.respond_by_for(channel.pk, paris(2026, 11, 23, 11)) == paris(2026, 11, 23, 17)

    response = client.post(
        f"/settings/sla/calendars/{calendar.pk}/closures/",
        {
            f"closure{calendar.pk}-starts_at": "2026-11-23T14:00",
            f"closure{calendar.pk}-ends_at": "2026-11-23T16:00",
            f"closure{calendar.pk}-reason": "Inventaire",
        },
    )
    assert response.status_code == 302
    closure = calendar.closures.get()
    assert closure.starts_at == paris(2026, 11, 23, 14)  # wall time where the calendar is
    # The closure takes two of the afternoon's hours: 1 h + 2 h, then Tuesday 9:00 + 1 h.
    assert policies.respond_by_for(channel.pk, paris(2026, 11, 23, 11)) == paris(2026, 11, 24, 10)

    response = client.post(f"/settings/sla/channels/{channel.pk}/", {"reset": "1"})
    assert response.status_code == 302
    assert policies.policy_for(channel.pk).is_default


def test_a_bad_calendar_is_refused_with_the_reason(client: Client, admin: User, shop: Shop) -> None:
    client.force_login(admin)
    response = client.post(
        "/settings/sla/calendars/",
        {
            "shop": shop.pk,
            "new-name": "X",
            "new-timezone": "Mars/Olympus",
            "new-holiday_country": "FR",
            "new-hours_mon": "9h-18h",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "write opening hours as 09:00-12:00" in html
    assert not BusinessCalendar.objects.filter(name="X").exists()


def test_the_inbox_row_is_coloured_by_the_sla_state(
    client: Client, agent: User, make_inbound: MakeInbound
) -> None:
    conv = receive(make_inbound, sent_at=timezone.now() - timedelta(hours=20))
    client.force_login(agent)
    assert "due sla-ok" in client.get("/inbox/").content.decode()
    sweep()
    assert fresh(conv).sla_state == SLAState.AT_RISK
    assert "due sla-at_risk" in client.get("/inbox/").content.decode()
