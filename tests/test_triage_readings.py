"""Triage tells a batch's conversations in one action (`apply_readings`): each ends as
`set_language(by_triage=True)` then `set_reading` would leave it, with the same events."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from comptoir.inbox import actions
from comptoir.inbox.models import Channel, Conversation, Event, TriageSource


def _state(conv: Conversation) -> tuple[Any, ...]:
    conv.refresh_from_db()
    events = Event.objects.filter(conversation=conv).order_by("pk")
    return (
        conv.language,
        conv.language_by_triage,
        conv.intent,
        conv.intent_source,
        conv.urgency,
        conv.sentiment,
        [(e.kind, e.actor_label, e.data) for e in events],
    )


def test_apply_readings_does_what_the_two_actions_do(channel: Channel) -> None:
    cases: list[tuple[dict[str, Any], actions.Reading]] = [
        ({}, actions.Reading(0, "fr", "return_request", "high", "negative")),
        ({"language": "de"}, actions.Reading(0, "fr", "other", "", "neutral")),  # agent's kept
        ({"language": "fr", "language_by_triage": True}, actions.Reading(0, "fr", "", "", "")),
        (
            {"intent": "damaged_or_defective", "intent_source": TriageSource.MARKETPLACE},
            actions.Reading(0, "", "return_request", "normal", ""),  # a marketplace's intent kept
        ),
        ({"intent": "return_request"}, actions.Reading(0, "en", "thanks_or_closing", "low", "")),
    ]
    for fields, reading in cases:
        one = Conversation.objects.create(shop_id=channel.shop_id, channel=channel, **fields)
        two = Conversation.objects.create(shop_id=channel.shop_id, channel=channel, **fields)
        if reading.language:
            actions.set_language(one, language=reading.language, actor=None, via="triage",
                                 by_triage=True)  # fmt: skip
        said = {"intent": reading.intent, "urgency": reading.urgency}
        actions.set_reading(one, **said, sentiment=reading.sentiment, source=reading.source,
                            via="triage")  # fmt: skip

        told = actions.apply_readings([replace(reading, conversation_id=two.pk)], via="triage")
        assert set(told) == {two.pk}
        assert _state(two) == _state(one), (fields, reading)


def test_a_deleted_conversation_is_left_out(channel: Channel) -> None:
    conv = Conversation.objects.create(shop_id=channel.shop_id, channel=channel)
    Conversation.objects.filter(pk=conv.pk).update(deleted_at=conv.created_at)
    assert actions.apply_readings([actions.Reading(conv.pk, "fr", "return_request")]) == {}
    assert not Event.objects.filter(conversation=conv).exists()


def test_a_question_then_thanks_in_one_batch_keeps_the_question(channel: Channel) -> None:
    """Read together (a history import, a burst of mail), a conversation's question and the
    buyer's "thanks" after it end as they would read one at a time: the question's intent."""
    conv = Conversation.objects.create(shop_id=channel.shop_id, channel=channel)
    told = actions.apply_readings(
        [
            actions.Reading(conv.pk, "", "invoice", "normal", "neutral"),
            actions.Reading(conv.pk, "fr", "thanks_or_closing", "low", "positive"),
        ],
        via="triage",
    )
    assert set(told) == {conv.pk}
    conv.refresh_from_db()
    assert (conv.intent, conv.urgency, conv.sentiment, conv.language) == (
        "invoice",
        "low",
        "positive",
        "fr",
    )
    kinds = list(Event.objects.filter(conversation=conv).values_list("kind", flat=True))
    assert kinds.count("intent_set") == 1
