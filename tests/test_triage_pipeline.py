"""Triage after ingest, end to end: each buyer message gets intent, urgency, sentiment and
entities; the conversation follows; a marketplace's reason and an agent's correction are never
overruled; a known order is linked; "thanks" can close the wait; rules wait for the reading."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from comptoir.accounts.models import User
from comptoir.automation import engine
from comptoir.automation import rules as rule_actions
from comptoir.automation.models import RuleRun, Trigger
from comptoir.inbox.models import Channel, EventKind, Message, TriageSource
from comptoir.orders.models import Order
from comptoir.triage import actions, tasks
from comptoir.triage.models import Correction, IntentModel, TriageSettings
from tests.triage_support import Build, ingest_one, run_queued

pytestmark = pytest.mark.django_db


def test_a_buyer_message_is_read_and_its_conversation_told(
    make_inbound: Build, django_capture_on_commit_callbacks: Any
) -> None:
    conv = ingest_one(
        make_inbound,
        django_capture_on_commit_callbacks,
        thread_id="T-1",
        text="Bonjour, je voudrais annuler ma commande 402-1234567-7654321 passée hier soir.",
    )
    assert conv.intent == ""  # not on the live path
    assert run_queued() == [1]
    message = Message.objects.get()
    assert message.triaged_at is not None
    assert (message.intent, message.intent_source) == ("cancellation", TriageSource.TRIAGE)
    assert 0 < (message.intent_confidence or 0) <= 1
    assert message.urgency in {"low", "normal", "high"}
    assert message.sentiment in {"negative", "neutral", "positive"}
    assert {"kind": "order", "value": "402-1234567-7654321", "source": "amazon"} in (
        message.entities
    )
    conv.refresh_from_db()
    assert (conv.intent, conv.intent_source) == ("cancellation", TriageSource.TRIAGE)
    event = conv.events.get(kind=EventKind.INTENT_SET)
    assert (event.data["intent"], event.actor_label) == ("cancellation", "triage")
    # Read once: a second run of the same task changes nothing.
    assert tasks.read_messages.call([message.pk]) == 0

    # "Thanks" says nothing about why the buyer wrote: the intent stays.
    ingest_one(make_inbound, django_capture_on_commit_callbacks, thread_id="T-1", text="Merci !")
    run_queued()
    conv.refresh_from_db()
    assert conv.intent == "cancellation"
    assert Message.objects.order_by("-pk").first().intent == "thanks_or_closing"


def test_the_marketplace_reason_is_kept_against_the_text(
    make_inbound: Build, django_capture_on_commit_callbacks: Any
) -> None:
    conv = ingest_one(
        make_inbound,
        django_capture_on_commit_callbacks,
        text="Je voudrais être remboursée au plus vite.",
        reason="ITEM_NOT_RECEIVED",
        intent="not_received",
    )
    run_queued()
    message = Message.objects.get()
    assert (message.marketplace_reason, message.intent) == ("ITEM_NOT_RECEIVED", "not_received")
    assert message.intent_source == TriageSource.MARKETPLACE
    conv.refresh_from_db()
    assert (conv.intent, conv.intent_source) == ("not_received", TriageSource.MARKETPLACE)
    # A later message triage reads otherwise does not overrule the marketplace.
    ingest_one(
        make_inbound,
        django_capture_on_commit_callbacks,
        thread_id=conv.external_thread_id,
        text="Pouvez-vous m'envoyer la facture de cette commande ?",
    )
    run_queued()
    conv.refresh_from_db()
    assert conv.intent == "not_received"


def test_an_unknown_intent_from_a_connector_is_refused(make_inbound: Build) -> None:
    with pytest.raises(ValueError, match="not one of"):
        make_inbound(intent="where_is_it")


def test_an_agents_correction_is_kept_and_trained_on(
    make_inbound: Build, agent: User, analyst: User, django_capture_on_commit_callbacks: Any
) -> None:
    conv = ingest_one(
        make_inbound,
        django_capture_on_commit_callbacks,
        thread_id="T-2",
        text="Est-ce que ce chargeur marche avec un iPhone 15 ?",
    )
    run_queued()
    message = Message.objects.get()
    with pytest.raises(PermissionDenied):
        actions.correct(message, field="intent", value="complaint", actor=analyst)
    with pytest.raises(ValidationError):
        actions.correct(message, field="intent", value="nonsense", actor=agent)
    read_as = message.intent
    correction = actions.correct(message, field="intent", value="complaint", actor=agent)
    assert (correction.previous, correction.value, correction.user) == (
        read_as,
        "complaint",
        agent,
    )
    assert correction.text.startswith("Est-ce que ce chargeur")
    conv.refresh_from_db()
    assert (conv.intent, conv.intent_source) == ("complaint", TriageSource.AGENT)
    actions.correct(message, field="urgency", value="high", actor=agent)
    conv.refresh_from_db()
    assert conv.urgency == "high"
    # Triage's next reading does not undo the agent's intent.
    ingest_one(
        make_inbound,
        django_capture_on_commit_callbacks,
        thread_id="T-2",
        text="Je veux annuler ma commande.",
    )
    run_queued()
    conv.refresh_from_db()
    assert conv.intent == "complaint"
    examples = actions.seller_examples()
    assert [(e.intent, e.source) for e in examples] == [("complaint", "correction")]
    assert Correction.objects.count() == 2


def test_a_known_order_named_by_the_buyer_is_linked(
    make_inbound: Build, channel: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    order = Order.objects.create(
        shop=channel.shop, channel=channel, external_id="171-1234567-7654321"
    )
    conv = ingest_one(
        make_inbound,
        django_capture_on_commit_callbacks,
        text="Bonjour, où en est la commande 171-1234567-7654321 ? Merci",
    )
    run_queued()
    conv.refresh_from_db()
    assert conv.order_id == order.pk
    assert conv.events.filter(kind=EventKind.ORDER_LINKED, actor_label="triage").exists()


@pytest.mark.parametrize(
    ("switched_on", "text", "closed"),
    [
        (True, "Merci beaucoup, bien reçu, tout est parfait !", True),
        (False, "Merci beaucoup, bien reçu, tout est parfait !", False),
        (True, "Merci ! Et pour la facture, vous pouvez me l'envoyer ?", False),
    ],
)
def test_thanks_needs_no_response_when_the_seller_says_so(
    make_inbound: Build,
    django_capture_on_commit_callbacks: Any,
    switched_on: bool,
    text: str,
    closed: bool,
) -> None:
    TriageSettings.objects.update_or_create(pk=1, defaults={"no_reply_for_thanks": switched_on})
    conv = ingest_one(make_inbound, django_capture_on_commit_callbacks, text=text)
    assert conv.needs_reply
    run_queued()
    conv.refresh_from_db()
    assert conv.needs_reply is not closed
    assert conv.events.filter(kind=EventKind.NO_RESPONSE_NEEDED).exists() is closed


def test_rules_on_new_messages_wait_for_the_reading(
    make_inbound: Build, django_capture_on_commit_callbacks: Any
) -> None:
    rule = rule_actions.create_rule(
        actor=None,
        name="cancellations",
        trigger=Trigger.MESSAGE_RECEIVED,
        conditions={"all": [{"type": "intent", "values": ["cancellation"]}]},
        actions=[{"type": "tag", "tag": "to-cancel"}],
    )
    conv = ingest_one(
        make_inbound,
        django_capture_on_commit_callbacks,
        text="Merci d'annuler ma commande, je n'en veux plus.",
    )
    engine.pump()
    assert not RuleRun.objects.filter(rule=rule).exists()  # not read yet: it waits
    run_queued()
    engine.pump()
    assert RuleRun.objects.filter(rule=rule).count() == 1
    assert set(conv.tags.values_list("name", flat=True)) == {"to-cancel"}


def test_a_trained_model_is_versioned_and_rolled_back(
    admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.triage import registry, training
    from tests.test_triage_intent import TINY

    monkeypatch.setattr(training.dataset, "load", lambda split: TINY)
    stored = actions.train_model(actor=None)
    assert (stored.version, stored.is_active) == (1, True)
    assert registry.active_version() == 1
    assert registry.model()[1].predict("refund please").best == "refund"
    assert set(stored.metrics) >= {"macro_f1", "per_intent", "confusion", "per_language"}
    actions.activate_model(0)
    assert registry.active_version() == 0
    assert IntentModel.objects.get().is_active is False
    with pytest.raises(ValidationError):
        actions.activate_model(7)
