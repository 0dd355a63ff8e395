"""SQLite's message search rows are numbered by conversation (`search.indexes._ROWID`): they
follow a merge, an edit and a delete, every plan finds the same conversations on either side of
the ids' middle, and the migration renumbers a table numbered by message id."""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions, search
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation, Message
from comptoir.inbox.permissions import visible_conversations
from comptoir.inbox.queries import ORDERS, filter_conversations, page

Build = Callable[..., InboundMessage]
_n = itertools.count(1)

PLANS = [
    {},  # a rare word: its conversations listed
    {"MESSAGE_PROBE": 2, "CONVERSATION_CAP": 0},  # a middling one: a subquery
    {"COMMON_MATCHES": 2, "CONVERSATION_CAP": 0},  # a common one: checked row by row
]


def conversation(make_inbound: Build, text: str) -> Conversation:
    n = next(_n)
    result = ingest(
        make_inbound(
            thread_id=f"rows-thread-{n}",
            text=text,
            sender={"identity_kind": "email", "identity_value": f"r{n}@example.com", "name": ""},
        )
    )
    assert result.conversation_id is not None, result.error
    return Conversation.objects.get(pk=result.conversation_id)


def found(user: User, q: str) -> list[int]:
    qs = filter_conversations(visible_conversations(user), user, q=q)
    rows, _ = page(qs, ORDERS["recent"], None, 100)
    return sorted(c.pk for c in rows)


def indexed(word: str) -> list[int]:
    """The conversations `search_message` holds the word for (SQLite)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT rowid >> 32 FROM search_message WHERE search_message MATCH %s",
            [f'"{word}"'],
        )
        return sorted(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize("caps", PLANS, ids=["rare", "middling", "common"])
def test_a_merge_moves_the_messages_rows_to_their_new_conversation(
    make_inbound: Build, agent: User, monkeypatch: pytest.MonkeyPatch, caps: dict[str, int]
) -> None:
    monkeypatch.setattr(search, "_COMMON", {})
    for name, value in caps.items():
        monkeypatch.setattr(search, name, value)
    into = conversation(make_inbound, "bonjour")
    source = conversation(make_inbound, "girafe en peluche")
    other = conversation(make_inbound, "girafe bleue")
    assert found(agent, "girafe") == sorted([source.pk, other.pk])

    actions.merge_conversations(source, into=into, actor=agent)

    assert found(agent, "girafe") == sorted([into.pk, other.pk])
    if connection.vendor == "sqlite":
        assert indexed("girafe") == sorted([into.pk, other.pk])


def test_an_edit_and_a_delete_follow_in_the_index(make_inbound: Build, agent: User) -> None:
    conv = conversation(make_inbound, "tabouret bancal")
    second = conversation(make_inbound, "tabouret neuf")
    Message.objects.filter(conversation=conv).update(new_text="chaise bancale")
    assert found(agent, "tabouret") == [second.pk]
    assert found(agent, "chaise") == [conv.pk]

    Message.objects.filter(conversation=second).delete()

    assert found(agent, "tabouret") == []
    if connection.vendor == "sqlite":
        assert indexed("tabouret") == []
        assert indexed("chaise") == [conv.pk]


@pytest.mark.parametrize("caps", PLANS, ids=["rare", "middling", "common"])
def test_conversations_on_both_sides_of_the_ids_middle_are_found(
    make_inbound: Build, agent: User, monkeypatch: pytest.MonkeyPatch, caps: dict[str, int]
) -> None:
    """A common word's page seeks each conversation from the nearer end of the word's list:
    from the start below half the largest id, from the end above it."""
    monkeypatch.setattr(search, "_COMMON", {})
    for name, value in caps.items():
        monkeypatch.setattr(search, name, value)
    convs = [conversation(make_inbound, f"hibou {i}" if i % 3 else "rien") for i in range(6)]
    # A conversation whose id is twice the others' largest: they are all below the middle.
    far = Conversation.objects.create(
        pk=convs[-1].pk * 4,
        shop_id=convs[0].shop_id,
        channel=convs[0].channel,
        external_thread_id="rows-far",
    )
    actions.merge_conversations(conversation(make_inbound, "hibou loin"), into=far, actor=agent)
    expected = sorted([far.pk, *(c.pk for i, c in enumerate(convs) if i % 3)])

    assert found(agent, "hibou") == expected
    assert search.ranked(visible_conversations(agent), "hibou", limit=20)


def test_the_migration_renumbers_a_table_numbered_by_message(
    make_inbound: Build, agent: User
) -> None:
    migration = importlib.import_module(
        "comptoir.inbox.migrations.0028_search_rows_by_conversation"
    )
    editor: Any = type("Editor", (), {"connection": connection})()
    conv = conversation(make_inbound, "parapluie rouge")
    migration.backward(None, editor)  # as it was: rows numbered by message id
    if connection.vendor != "sqlite":  # PostgreSQL's index has no numbering: nothing moves
        migration.forward(None, editor)
        assert found(agent, "parapluie") == [conv.pk]
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT rowid FROM search_message")
        assert [row[0] for row in cursor.fetchall()] == list(
            Message.objects.filter(conversation=conv).values_list("pk", flat=True)
        )

    migration.forward(None, editor)

    assert indexed("parapluie") == [conv.pk]
    assert found(agent, "parapluie") == [conv.pk]
    later = conversation(make_inbound, "parapluie vert")  # the new triggers number it too
    assert found(agent, "parapluie") == sorted([conv.pk, later.pk])
