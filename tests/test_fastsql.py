"""`fastsql.insert` sends the values Django's own `get_db_prep_save` would: its shortcut for plain
types changes the speed, never the row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import fields as django_fields

from comptoir.inbox import fastsql
from comptoir.inbox.models import (
    Channel,
    Conversation,
    Direction,
    Event,
    EventKind,
    InboundRecord,
    Message,
    SLAState,
    Status,
    Tag,
)

pytestmark = pytest.mark.django_db


def _django_row(obj: Any) -> list[Any]:
    fields = [f for f in type(obj)._meta.concrete_fields if not f.primary_key]
    return _comparable([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])


def _comparable(row: list[Any]) -> list[Any]:
    # psycopg's wrappers (Binary, Jsonb) do not compare by content: compare what they wrap.
    return [(type(v).__name__, v.obj) if hasattr(v, "obj") else v for v in row]


def test_the_shortcut_prepares_every_field_as_django_does(
    channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    # `auto_now` fields take the clock on each call: the same instant for both ways.
    monkeypatch.setattr(django_fields.timezone, "now", lambda: at)
    record = InboundRecord(channel=channel, external_id="x1", source="bench", raw=b"{}")
    fastsql.insert([record])
    conv = Conversation(
        shop_id=channel.shop_id,
        channel=channel,
        external_thread_id="t1",
        subject="Où est mon colis ?",
        status=Status.OPEN,
        sla_state=SLAState.BREACHED,
        needs_reply=True,
        created_at=at,
        last_inbound_at=at,
    )
    fastsql.insert([conv])
    message = Message(
        channel=channel,
        conversation=conv,
        direction=Direction.IN,
        external_id="x1",
        text="bonjour",
        is_auto=False,
        sent_at=at,
        received_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        created_at=at,
        inbound_record=record,
    )
    event = Event(conversation=conv, kind=EventKind.REOPENED, actor_label="system", data={"a": 1})

    for obj in (record, conv, message, event):
        plan = fastsql._plan(type(obj), False)
        ours = _comparable(fastsql._values(obj, plan, connection))
        assert ours == _django_row(obj), type(obj).__name__
    # The shortcut is taken: text, numbers, flags and dates (not only the fallback).
    kinds = {kind for _, kind, _ in fastsql._plan(Message, False)}
    assert {fastsql._AS_IS, fastsql._INT, fastsql._BOOL, fastsql._DATETIME} <= kinds

    fastsql.insert([message])
    fastsql.insert([event], returning=False)
    stored = Message.objects.get(pk=message.pk)
    assert (stored.sent_at, stored.direction, stored.conversation_id) == (at, "in", conv.pk)
    assert Event.objects.get(conversation=conv).data == {"a": 1}


def test_update_prepares_the_values_django_would(channel: Channel) -> None:
    at = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    conv = Conversation(shop_id=channel.shop_id, channel=channel, external_thread_id="t2")
    fastsql.insert([conv])
    message = Message(channel=channel, conversation=conv, direction=Direction.IN, text="x")
    fastsql.insert([message])
    message.language, message.intent_confidence, message.triaged_at = "fr", 0.9312, at
    message.entities = [{"kind": "order", "value": "123"}]
    names = ["language", "intent_confidence", "entities", "triaged_at", "is_auto"]
    fields = [Message._meta.get_field(n) for n in names]
    plan = [(f.attname, fastsql._kind(f), f) for f in fields]

    ours = _comparable(fastsql._values(message, plan, connection, pre_save=False))

    django = [f.get_db_prep_save(getattr(message, f.attname), connection) for f in fields]
    assert ours == _comparable(django)
    fastsql.update([message], names)
    stored = Message.objects.get(pk=message.pk)
    assert (stored.language, stored.triaged_at, stored.entities) == ("fr", at, message.entities)


def test_one_row_inserted_ignoring_conflicts_gets_its_key_or_none_when_refused(
    channel: Channel,
) -> None:
    conversation = Conversation.objects.create(
        shop_id=channel.shop_id, channel=channel, external_thread_id="t1", subject="Colis"
    )
    link = Conversation.tags.through
    tag = Tag.objects.create(name="claim")
    first = link(conversation_id=conversation.pk, tag_id=tag.pk)
    again = link(conversation_id=conversation.pk, tag_id=tag.pk)

    fastsql.insert([first], ignore_conflicts=True)
    fastsql.insert([again], ignore_conflicts=True)

    assert first.pk is not None
    assert again.pk is None
    assert link.objects.filter(conversation=conversation).count() == 1
