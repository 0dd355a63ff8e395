"""Automation rules: triggers from the event log, conditions, actions and their safety."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import Role, Team, User
from comptoir.automation import conditions, engine, preview
from comptoir.automation import rules as rule_actions
from comptoir.automation.actions import save_template
from comptoir.automation.models import (
    RoundRobin,
    Rule,
    RulePump,
    RuleRun,
    RunOutcome,
    Template,
    Trigger,
)
from comptoir.connectors.base import InboundMessage, OrderData
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import (
    Channel,
    Conversation,
    Direction,
    Event,
    EventKind,
    Message,
    Priority,
    Status,
    Tag,
)
from comptoir.orders.actions import record_late_orders, store_order
from comptoir.orders.models import Order, OrderStatus

STOP = [{"type": "stop"}]
MakeInbound = Callable[..., InboundMessage]
NewConversation = Callable[..., Conversation]


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def new_conversation(make_inbound: MakeInbound) -> NewConversation:
    def build(**overrides: Any) -> Conversation:
        result = ingest(make_inbound(**overrides))
        assert result.conversation_id is not None, result.error
        return Conversation.objects.get(pk=result.conversation_id)

    return build


@pytest.fixture(autouse=True)
def _forget_cached_rules() -> None:
    # Whether any rule is active is cached per process; another test's rules must not count.
    engine._has_rules[0] = 0.0


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("alex", "alex@example.com", "pw", role=Role.OWNER)


def make_rule(
    name: str = "rule",
    *,
    trigger: str = Trigger.MESSAGE_RECEIVED,
    when: dict[str, Any] | None = None,
    do: list[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> Rule:
    return rule_actions.create_rule(
        actor=None,
        name=name,
        trigger=trigger,
        conditions=when or {},
        actions=do or [{"type": "tag", "tag": name}],
        **kwargs,
    )


def tags(conv: Conversation) -> set[str]:
    return set(Conversation.objects.get(pk=conv.pk).tags.values_list("name", flat=True))


def runs(rule: Rule) -> list[RuleRun]:
    return list(RuleRun.objects.filter(rule=rule).order_by("pk"))


@pytest.fixture
def templates(db: None) -> dict[str, Template]:
    """Real templates: an acknowledgement, one needing a tracking number no one has, and one
    with a link (which the pre-send checks block on Amazon)."""

    def make(name: str, fr: str, en: str) -> Template:
        return save_template(None, name=name, shop=None, versions={"fr": ("", fr), "en": ("", en)})

    return {
        "ack": make(
            "Accusé de réception",
            "Bonjour{% if customer_name %} {{ customer_name }}{% endif %}, nous vous répondons "
            "au plus vite.",
            'Hello {{ customer_name | default("there") }}, we will answer shortly.',
        ),
        "tracking": make(
            "Suivi", "Votre colis : {{ tracking_number }}", "Your parcel: {{ tracking_number }}"
        ),
        "link": make("Lien", "Voir https://example.com/aide", "See https://example.com/help"),
    }


def reply_with(template: Template, **extra: Any) -> list[dict[str, Any]]:
    return [{"type": "reply_template", "template_id": template.pk, **extra}]


@pytest.fixture
def business_hours(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The SLA calendar's answer, set by the test."""
    answer = [True]
    monkeypatch.setattr(conditions, "is_business_hours", lambda channel_id, at: answer[0])
    return answer


def auto_replies(conv: Conversation | None = None) -> list[Message]:
    qs = Message.objects.filter(direction=Direction.OUT, is_auto=True)
    if conv is not None:
        qs = qs.filter(conversation=conv)
    return list(qs)


# -- ordering and at most once -----------------------------------------------------------------


def test_rules_run_in_order_and_each_sees_what_the_previous_did(
    new_conversation: NewConversation,
) -> None:
    second = make_rule("second", when={"all": [{"type": "tags", "values": ["first"]}]})
    first = make_rule("first")
    rule_actions.reorder(actor=None, rule_ids=[first.pk, second.pk])
    conv = new_conversation()

    result = engine.pump()

    assert result.runs == 2
    assert tags(conv) == {"first", "second"}
    assert runs(first)[0].pk < runs(second)[0].pk
    assert set(
        Event.objects.filter(conversation=conv, kind=EventKind.TAGGED).values_list(
            "actor_label", flat=True
        )
    ) == {f"rule:{first.pk}", f"rule:{second.pk}"}


