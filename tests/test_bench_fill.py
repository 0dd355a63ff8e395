"""The scale bench's fill (bench/harness): rows loaded with the indexes and search triggers
off must leave the schema a migrated database has, and every row findable by search."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.db import connection

from comptoir.accounts.models import User
from comptoir.inbox.models import Conversation, Customer, Message
from comptoir.inbox.permissions import visible_conversations
from comptoir.inbox.queries import ORDERS, filter_conversations, page

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from harness.bulk_load import schema
from harness.inbox_fill import AGENT, COMMON_WORD, fill


@pytest.mark.django_db(transaction=True)
def test_the_fill_leaves_the_migrated_schema_and_a_searchable_history() -> None:
    before = schema(connection)

    result = fill(300)

    assert schema(connection) == before
    assert Conversation.objects.count() == 300
    assert Message.objects.count() == result["messages"] > 300
    assert Customer.objects.count() == 210
    agent = User.objects.get(username=AGENT)
    visible = visible_conversations(agent)

    def found(q: str) -> set[int]:
        rows, _ = page(filter_conversations(visible, agent, q=q), ORDERS["recent"], None, 500)
        return {c.pk for c in rows}

    # Every message went in with the triggers off: found through the index built afterwards.
    having = set(visible.filter(messages__text__icontains="command").values_list("pk", flat=True))
    assert having
    assert found(COMMON_WORD)
    assert found(COMMON_WORD) <= having
    conv = visible.exclude(order_number="").order_by("pk").last()
    assert conv is not None
    assert conv.pk in found(conv.order_number)
    # And the triggers are back: a message written now is indexed as it is written.
    message = Message.objects.filter(conversation=conv).first()
    assert message is not None
    Message.objects.filter(pk=message.pk).update(text="zygomorphe")
    assert found("zygomorphe") == {conv.pk}
