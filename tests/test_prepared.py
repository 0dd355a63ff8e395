"""Prepared queries (inbox/prepared.py): the ORM's rows, compiled once, and a shape whose SQL
depends on more than its parameters refused at compilation rather than run wrong."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from comptoir.inbox.actions.common import _locked
from comptoir.inbox.models import Channel, Conversation
from comptoir.inbox.prepared import _STAND_IN, Prepared, PreparedValues


def _conversation(channel: Channel, thread: str) -> Conversation:
    return Conversation.objects.create(
        shop_id=channel.shop_id, channel=channel, external_thread_id=thread
    )


def test_rows_are_the_orms_related_rows_included(channel: Channel) -> None:
    first, second = _conversation(channel, "a"), _conversation(channel, "b")

    def build(conv: int) -> QuerySet[Conversation]:
        return Conversation.objects.select_related("channel").filter(pk=conv)

    prepared = Prepared(build, "conv")
    for conv in (first, second, first):
        (row,) = prepared.all(conv=conv.pk)
        orm = build(conv.pk).get()
        assert (row.pk, row.external_thread_id, row.channel.name) == (
            orm.pk,
            orm.external_thread_id,
            orm.channel.name,
        )
    assert len(prepared._compiled) == 1  # compiled once, run three times
    assert prepared.all(conv=second.pk + 1000) == []


def test_a_constant_equal_to_a_stand_in_is_refused(channel: Channel) -> None:
    def build(conv: int) -> QuerySet[Conversation]:
        # The constant would have been taken for the parameter's slot.
        return Conversation.objects.filter(pk=conv, channel_id=_STAND_IN)

    with pytest.raises(ValueError, match="depends on more than its parameters"):
        Prepared(build, "conv").all(conv=1)


def test_a_value_computed_from_a_parameter_is_refused(channel: Channel) -> None:
    def build(conv: int) -> QuerySet[Conversation]:
        return Conversation.objects.filter(pk=conv + 1)

    with pytest.raises(ValueError, match="depends on more than its parameters"):
        Prepared(build, "conv").all(conv=1)


def test_values_over_an_id_list_are_the_orms_converted_and_filtered(channel: Channel) -> None:
    convs = [_conversation(channel, f"t{i}") for i in range(4)]
    Conversation.objects.filter(pk=convs[1].pk).update(status="resolved")

    def build(ids: list[int]) -> QuerySet[Conversation, tuple[int, object, str]]:
        # A constant beside the ids (the status) and a date column, which SQLite's rows give
        # as text: the ORM's converter must run.
        return (
            Conversation.objects.filter(pk__in=ids)
            .exclude(status="resolved")
            .order_by("pk")
            .values_list("pk", "created_at", "external_thread_id")
        )

    prepared = PreparedValues(build)
    for ids in ([c.pk for c in convs], [convs[2].pk, convs[1].pk], [c.pk for c in convs]):
        assert prepared.rows(ids) == list(build(ids))
    assert set(prepared._compiled) == {4, 2}  # one shape per number of ids
    assert prepared.rows([]) == []
    assert all(
        isinstance(created, type(timezone.now()))
        for _, created, _ in prepared.rows([c.pk for c in convs])
    )


def test_values_computed_from_the_ids_are_refused(channel: Channel) -> None:
    def build(ids: list[int]) -> QuerySet[Conversation, int]:
        return Conversation.objects.filter(pk__in=ids, channel_id=ids[0] + 3).values_list("pk")

    with pytest.raises(ValueError, match="depends on more than the ids"):
        PreparedValues(build).rows([1, 2])


def test_the_lock_reads_only_what_it_is_asked_and_refuses_deleted_or_merged(
    channel: Channel,
) -> None:
    conv, other = _conversation(channel, "a"), _conversation(channel, "b")
    with transaction.atomic():
        locked = _locked(conv, only=("id",))
        assert locked.pk == conv.pk
        assert locked.get_deferred_fields() >= {"status", "external_thread_id"}
        full = _locked(conv)
        assert full.external_thread_id == "a"
        assert not full.get_deferred_fields()

    Conversation.objects.filter(pk=other.pk).update(merged_into=conv)
    Conversation.objects.filter(pk=conv.pk).update(deleted_at=timezone.now())
    with transaction.atomic():
        with pytest.raises(ValidationError, match="is deleted"):
            _locked(conv, only=("id",))
        with pytest.raises(ValidationError, match="was merged into"):
            _locked(other)
        with pytest.raises(Conversation.DoesNotExist):
            _locked(Conversation(pk=other.pk + 1000))


def test_a_named_stand_in_is_a_value_given_per_run(channel: Channel) -> None:
    from comptoir.inbox.prepared import compile_named, run_named

    first, second = _conversation(channel, "a"), _conversation(channel, "b")
    stand_in = "\x00thread\x00"
    shape = compile_named(
        Conversation.objects.filter(channel=channel, external_thread_id=stand_in).values_list(
            "pk", flat=True
        ),
        {"thread": stand_in},
    )
    assert [row[0] for row in run_named(shape, {"thread": "b"})] == [second.pk]
    assert [row[0] for row in run_named(shape, {"thread": "a"})] == [first.pk]
    with pytest.raises(ValueError, match="one parameter"):  # it never reaches the SQL
        compile_named(Conversation.objects.filter(channel=channel), {"thread": stand_in})