def test_a_rule_on_the_words_alone_is_tested_without_reloading_but_acts_on_the_fresh_conversation(
    new_conversation: NewConversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_rule("first")
    unmatched = make_rule("unmatched", when={"any": [{"type": "keywords", "words": ["zzz"]}]})
    words = make_rule("words", when={"any": [{"type": "keywords", "words": ["commande"]}]})
    rule_actions.reorder(actor=None, rule_ids=[first.pk, unmatched.pk, words.pk])
    conv = new_conversation()
    loads: list[set[int]] = []
    seen: dict[str, set[str]] = {}
    load, run = engine._load_conversations, engine.run_rule

    def counted(ids: Any) -> dict[int, Conversation]:
        loads.append(set(ids))
        return load(loads[-1])

    def spied(compiled: engine.Compiled, conv: Conversation, **kwargs: Any) -> Any:
        seen[compiled.rule.name] = {t.name for t in conv.tags.all()}
        return run(compiled, conv, **kwargs)

    monkeypatch.setattr(engine, "_load_conversations", counted)
    monkeypatch.setattr(engine, "run_rule", spied)

    assert engine.pump().runs == 2

    # Loaded for the batch, then once, before "words" acts (not to test "unmatched" or "words").
    assert loads == [{conv.pk}, {conv.pk}]
    assert seen == {"first": set(), "words": {"first"}}
    assert tags(conv) == {"first", "words"}


@pytest.mark.django_db(transaction=True)
def test_the_pump_queues_one_facts_refresh_for_all_its_runs(
    new_conversation: NewConversation,
) -> None:
    make_rule("tagger")
    convs = [new_conversation(thread_id=str(i), external_id=f"facts-{i}") for i in range(3)]
    refresh = "comptoir.analytics.tasks.refresh_facts"
    DBTaskResult.objects.filter(task_path=refresh).delete()  # ingest's own

    assert engine.pump().runs == 3  # three transactions

    (task,) = DBTaskResult.objects.filter(task_path=refresh)
    assert task.args_kwargs["args"] == [sorted(c.pk for c in convs)]


def test_reordering_changes_which_rule_runs_first(new_conversation: NewConversation) -> None:
    make_rule("a", stop_processing=True)
    b = make_rule("b")
    before = new_conversation(thread_id="1")
    engine.pump()
    assert tags(before) == {"a"}

    rule_actions.move(b, actor=None, offset=-1)
    after = new_conversation(thread_id="2")
    engine.pump()

    assert tags(after) == {"a", "b"}
    assert list(Rule.objects.values_list("name", flat=True)) == ["b", "a"]


def test_a_stopping_rule_keeps_later_rules_from_running(new_conversation: NewConversation) -> None:
    make_rule("stopper", stop_processing=True)
    later = make_rule("later")
    by_action = make_rule("by-action", do=[{"type": "tag", "tag": "x"}, {"type": "stop"}])
    rule_actions.reorder(actor=None, rule_ids=[by_action.pk])
    conv = new_conversation()

    engine.pump()

    assert tags(conv) == {"x"}
    assert runs(later) == []


def test_a_rule_runs_once_per_event_however_often_the_pump_runs(
    new_conversation: NewConversation,
) -> None:
    rule = make_rule("once", do=[{"type": "add_note", "text": "seen"}])
    conv = new_conversation()

    engine.pump()
    engine.pump()
    # A worker that missed the first run's cursor (it died before saving it) reads it all again.
    RulePump.objects.update(position=0, seen=[])
    engine.pump()

    assert len(runs(rule)) == 1
    assert Message.objects.filter(conversation=conv, direction=Direction.NOTE).count() == 1
    # A follow-up is a new event: the rule runs for it.
    new_conversation(thread_id="", in_reply_to="", subject=conv.subject)
    engine.pump()
    assert len(runs(rule)) == 2


def test_two_workers_on_the_same_events_run_each_rule_once(
    transactional_db: None, make_inbound: MakeInbound
) -> None:
    rule = make_rule("race", do=[{"type": "add_note", "text": "once"}])
    for i in range(5):
        ingest(make_inbound(thread_id=f"t{i}"))
    events = list(Event.objects.order_by("pk"))
    compiled = engine.active_rules(engine.EVENT_TRIGGERS)
    barrier = threading.Barrier(2)
    made: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            # The lease is bypassed on purpose: this is what two pumps would do at once.
            made.append(engine.handle_events(events, compiled, timezone.now()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert sum(made) == 5
    assert RuleRun.objects.filter(rule=rule).count() == 5
    assert Message.objects.filter(direction=Direction.NOTE).count() == 5


def test_a_second_pump_returns_while_the_first_holds_the_lease(
    new_conversation: NewConversation,
) -> None:
    from comptoir.jobs import leases

    make_rule("leased")
    new_conversation()
    assert leases.hold(engine.LEASE, "other-worker", engine.LEASE_TTL)

    assert engine.pump(holder="me").busy
    assert RuleRun.objects.count() == 0

    leases.release(engine.LEASE, "other-worker")
    assert engine.pump(holder="me").runs == 1


def test_a_rule_does_not_act_on_history_from_before_it_was_switched_on(
    new_conversation: NewConversation,
) -> None:
    old = new_conversation(thread_id="old")
    rule = make_rule("new")
    fresh = new_conversation(thread_id="fresh")

    engine.pump()

    assert tags(old) == set()
    assert tags(fresh) == {"new"}
    rule_actions.set_active(rule, actor=None, active=False)
    off = new_conversation(thread_id="while-off")
    rule_actions.set_active(rule, actor=None, active=True)
    engine.pump()
    assert tags(off) == set()


def test_the_cursor_waits_for_a_hole_then_passes_it() -> None:
    now = timezone.now()
    # 3 is missing: maybe a transaction still open, maybe rolled back.
    position, seen, since = engine._advance(0, {1, 2, 4, 5}, None, 0, now)
    assert (position, seen, since) == (2, {4, 5}, now)
    # It commits: it is read (the pump reads ids between the cursor and the top not seen).
    assert engine._advance(2, {3, 4, 5}, now, 5, now)[:2] == (5, set())
    # It never comes: passed over once SETTLE has gone by, and not before.
    later = now + engine.SETTLE / 2
    assert engine._advance(2, {4, 5}, now, 5, later) == (2, {4, 5}, now)
    much_later = now + engine.SETTLE
    assert engine._advance(2, {4, 5, 8}, now, 5, much_later) == (5, {8}, much_later)
    # A hole noticed later (7, above the top of the first wait) waits its own SETTLE.
    assert engine._advance(5, {8}, much_later, 8, much_later + engine.SETTLE / 2) == (
        5,
        {8},
        much_later,
    )


def test_a_hole_noticed_during_a_wait_gets_a_wait_of_its_own(
    new_conversation: NewConversation,
) -> None:
    make_rule("holes")

    def hide(conv: Conversation) -> list[dict[str, Any]]:
        """As if the transaction that wrote these events had not committed yet."""
        events = Event.objects.filter(conversation=conv)
        rows = list(events.values())
        events.delete()
        return rows

    start = timezone.now()
    a = new_conversation(thread_id="a")
    new_conversation(thread_id="b")
    hide(a)  # never comes: rolled back
    engine.pump(now=start)
    d = new_conversation(thread_id="d")
    new_conversation(thread_id="e")
    d_rows = hide(d)  # noticed halfway through the first wait
    engine.pump(now=start + engine.SETTLE / 2)
    engine.pump(now=start + engine.SETTLE)  # a's hole is passed over, not d's
    Event.objects.bulk_create([Event(**row) for row in d_rows])  # d commits, late
    engine.pump(now=start + engine.SETTLE * 1.2)

    assert tags(d) == {"holes"}
    assert tags(a) == set()


def test_an_event_committed_late_below_the_cursor_top_is_still_handled(
    new_conversation: NewConversation,
) -> None:
    rule = make_rule("late")
    first = new_conversation(thread_id="a")
    second = new_conversation(thread_id="b")
    late_event = Event.objects.filter(conversation=first, kind=EventKind.MESSAGE_RECEIVED).get()
    # As if the first message's transaction committed after the pump had read the second's.
    RulePump.objects.update_or_create(
        name=engine.PUMP,
        defaults={
            "position": late_event.pk - 1,
            "seen": list(Event.objects.filter(pk__gt=late_event.pk).values_list("pk", flat=True)),
            "gap_since": timezone.now(),
        },
    )

    engine.pump()

    assert tags(first) == {"late"}
    assert tags(second) == set()  # its events were handled already (seen)
    assert len(runs(rule)) == 1


# -- no loops ----------------------------------------------------------------------------------


def test_what_a_rule_does_never_triggers_a_rule(
    new_conversation: NewConversation, agent: User
) -> None:
    # Reopens whatever is resolved, and notes it: its own reopening is a status change too.
    reopen = make_rule(
        "reopen",
        trigger=Trigger.STATUS_CHANGED,
        do=[
            {"type": "add_note", "text": "reopened by rule"},
            {"type": "set_status", "status": "open"},
        ],
        stop_processing=True,
    )
    # Would answer the rule's reopening (an open conversation), if rules fed rules.
    urgent = make_rule(
        "urgent",
        trigger=Trigger.STATUS_CHANGED,
        when={"all": [{"type": "status", "values": ["open"]}]},
        do=[{"type": "set_priority", "priority": 3}],
    )
    conv = new_conversation()
    engine.pump()
    actions.set_status(conv, status=Status.RESOLVED, actor=agent)

    for _ in range(3):
        engine.pump()

    conv.refresh_from_db()
    assert conv.status == Status.OPEN
    assert conv.priority == Priority.NORMAL
    assert len(runs(reopen)) == 1
    assert runs(urgent) == []
    assert Message.objects.filter(conversation=conv, direction=Direction.NOTE).count() == 1
    assert Event.objects.filter(
        conversation=conv, kind=EventKind.STATUS_CHANGED, actor_label=f"rule:{reopen.pk}"
    ).exists()


# -- auto-replies ------------------------------------------------------------------------------


def test_auto_reply_is_sent_once_per_customer_per_window(
    new_conversation: NewConversation,
    templates: dict[str, Template],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rule = make_rule("ack", do=reply_with(templates["ack"]))
    first = new_conversation(thread_id="one")
    engine.pump()
    second = new_conversation(thread_id="two")  # same buyer, another conversation
    engine.pump()

    [reply] = auto_replies()
    assert reply.conversation_id == first.pk
    # In the conversation's language (French), with the buyer's name.
    assert reply.text == "Bonjour Jeanne Martin, nous vous répondons au plus vite."
    assert Template.objects.get(pk=templates["ack"].pk).usage_count == 1
    first.refresh_from_db()
    assert first.needs_reply  # an acknowledgement is not the answer
    assert [r.outcome for r in runs(rule)] == [RunOutcome.DONE, RunOutcome.SKIPPED]
    assert "automatic reply in the last 24 h" in runs(rule)[1].detail[0]["note"]

    # A day later the same buyer may be acknowledged again.
    later = timezone.now() + timedelta(hours=25)
    monkeypatch.setattr(timezone, "now", lambda: later)
    new_conversation(thread_id="three", sent_at=later)
    engine.pump(now=later)
    assert len(auto_replies()) == 2
    assert second.pk not in {m.conversation_id for m in auto_replies()}


def test_auto_reply_window_is_configurable(
    new_conversation: NewConversation, templates: dict[str, Template], settings: Any
) -> None:
    settings.AUTO_REPLY_MIN_HOURS = 0
    make_rule("ack", do=reply_with(templates["ack"]))
    new_conversation(thread_id="one")
    new_conversation(thread_id="two")
    engine.pump()
    assert len(auto_replies()) == 2


def test_no_auto_reply_to_an_automatic_message(
    new_conversation: NewConversation, templates: dict[str, Template]
) -> None:
    rule = make_rule("ack", do=[*reply_with(templates["ack"]), {"type": "tag", "tag": "seen"}])
    conv = new_conversation(is_auto=True, subject="Out of office")

    engine.pump()

    assert auto_replies() == []
    [run] = runs(rule)
    assert run.detail[0]["outcome"] == RunOutcome.SKIPPED
    assert "automatic" in run.detail[0]["note"]
    assert tags(conv) == {"seen"}  # the other actions still run


def test_an_auto_reply_that_cannot_be_filled_in_is_not_sent_and_the_run_failed(
    new_conversation: NewConversation, templates: dict[str, Template]
) -> None:
    rule = make_rule("bad", do=[*reply_with(templates["ack"]), {"type": "tag", "tag": "t"}])
    # Edited after the rule was saved: the rule form could not see it coming.
    unfillable = {"fr": ("", "Votre colis : {{ tracking_number }}"), "en": ("", "{{ carrier }}")}
    save_template(templates["ack"], name="Accusé de réception", shop=None, versions=unfillable)
    conv = new_conversation()

    engine.pump()

    assert auto_replies() == []
    [run] = runs(rule)
    assert run.outcome == RunOutcome.FAILED
    assert "tracking_number" in run.error
    assert tags(conv) == {"t"}  # the other actions still run


# -- what an automatic reply can fill ----------------------------------------------------------


def _rule_refusal(template: Template, trigger: str = Trigger.MESSAGE_RECEIVED) -> str:
    with pytest.raises(ValidationError) as refused:
        make_rule("auto", trigger=trigger, do=reply_with(template))
    return " ".join(refused.value.message_dict["actions"])


def test_a_rule_refuses_an_auto_reply_signed_with_the_agents_first_name(db: None) -> None:
    template = save_template(
        None,
        name="Signé",
        shop=None,
        versions={"fr": ("", "Merci !\n{{ agent_first_name }}, {{ shop_name }}")},
    )

    reason = _rule_refusal(template)

    assert "agent_first_name" in reason
    assert "can never fill" in reason
    assert not Rule.objects.exists()


def test_a_rule_refuses_an_order_number_with_no_fallback_and_names_how_to_give_one(
    db: None,
) -> None:
    bare = save_template(
        None, name="Commande", shop=None, versions={"fr": ("", "Votre commande {{ order_number }}")}
    )
    # Guarded on another variable only: still empty when the order is unknown.
    elsewhere = save_template(
        None,
        name="Ailleurs",
        shop=None,
        versions={"fr": ("", "{% if shop_name %}Commande {{ order_number }}{% endif %}")},
    )

    for template in (bare, elsewhere):
        reason = _rule_refusal(template)
        assert "order_number" in reason
        assert '{{ order_number | default("…") }}' in reason
    assert not Rule.objects.exists()


def test_a_rule_accepts_an_absent_variable_with_a_fallback_or_a_guard_and_uses_them(
    new_conversation: NewConversation,
) -> None:
    template = save_template(
        None,
        name="Avec repli",
        shop=None,
        versions={
            "fr": (
                "Commande {{ order_number | default('en attente') }}",
                "Bonjour{% if customer_first_name %} {{ customer_first_name }}{% endif %}, "
                "commande {{ order_number or 'sans numéro' }}. Réponse le {{ reply_by }}.",
            )
        },
    )
    make_rule("auto", do=reply_with(template))
    new_conversation(sender={"identity_value": "x@y.fr", "email": "x@y.fr", "name": ""})

    engine.pump()

    [reply] = auto_replies()
    assert reply.text.startswith("Bonjour, commande sans numéro. Réponse le ")


def test_the_reply_deadline_is_known_only_to_rules_on_a_buyer_message(db: None) -> None:
    template = save_template(
        None, name="Délai", shop=None, versions={"fr": ("", "Réponse le {{ reply_by }}.")}
    )

    make_rule("on message", do=reply_with(template))  # a waiting buyer message has one
    assert "reply_by" in _rule_refusal(template, trigger=Trigger.ORDER_SHIPPED)


def test_the_rules_api_refuses_an_auto_reply_it_cannot_fill(client: Any, supervisor: User) -> None:
    template = save_template(
        None, name="Signé", shop=None, versions={"en": ("", "Thanks, {{ agent_first_name }}")}
    )

    response = client.post(
        f"{API}/rules",
        {"name": "Ack", "trigger": "message_received", "actions": reply_with(template)},
        content_type="application/json",
        headers=bearer(supervisor),
    )

    assert response.status_code == 422
    assert "agent_first_name" in str(response.json()["detail"])
    assert not Rule.objects.exists()


def test_the_rule_form_shows_why_an_auto_reply_is_refused(client: Any, supervisor: User) -> None:
    template = save_template(
        None, name="Commande", shop=None, versions={"fr": ("", "Commande {{ order_number }}")}
    )
    client.force_login(supervisor)

    response = client.post(
        "/settings/rules/new",
        _form(**{"actions-0-type": "reply_template", "actions-0-template": str(template.pk)}),
    )

    assert response.status_code == 200
    assert "order_number" in response.content.decode()
    assert not Rule.objects.exists()


def test_a_failed_auto_reply_notifies_the_rules_creator_once_an_hour(
    new_conversation: NewConversation, templates: dict[str, Template], supervisor: User
) -> None:
    from comptoir.notifications.models import Notification

    rule = rule_actions.create_rule(
        actor=supervisor, name="Accusé", trigger=Trigger.MESSAGE_RECEIVED,
        actions=reply_with(templates["ack"]),
    )  # fmt: skip
    save_template(
        templates["ack"], name="Accusé", shop=None, versions={"fr": ("", "{{ order_number }}")}
    )
    first = new_conversation(thread_id="a", language="fr")
    new_conversation(thread_id="b", language="fr", sender={"identity_value": "z@z.fr"})

    engine.pump()

    assert [r.outcome for r in runs(rule)] == [RunOutcome.FAILED, RunOutcome.FAILED]
    [notice] = Notification.objects.all()
    assert (notice.user, notice.kind, notice.conversation_id) == (
        supervisor,
        "rule_failed",
        first.pk,
    )
    assert "Accusé" in notice.text
    assert "order_number" in notice.text


def test_a_failed_run_of_a_rule_without_creator_notifies_owners_and_admins(
    new_conversation: NewConversation,
    templates: dict[str, Template],
    admin: User,
    supervisor: User,
) -> None:
    from comptoir.notifications.models import Notification

    make_rule("sans auteur", do=reply_with(templates["ack"]))  # made by the system
    save_template(templates["ack"], name="x", shop=None, versions={"fr": ("", "{{ carrier }}")})
    new_conversation(language="fr")

    engine.pump()

    assert list(Notification.objects.values_list("user__username", "kind")) == [
        (admin.username, "rule_failed")
    ]


def test_the_template_editor_names_the_rules_an_edit_left_unable_to_fill_it(
    client: Any, supervisor: User, templates: dict[str, Template]
) -> None:
    rule = make_rule("Accusé hors horaires", do=reply_with(templates["ack"]))
    make_rule("Éteinte", do=reply_with(templates["ack"]), is_active=False)
    client.force_login(supervisor)
    url = f"/settings/templates/{templates['ack'].pk}/"
    assert "Rules reply automatically" not in client.get(url).content.decode()

    save_template(
        templates["ack"], name="Accusé", shop=None, versions={"fr": ("", "N° {{ order_number }}")}
    )

    html = client.get(url).content.decode()
    assert "Rules reply automatically with this template" in html
    assert f'href="/settings/rules/{rule.pk}/">Accusé hors horaires</a>' in html
    assert "order_number" in html
    assert "Éteinte" not in html


def test_the_rules_page_shows_the_last_failure_of_a_rule(
    client: Any, supervisor: User, new_conversation: NewConversation, templates: dict[str, Template]
) -> None:
    rule = make_rule("Accusé", do=reply_with(templates["ack"]))
    save_template(templates["ack"], name="x", shop=None, versions={"fr": ("", "{{ carrier }}")})
    new_conversation(language="fr")
    engine.pump()
    client.force_login(supervisor)

    html = client.get("/settings/rules/").content.decode()

    assert f'href="/settings/rules/{rule.pk}/#recent-runs">1 failed' in html
    assert "Last failure:" in html
    assert "carrier" in html
    detail = client.get(f"/settings/rules/{rule.pk}/").content.decode()
    assert "No value for carrier" in detail


def test_an_auto_reply_a_pre_send_check_blocks_is_not_sent(
    new_conversation: NewConversation, templates: dict[str, Template]
) -> None:
    rule = make_rule("link", do=reply_with(templates["link"]))
    new_conversation()  # on Amazon, where links are forbidden

    engine.pump()

    assert auto_replies() == []
    [run] = runs(rule)
    assert run.outcome == RunOutcome.FAILED
    assert "reply_template" in run.error


# -- conditions --------------------------------------------------------------------------------


@pytest.fixture
def facts_for(
    new_conversation: NewConversation,
) -> Callable[..., conditions.Facts]:
    def build(conv: Conversation | None = None, **overrides: Any) -> conditions.Facts:
        conv = conv or new_conversation(**overrides)
        loaded = engine._load_conversations([conv.pk])[conv.pk]
        return engine._facts(loaded, engine._latest_inbound(loaded), timezone.now())

    return build


def check(data: dict[str, Any], facts: conditions.Facts) -> bool:
    return conditions.matches(conditions.parse(data), facts)


def leaf(type_: str, *values: Any, **kwargs: Any) -> dict[str, Any]:
    return {"all": [{"type": type_, "values": list(values), **kwargs}]}


def test_conditions_on_channel_marketplace_shop_language_intent_and_urgency(
    facts_for: Callable[..., conditions.Facts], channel: Channel
) -> None:
    facts = facts_for(language="fr")
    conv = facts.conversation
    Conversation.objects.filter(pk=conv.pk).update(intent="order_tracking")
    facts = facts_for(conv)

    assert check(leaf("channel", channel.pk), facts)
    assert not check(leaf("channel", channel.pk + 1), facts)
    assert check(leaf("marketplace", "amazon", "ebay"), facts)
    assert not check(leaf("marketplace", "fnac"), facts)
    assert check(leaf("shop", conv.shop_id), facts)
    assert check(leaf("language", "FR"), facts)
    assert not check(leaf("language", "de"), facts)
    assert check(leaf("intent", "order_tracking"), facts)
    # No urgency yet (triage has not set one): it is empty, never an error.
    assert not check(leaf("urgency", "high"), facts)
    assert check(leaf("urgency", ""), facts)
    assert check(leaf("marketplace", "fnac", negate=True), facts)
    assert check(leaf("sla_state", "ok"), facts)
    assert not check(leaf("sla_state", "breached"), facts)


def test_keywords_ignore_case_and_accents_and_match_whole_words(
    facts_for: Callable[..., conditions.Facts],
) -> None:
    facts = facts_for(subject="Où est ma COMMANDE ?", text="Le colis est arrivé cassé.")

    def kw(*words: str, where: str = "any") -> dict[str, Any]:
        return {"all": [{"type": "keywords", "where": where, "words": list(words)}]}

    assert check(kw("ou est ma commande"), facts)
    assert check(kw("casse", where="body"), facts)
    assert not check(kw("casse", where="subject"), facts)
    assert not check(kw("mande"), facts)  # a word, not a piece of one
    assert not check(kw("damaged", "beschädigt"), facts)


def test_keywords_find_the_other_forms_of_a_word_but_not_a_longer_word(
    facts_for: Callable[..., conditions.Facts],
) -> None:
    def found(word: str, text: str) -> bool:
        facts = facts_for(subject="", text=text)
        return check({"all": [{"type": "keywords", "words": [word]}]}, facts)

    for text in ("La lampe est cassée.", "Deux verres cassés", "Il casse tout", "CASSE"):
        assert found("cassé", text), text
    assert found("colis reçu", "Les colis reçus sont abîmés")
    assert found("damaged", "The box was damage-free? No, damage everywhere.")
    assert found("order", "My orders never came")
    assert not found("order", "It is at the border")
    assert not found("cassé", "Une cassette audio")
    assert not found("les", "Le colis")  # short words keep their form


def test_regex_conditions_search_subject_or_body(
    facts_for: Callable[..., conditions.Facts],
) -> None:
    facts = facts_for(subject="Order 123-4567890-1234567", text="hello")

    def rx(pattern: str, where: str = "any") -> dict[str, Any]:
        return {"all": [{"type": "regex", "where": where, "pattern": pattern}]}

    assert check(rx(r"\d{3}-\d{7}-\d{7}", "subject"), facts)
    assert not check(rx(r"\d{3}-\d{7}-\d{7}", "body"), facts)
    assert check(rx(r"^HELLO$", "body"), facts)


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(unclosed", "invalid pattern"),
        ("(a+)+$", "repeats a repetition"),
        (r"(\w*\s?)*x", "repeats a repetition"),
        ("(a|aa)*c", "too slow"),
        ("a" * 400, "at most"),
    ],
)
def test_a_regex_that_is_invalid_or_too_slow_is_refused_on_save(
    db: None, pattern: str, why: str
) -> None:
    with pytest.raises(ValidationError) as info:
        make_rule("rx", when={"all": [{"type": "regex", "pattern": pattern}]})
    assert why in str(info.value)
    assert not Rule.objects.exists()


def test_customer_tag_and_past_conversations(
    facts_for: Callable[..., conditions.Facts], new_conversation: NewConversation
) -> None:
    earlier = new_conversation(thread_id="earlier")
    actions.tag_conversation(earlier, tag="vip", actor=None)
    facts = facts_for(thread_id="now")

    assert check(leaf("customer_tag", "vip"), facts)
    assert not check(leaf("customer_tag", "blocked"), facts)
    assert check({"all": [{"type": "past_conversations", "min": 1}]}, facts)
    assert not check({"all": [{"type": "past_conversations", "min": 2}]}, facts)
    assert check({"all": [{"type": "past_conversations", "max": 1}]}, facts)
    stranger = facts_for(
        thread_id="other",
        sender={"identity_kind": "email", "identity_value": "new@example.com"},
    )
    assert check({"all": [{"type": "past_conversations", "max": 0}]}, stranger)
    assert not check(leaf("customer_tag", "vip"), stranger)


def test_order_status_assignee_tags_and_status(
    facts_for: Callable[..., conditions.Facts], channel: Channel, agent: User
) -> None:
    facts = facts_for(order_number="ORD-1")
    conv = facts.conversation
    assert check(leaf("order_status", "none"), facts)
    assert check(leaf("assignee", "none"), facts)
    assert check(leaf("status", "open"), facts)

    store_order(channel, OrderData(external_id="ORD-1", status="shipped"))
    actions.assign_conversation(conv, assignee=agent, actor=None)
    actions.tag_conversation(conv, tag="fragile", actor=None)
    facts = facts_for(conv)

    assert check(leaf("order_status", "shipped"), facts)
    assert not check(leaf("order_status", "delivered"), facts)
    assert check(leaf("assignee", agent.pk), facts)
    assert not check(leaf("assignee", "none"), facts)
    assert check(leaf("tags", "fragile", "other"), facts)
    assert not check(leaf("tags", "other"), facts)


def test_business_hours_condition_asks_the_sla_calendar(
    facts_for: Callable[..., conditions.Facts], business_hours: list[bool]
) -> None:
    facts = facts_for()
    out_of_hours = {"all": [{"type": "business_hours", "value": False}]}
    assert not check(out_of_hours, facts)
    business_hours[0] = False
    assert check(out_of_hours, facts)


def test_nested_all_and_any_groups(facts_for: Callable[..., conditions.Facts]) -> None:
    facts = facts_for(subject="Where is my order?", language="en")
    nested = {
        "all": [
            {"type": "marketplace", "values": ["amazon"]},
            {
                "any": [
                    {"type": "intent", "values": ["order_tracking"]},
                    {"type": "keywords", "words": ["where is my order", "wo ist"]},
                ]
            },
            {"any": [{"type": "language", "values": ["de"]}], "negate": True},
        ]
    }
    assert check(nested, facts)
    nested["all"][2] = {"any": [{"type": "language", "values": ["en"]}], "negate": True}
    assert not check(nested, facts)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"all": [{"type": "colour", "values": ["red"]}]}, "colour"),
        ({"all": [{"type": "channel"}]}, "values"),
        ({"all": [], "any": []}, "not both"),
        ({"all": [{"all": [{"all": [{"all": [{"all": [{"all": []}]}]}]}]}]}, "nested"),
        ([1, 2], "must be an object"),
    ],
)
def test_malformed_conditions_are_refused(db: None, data: Any, why: str) -> None:
    with pytest.raises(ValidationError) as info:
        make_rule("bad", when=data)
    assert why in str(info.value)


# -- actions -----------------------------------------------------------------------------------


def test_actions_tag_priority_status_snooze_note_and_agent(
    new_conversation: NewConversation, agent: User
) -> None:
    rule = make_rule(
        "all",
        do=[
            {"type": "tag", "tag": "auto"},
            {"type": "set_priority", "priority": Priority.URGENT},
            {"type": "assign_agent", "user_id": agent.pk},
            {"type": "add_note", "text": "Rule says hi"},
            {"type": "set_status", "status": "pending"},
            {"type": "snooze", "hours": 2},
        ],
    )
    conv = new_conversation()
    now = timezone.now()

    engine.pump(now=now)

    conv.refresh_from_db()
    assert tags(conv) == {"auto"}
    assert conv.priority == Priority.URGENT
    assert conv.assignee_id == agent.pk
    assert conv.status == Status.SNOOZED
    assert conv.snoozed_until == now + timedelta(hours=2)
    assert Message.objects.get(conversation=conv, direction=Direction.NOTE).text == "Rule says hi"
    [run] = runs(rule)
    assert run.outcome == RunOutcome.DONE
    assert [d["type"] for d in run.detail] == [a["type"] for a in rule.actions]
    labels = set(
        Event.objects.filter(conversation=conv)
        .exclude(kind__in=[EventKind.CREATED, EventKind.MESSAGE_RECEIVED])
        .values_list("actor_label", flat=True)
    )
    assert labels == {f"rule:{rule.pk}"}


def test_notify_action_calls_the_notifications_entry_point(
    new_conversation: NewConversation, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.notifications import actions as notifications

    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(notifications, "notify", lambda kind, **kw: calls.append((kind, kw)))
    make_rule("tell", do=[{"type": "notify", "user_ids": [agent.pk], "text": "Look"}])
    conv = new_conversation()

    engine.pump()

    assert calls == [("rule", {"conversations": [conv.pk], "users": [agent.pk], "text": "Look"})]


@pytest.fixture
def logistics(db: None) -> tuple[Team, list[User]]:
    team = Team.objects.create(name="Logistics")
    users = [
        User.objects.create_user(f"log{i}", f"log{i}@example.com", "pw", role=Role.AGENT)
        for i in range(3)
    ]
    team.members.add(*users)
    # An analyst in the team reads only: never given a conversation.
    team.members.add(User.objects.create_user("reader", "r@example.com", "pw", role=Role.ANALYST))
    return team, users


def test_round_robin_gives_a_team_conversations_in_turn(
    new_conversation: NewConversation, logistics: tuple[Team, list[User]]
) -> None:
    team, users = logistics
    make_rule("route", do=[{"type": "assign_team", "team_id": team.pk, "strategy": "round_robin"}])
    convs = [new_conversation(thread_id=f"t{i}") for i in range(4)]

    engine.pump()

    assignees = [Conversation.objects.get(pk=c.pk).assignee_id for c in convs]
    assert assignees == [users[0].pk, users[1].pk, users[2].pk, users[0].pk]
    assert {Conversation.objects.get(pk=c.pk).team_id for c in convs} == {team.pk}
    assert RoundRobin.objects.get(team=team).last_user_id == users[0].pk


def test_least_load_gives_the_conversation_to_the_least_busy_member(
    new_conversation: NewConversation, logistics: tuple[Team, list[User]]
) -> None:
    team, users = logistics
    busy = [new_conversation(thread_id=f"busy{i}") for i in range(3)]
    resolved = new_conversation(thread_id="done")
    for given in (*busy, resolved):  # the team's, so that its members may be given them
        actions.assign_team(given, team_id=team.pk, actor=None)
    actions.assign_conversation(busy[0], assignee=users[0], actor=None)
    actions.assign_conversation(busy[1], assignee=users[0], actor=None)
    actions.assign_conversation(busy[2], assignee=users[1], actor=None)
    actions.assign_conversation(resolved, assignee=users[2], actor=None)
    actions.set_status(resolved, status=Status.RESOLVED, actor=None)  # does not count
    make_rule("route", do=[{"type": "assign_team", "team_id": team.pk, "strategy": "least_load"}])
    first = new_conversation(thread_id="n1")
    engine.pump()
    second = new_conversation(thread_id="n2")
    engine.pump()

    assert Conversation.objects.get(pk=first.pk).assignee_id == users[2].pk
    # users[1] and users[2] now have one each: the lower id wins.
    assert Conversation.objects.get(pk=second.pk).assignee_id == users[1].pk


def test_actions_naming_missing_users_or_teams_are_refused_on_save(agent: User) -> None:
    for bad in (
        {"type": "assign_agent", "user_id": 999_999},
        {"type": "assign_team", "team_id": 999_999},
        {"type": "reply_template", "template_id": 999_999},
        {"type": "teleport"},
    ):
        with pytest.raises(ValidationError):
            make_rule("bad", do=[bad])
    with pytest.raises(ValidationError):
        rule_actions.create_rule(actor=None, name="none", trigger="created", actions=[])
    assert not Rule.objects.exists()


def test_only_owners_admins_and_supervisors_manage_rules(
    agent: User, supervisor: User, admin: User
) -> None:
    with pytest.raises(PermissionDenied):
        rule_actions.create_rule(
            actor=agent, name="x", trigger="created", actions=[{"type": "stop"}]
        )
    for user in (supervisor, admin):
        rule_actions.create_rule(
            actor=user, name="x", trigger="created", actions=[{"type": "stop"}]
        )
    assert Rule.objects.count() == 2


# -- order events ------------------------------------------------------------------------------


def test_order_shipped_and_delivered_events_trigger_rules(
    new_conversation: NewConversation, channel: Channel
) -> None:
    shipped = make_rule("shipped", trigger=Trigger.ORDER_SHIPPED)
    delivered = make_rule("delivered", trigger=Trigger.ORDER_DELIVERED)
    conv = new_conversation(order_number="ORD-9")
    store_order(channel, OrderData(external_id="ORD-9", status="accepted"))
    assert not Event.objects.filter(kind__startswith="order_s").exists()

    store_order(channel, OrderData(external_id="ORD-9", status="shipped"))
    store_order(channel, OrderData(external_id="ORD-9", status="shipped"))  # no change
    engine.pump()

    [event] = Event.objects.filter(conversation=conv, kind=EventKind.ORDER_SHIPPED)
    assert event.data["order_number"] == "ORD-9"
    assert event.data["previous"] == "accepted"
    assert tags(conv) == {"shipped"}

    store_order(channel, OrderData(external_id="ORD-9", status="delivered"))
    engine.pump()
    assert tags(conv) == {"shipped", "delivered"}
    assert len(runs(shipped)) == len(runs(delivered)) == 1


def test_late_orders_get_one_event_and_trigger_rules(
    new_conversation: NewConversation, channel: Channel
) -> None:
    rule = make_rule(
        "late", trigger=Trigger.ORDER_LATE, do=[{"type": "set_priority", "priority": 3}]
    )
    now = timezone.now()
    conv = new_conversation(order_number="L-1")
    store_order(
        channel, OrderData(external_id="L-1", status="accepted", ship_by=now + timedelta(hours=1))
    )
    on_time = new_conversation(thread_id="x", order_number="L-2")
    store_order(
        channel, OrderData(external_id="L-2", status="shipped", ship_by=now - timedelta(hours=1))
    )

    assert record_late_orders(now) == 0
    later = now + timedelta(hours=2)
    assert record_late_orders(later) == 1
    assert record_late_orders(later + timedelta(hours=1)) == 0
    engine.pump()

    assert Conversation.objects.get(pk=conv.pk).priority == Priority.URGENT
    assert Conversation.objects.get(pk=on_time.pk).priority == Priority.NORMAL
    assert len(runs(rule)) == 1
    assert Order.objects.get(external_id="L-1").status == OrderStatus.ACCEPTED


# -- time-based --------------------------------------------------------------------------------


def test_no_reply_from_the_buyer_for_n_days_runs_once_per_silence(
    new_conversation: NewConversation, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = make_rule(
        "chase",
        trigger=Trigger.BUYER_SILENT,
        silent_days=3,
        do=[{"type": "set_status", "status": "resolved"}],
    )
    conv = new_conversation()
    quiet = new_conversation(thread_id="answered-late")
    actions.reply(conv, actor=agent, text="Here is your tracking number.")
    actions.reply(quiet, actor=agent, text="Any news?")
    start = timezone.now()

    assert engine.run_silent_rules(start + timedelta(days=2)) == 0
    # The buyer of `quiet` answers on day 2: its silence is over.
    new_conversation(thread_id="answered-late", sent_at=start + timedelta(days=2))
    assert engine.run_silent_rules(start + timedelta(days=3, minutes=1)) == 1
    assert engine.run_silent_rules(start + timedelta(days=4)) == 0

    conv.refresh_from_db()
    assert conv.status == Status.RESOLVED
    assert Conversation.objects.get(pk=quiet.pk).status == Status.OPEN
    [run] = runs(rule)
    assert run.anchor_at == conv.last_outbound_at
    # Reopened and answered again: a new silence, a new run.
    actions.set_status(conv, status=Status.OPEN, actor=agent)
    later = start + timedelta(days=5)
    monkeypatch.setattr(timezone, "now", lambda: later)
    actions.reply(conv, actor=agent, text="Still there?")
    assert engine.run_silent_rules(later + timedelta(days=3)) == 1
    assert len(runs(rule)) == 2


# -- dry run -----------------------------------------------------------------------------------


def test_dry_run_lists_matching_recent_conversations_and_changes_nothing(
    new_conversation: NewConversation, templates: dict[str, Template]
) -> None:
    damaged = new_conversation(thread_id="d", subject="Item arrived damaged")
    new_conversation(thread_id="w", subject="Where is my order?")
    rule = Rule(
        name="unsaved",
        trigger=Trigger.MESSAGE_RECEIVED,
        conditions={"all": [{"type": "keywords", "words": ["damaged"]}]},
        actions=[*reply_with(templates["ack"]), {"type": "tag", "tag": "x"}],
    )
    counts = [m.objects.count() for m in (Event, Message, RuleRun, DBTaskResult, Tag, RulePump)]

    matches = preview.dry_run(rule)

    assert [m.conversation.pk for m in matches] == [damaged.pk]
    assert [
        m.objects.count() for m in (Event, Message, RuleRun, DBTaskResult, Tag, RulePump)
    ] == counts
    assert tags(damaged) == set()


def test_dry_run_of_a_time_based_rule(new_conversation: NewConversation, agent: User) -> None:
    conv = new_conversation()
    actions.reply(conv, actor=agent, text="Answer")
    rule = Rule(name="silent", trigger=Trigger.BUYER_SILENT, silent_days=2, actions=[])

    assert preview.dry_run(rule, now=timezone.now() + timedelta(days=1)) == []
    [match] = preview.dry_run(rule, now=timezone.now() + timedelta(days=3))
    assert match.conversation.pk == conv.pk
    assert RuleRun.objects.count() == 0


# -- kicks -------------------------------------------------------------------------------------


def test_ingest_and_actions_queue_the_pump_once_their_transaction_commits(
    transactional_db: None, make_inbound: MakeInbound, agent: User
) -> None:
    pump_task = "comptoir.automation.tasks.pump_rules"

    def queued() -> int:
        return DBTaskResult.objects.filter(task_path=pump_task).count()

    conv = Conversation.objects.get(pk=ingest(make_inbound()).conversation_id)
    actions.set_status(conv, status=Status.PENDING, actor=agent)
    assert queued() == 0  # no rule: nothing to run

    make_rule("r", trigger=Trigger.STATUS_CHANGED)
    with transaction.atomic():
        actions.set_status(conv, status=Status.OPEN, actor=agent)
        actions.set_status(conv, status=Status.PENDING, actor=agent)
        assert queued() == 0  # not before the commit
    assert queued() == 1  # once per transaction
    ingest(make_inbound(thread_id="kick"))
    assert queued() == 2
    with transaction.atomic():
        actions.set_status(conv, status=Status.OPEN, actor=agent)
        transaction.set_rollback(True)
    assert queued() == 2  # rolled back: nothing to run


def test_business_hours_come_from_the_channels_sla_calendar(
    new_conversation: NewConversation,
) -> None:
    # Office hours in Paris by default: Monday to Friday, 9:00 to 18:00.
    make_rule("out-of-hours", when={"all": [{"type": "business_hours", "value": False}]})
    saturday_night = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
    monday_morning = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    weekend = new_conversation(thread_id="sat", sent_at=saturday_night)
    weekday = new_conversation(thread_id="mon", sent_at=monday_morning)

    engine.pump()

    assert tags(weekend) == {"out-of-hours"}
    assert tags(weekday) == set()


def test_mark_no_response_needed_action(new_conversation: NewConversation) -> None:
    rule = make_rule(
        "thanks",
        when={"all": [{"type": "keywords", "words": ["merci beaucoup", "thank you"]}]},
        do=[{"type": "no_response_needed"}],
    )
    thanks = new_conversation(thread_id="t", text="Merci beaucoup, bien reçu !")
    question = new_conversation(thread_id="q")

    engine.pump()

    assert not Conversation.objects.get(pk=thanks.pk).needs_reply
    assert Conversation.objects.get(pk=question.pk).needs_reply
    assert Event.objects.filter(
        conversation=thanks, kind=EventKind.NO_RESPONSE_NEEDED, actor_label=f"rule:{rule.pk}"
    ).exists()


# -- API ---------------------------------------------------------------------------------------

API = "/api/v1"


def bearer(user: User) -> dict[str, str]:
    from comptoir.accounts.models import APIToken

    _, raw = APIToken.issue(user, "tests")
    return {"Authorization": f"Bearer {raw}"}


def test_api_creates_lists_orders_switches_and_deletes_rules(
    client: Any, supervisor: User, agent: User, new_conversation: NewConversation
) -> None:
    headers = bearer(supervisor)
    body = {
        "name": "Damaged",
        "trigger": "message_received",
        "conditions": {"all": [{"type": "keywords", "words": ["damaged", "cassé"]}]},
        "actions": [{"type": "tag", "tag": "damaged"}],
    }
    created = client.post(f"{API}/rules", body, content_type="application/json", headers=headers)
    assert created.status_code == 201, created.content
    first = created.json()["id"]
    second = client.post(
        f"{API}/rules", {**body, "name": "Other"}, content_type="application/json", headers=headers
    ).json()["id"]

    listed = client.get(f"{API}/rules", headers=headers).json()
    assert [r["id"] for r in listed] == [first, second]
    assert (
        client.post(
            f"{API}/rules/order",
            {"rule_ids": [second, first]},
            content_type="application/json",
            headers=headers,
        ).status_code
        == 204
    )
    assert [r["id"] for r in client.get(f"{API}/rules", headers=headers).json()] == [second, first]
    off = client.post(
        f"{API}/rules/{second}/active",
        {"active": False},
        content_type="application/json",
        headers=headers,
    )
    assert off.json()["is_active"] is False

    conv = new_conversation(subject="Item arrived damaged")
    engine.pump()
    [run] = client.get(f"{API}/rules/{first}/runs", headers=headers).json()
    assert run["conversation_id"] == conv.pk
    assert run["outcome"] == "done"
    assert client.delete(f"{API}/rules/{first}", headers=headers).status_code == 204
    assert not Rule.objects.filter(pk=first).exists()

    # Agents may not manage rules.
    assert client.get(f"{API}/rules", headers=bearer(agent)).status_code == 403


def test_api_refuses_an_invalid_rule_with_the_reason(client: Any, supervisor: User) -> None:
    response = client.post(
        f"{API}/rules",
        {
            "name": "Bad",
            "trigger": "message_received",
            "conditions": {"all": [{"type": "regex", "pattern": "(a+)+$"}]},
            "actions": [{"type": "tag", "tag": "x"}],
        },
        content_type="application/json",
        headers=bearer(supervisor),
    )
    assert response.status_code == 422
    assert "repeats a repetition" in str(response.json()["detail"])


def test_api_dry_run_shows_matches_and_changes_nothing(
    client: Any, supervisor: User, new_conversation: NewConversation
) -> None:
    conv = new_conversation(subject="Wo ist meine Bestellung?")
    new_conversation(thread_id="other", subject="Invoice please")
    body = {
        "name": "WISMO",
        "trigger": "message_received",
        "conditions": {"any": [{"type": "keywords", "words": ["wo ist meine bestellung"]}]},
        "actions": [{"type": "tag", "tag": "wismo"}],
    }
    before = (Event.objects.count(), RuleRun.objects.count(), Rule.objects.count())

    response = client.post(
        f"{API}/rules/dry-run", body, content_type="application/json", headers=bearer(supervisor)
    )

    assert response.status_code == 200, response.content
    assert [m["conversation_id"] for m in response.json()] == [conv.pk]
    assert (Event.objects.count(), RuleRun.objects.count(), Rule.objects.count()) == before
    rule = make_rule("saved", when=body["conditions"])
    saved = client.get(f"{API}/rules/{rule.pk}/dry-run", headers=bearer(supervisor)).json()
    assert [m["conversation_id"] for m in saved] == [conv.pk]


# -- settings pages ----------------------------------------------------------------------------


def _form(**fields: Any) -> dict[str, Any]:
    data = {
        "name": "Route WISMO",
        "trigger": "message_received",
        "conditions": "",
        "is_active": "on",
        "actions-TOTAL_FORMS": "2",
        "actions-INITIAL_FORMS": "0",
    }
    data.update(fields)
    return data


def test_settings_page_creates_edits_and_orders_rules(
    client: Any, supervisor: User, agent: User, logistics: tuple[Team, list[User]]
) -> None:
    team, _ = logistics
    client.force_login(agent)
    assert client.get("/settings/rules/").status_code == 403
    client.force_login(supervisor)

    bad = client.post(
        "/settings/rules/new",
        _form(conditions='{"all": [', **{"actions-0-type": "tag", "actions-0-tag": "x"}),
    )
    assert bad.status_code == 200
    assert "Not valid JSON" in bad.content.decode()
    created = client.post(
        "/settings/rules/new",
        _form(
            conditions='{"any": [{"type": "intent", "values": ["order_tracking"]}]}',
            **{
                "actions-0-type": "assign_team",
                "actions-0-team": str(team.pk),
                "actions-0-strategy": "least_load",
                "actions-1-type": "tag",
                "actions-1-tag": "wismo",
            },
        ),
    )
    assert created.status_code == 302
    rule = Rule.objects.get()
    assert rule.actions == [
        {"type": "assign_team", "team_id": team.pk, "strategy": "least_load"},
        {"type": "tag", "tag": "wismo"},
    ]
    assert rule.conditions == {"any": [{"type": "intent", "values": ["order_tracking"]}]}

    page = client.get(f"/settings/rules/{rule.pk}/").content.decode()
    assert "order_tracking" in page
    assert "It has not run yet" in page
    other = make_rule("other")
    client.post(f"/settings/rules/{other.pk}/move", {"to": "up"})
    assert list(Rule.objects.values_list("pk", flat=True)) == [other.pk, rule.pk]
    client.post(f"/settings/rules/{rule.pk}/active", {"active": "0"})
    assert not Rule.objects.get(pk=rule.pk).is_active
    french = client.get("/settings/rules/", headers={"Accept-Language": "fr"}).content.decode()
    assert "Nouvelle règle" in french
    listing = client.get("/settings/rules/", headers={"Accept-Language": "en"}).content.decode()
    assert "Route WISMO" in listing
    assert "other" in listing


def test_settings_dry_run_saves_nothing(
    client: Any, supervisor: User, new_conversation: NewConversation
) -> None:
    conv = new_conversation(subject="Produit reçu cassé")
    client.force_login(supervisor)

    response = client.post(
        "/settings/rules/new",
        _form(
            conditions='{"all": [{"type": "keywords", "words": ["casse"]}]}',
            dry_run="1",
            **{"actions-0-type": "tag", "actions-0-tag": "damaged"},
        ),
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert f"#{conv.pk} Produit reçu cassé" in html
    assert not Rule.objects.exists()
    assert tags(conv) == set()


# -- the demo's examples -----------------------------------------------------------------------


def test_the_demo_examples_acknowledge_route_and_tag(new_conversation: NewConversation) -> None:
    from comptoir.demo import rules as demo_rules

    agents = [
        User.objects.create_user(name, f"{name}@example.com", "pw", role=Role.AGENT)
        for name in demo_rules.LOGISTICS_MEMBERS
    ]
    installed = demo_rules.install()
    assert len(demo_rules.install()) == len(installed)  # installing again replaces them
    saturday_night = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
    monday_morning = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    wismo = new_conversation(
        thread_id="w",
        subject="Wo ist meine Bestellung?",
        text="Hallo, wo ist meine Bestellung?",
        language="de",
        sent_at=saturday_night,
    )
    damaged = new_conversation(
        thread_id="d",
        subject="Colis",
        text="Le vase est arrivé cassé.",
        language="fr",
        sent_at=monday_morning,
        sender={"identity_kind": "email", "identity_value": "other@example.com"},
    )
    # The routing rule tests the intent too: it waits for triage's reading, as live.
    engine.pump()
    assert RuleRun.objects.count() == 0
    from comptoir.triage.tasks import read_now

    read_now(list(Message.objects.filter(direction="in").select_related("channel")))
    engine.pump()

    wismo.refresh_from_db()
    assert wismo.team.name == demo_rules.LOGISTICS_TEAM
    assert wismo.assignee_id == agents[0].pk
    assert "livraison" in tags(wismo)
    [ack] = auto_replies(wismo)
    assert ack.text.startswith("Guten Tag,")
    # Amazon's deadline: 24 calendar hours, written in German in the shop's timezone.
    assert "spätestens am Sonntag 22. November 2026, 23:00" in ack.text
    assert "{{" not in ack.text
    assert tags(damaged) == {"casse"}
    assert Conversation.objects.get(pk=damaged.pk).priority == Priority.HIGH
    assert auto_replies(damaged) == []  # within business hours


def test_old_event_runs_are_purged_but_silence_runs_stay(
    new_conversation: NewConversation, agent: User
) -> None:
    rule = make_rule("r")
    silent = make_rule("s", trigger=Trigger.BUYER_SILENT, silent_days=1)
    conv = new_conversation()
    engine.pump()
    actions.reply(conv, actor=agent, text="Answer")
    engine.run_silent_rules(timezone.now() + timedelta(days=2))
    assert RuleRun.objects.count() == 2

    assert engine.purge_runs(timezone.now() + timedelta(days=30)) == 0
    assert engine.purge_runs(timezone.now() + engine.RUNS_KEPT + timedelta(days=1)) == 1
    assert runs(rule) == []
    assert len(runs(silent)) == 1


def test_a_shop_rule_runs_only_on_its_shop_and_never_on_deleted_conversations(
    new_conversation: NewConversation, agent: User
) -> None:
    from comptoir.inbox.models import Shop

    other = Shop.objects.create(name="Other", slug="other")
    mine = make_rule("mine")  # every shop
    theirs = make_rule("theirs", shop_id=other.pk)
    conv = new_conversation()
    gone = new_conversation(thread_id="gone")
    actions.delete_conversation(gone, actor=agent)

    engine.pump()

    assert tags(conv) == {"mine"}
    assert runs(theirs) == []
    assert [r.conversation_id for r in runs(mine)] == [conv.pk]


def test_the_rules_page_costs_the_same_queries_for_many_rules(
    client: Any, supervisor: User
) -> None:
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    client.force_login(supervisor)
    make_rule("one")
    with CaptureQueriesContext(conn) as few:
        assert client.get("/settings/rules/").status_code == 200
    for i in range(10):
        make_rule(f"more {i}")
    with CaptureQueriesContext(conn) as many:
        assert client.get("/settings/rules/").status_code == 200
    assert len(many) == len(few)
