"""Ingest: raw first, one transaction, idempotent, threaded, and nothing lost on bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions, files, hooks
from comptoir.inbox import ingest as ingest_module
from comptoir.inbox.ingest import (
    Outcome,
    ingest,
    ingest_many,
    parse,
    process_record,
    receive,
    retry_failed,
)
from comptoir.inbox.ingest import store as ingest_store
from comptoir.inbox.models import (
    Attachment,
    Channel,
    Conversation,
    Customer,
    CustomerIdentity,
    Event,
    InboundRecord,
    InboundState,
    Message,
    Status,
)
from tests.conftest import ago

Build = Callable[..., InboundMessage]


def _payload(channel: Channel, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel_id": channel.pk,
        "external_id": "raw-1",
        "sender": {"identity_value": "lea@example.com", "email": "lea@example.com"},
        "subject": "Facture",
        "text": "Pouvez-vous m'envoyer la facture ?",
        "sent_at": ago(hours=1).isoformat(),
    }
    data.update(overrides)
    return data


def _nothing_but_raw_was_written() -> None:
    assert Conversation.objects.count() == 0
    assert Message.objects.count() == 0
    assert Customer.objects.count() == 0
    assert Event.objects.count() == 0


# -- storing and threading ---------------------------------------------------------------------


def test_a_first_message_opens_a_conversation_needing_a_reply(make_inbound: Build) -> None:
    result = ingest(make_inbound(subject="Colis non reçu", order_number="171-1234567-1234567"))

    assert result.outcome == Outcome.STORED
    conv = Conversation.objects.get(pk=result.conversation_id)
    assert conv.status == Status.OPEN
    assert conv.needs_reply is True
    assert conv.subject == "Colis non reçu"
    assert conv.order_number == "171-1234567-1234567"
    assert conv.customer is not None
    assert conv.customer.name == "Jeanne Martin"
    assert conv.message_count == 1
    assert conv.first_inbound_at == conv.last_inbound_at == conv.last_message_at
    assert list(conv.events.values_list("kind", flat=True).order_by("id")) == [
        "created",
        "message_received",
    ]
    record = InboundRecord.objects.get(pk=result.record_id)
    assert record.state == InboundState.STORED
    assert Message.objects.get(pk=result.message_id).inbound_record_id == record.pk


def test_respond_by_follows_the_marketplace_limit(make_inbound: Build, channel: Channel) -> None:
    sent = ago(hours=2)
    amazon = ingest(make_inbound(sent_at=sent))
    channel.marketplace = "cdiscount"
    channel.save()
    cdiscount = ingest(make_inbound(sent_at=sent, sender={"identity_value": "x@example.com"}))

    assert Conversation.objects.get(pk=amazon.conversation_id).respond_by == sent + timedelta(
        hours=24
    )
    assert Conversation.objects.get(pk=cdiscount.conversation_id).respond_by == sent + timedelta(
        hours=48
    )


def test_the_same_delivery_twice_stores_one_message(make_inbound: Build) -> None:
    msg = make_inbound()
    first = ingest(msg)
    second = ingest(msg)

    assert second.outcome == Outcome.DUPLICATE
    assert second.message_id == first.message_id
    assert Message.objects.count() == 1
    assert Conversation.objects.get().message_count == 1
    assert InboundRecord.objects.get(pk=second.record_id).state == InboundState.DUPLICATE


def test_a_channel_thread_id_keeps_messages_together(make_inbound: Build) -> None:
    a = ingest(make_inbound(thread_id="T-1", sent_at=ago(hours=3)))
    b = ingest(make_inbound(thread_id="T-1", sent_at=ago(hours=2), text="Des nouvelles ?"))
    c = ingest(make_inbound(thread_id="T-2", sent_at=ago(hours=1)))

    assert a.conversation_id == b.conversation_id != c.conversation_id
    conv = Conversation.objects.get(pk=a.conversation_id)
    assert conv.message_count == 2
    assert conv.snippet == "Des nouvelles ?"


def test_a_reply_is_threaded_by_in_reply_to_and_references(make_inbound: Build) -> None:
    first = ingest(make_inbound(message_id="<a@buyer>", sent_at=ago(hours=3)))
    by_reply = ingest(make_inbound(in_reply_to="<a@buyer>", sent_at=ago(hours=2)))
    by_refs = ingest(
        make_inbound(references=["<zzz@elsewhere>", "<a@buyer>"], sent_at=ago(hours=1))
    )

    assert first.conversation_id == by_reply.conversation_id == by_refs.conversation_id


def test_the_order_number_threads_when_nothing_else_does(make_inbound: Build) -> None:
    first = ingest(make_inbound(order_number="403-1111111-2222222", sent_at=ago(hours=3)))
    same = ingest(make_inbound(order_number="403-1111111-2222222", sent_at=ago(hours=2)))
    other = ingest(make_inbound(order_number="403-9999999-2222222", sent_at=ago(hours=1)))

    assert first.conversation_id == same.conversation_id != other.conversation_id


def test_a_new_buyer_message_reopens_a_resolved_conversation(make_inbound: Build) -> None:
    first = ingest(make_inbound(thread_id="T-9", sent_at=ago(hours=5)))
    conv = Conversation.objects.get(pk=first.conversation_id)
    actions.set_status(conv, status=Status.RESOLVED, actor=None)

    ingest(make_inbound(thread_id="T-9", text="Toujours rien reçu"))

    conv.refresh_from_db()
    assert conv.status == Status.OPEN
    assert conv.reopened_count == 1
    assert conv.resolved_at is None
    assert conv.needs_reply is True
    assert conv.events.filter(kind="reopened").count() == 1


def test_an_auto_reply_neither_reopens_nor_asks_for_an_answer(make_inbound: Build) -> None:
    first = ingest(make_inbound(thread_id="T-3", sent_at=ago(hours=5)))
    conv = Conversation.objects.get(pk=first.conversation_id)
    actions.set_status(conv, status=Status.RESOLVED, actor=None)

    ingest(make_inbound(thread_id="T-3", is_auto=True, text="Je suis absente"))

    conv.refresh_from_db()
    assert conv.status == Status.RESOLVED
    assert conv.needs_reply is False
    assert conv.message_count == 2


def test_the_marketplace_can_say_no_reply_is_needed(make_inbound: Build) -> None:
    result = ingest(make_inbound(needs_reply=False))

    conv = Conversation.objects.get(pk=result.conversation_id)
    assert conv.needs_reply is False
    assert conv.respond_by is None


def test_the_sellers_own_answer_synced_from_the_marketplace_counts_as_a_response(
    make_inbound: Build,
) -> None:
    ingest(make_inbound(thread_id="T-5", sent_at=ago(hours=3)))
    answered_at = ago(hours=1)
    ingest(make_inbound(thread_id="T-5", direction="out", sent_at=answered_at, text="Envoyé hier"))

    conv = Conversation.objects.get()
    assert conv.needs_reply is False
    assert conv.respond_by is None
    assert conv.first_response_at == answered_at
    assert conv.last_outbound_at == answered_at


def test_an_old_message_arriving_late_does_not_undo_a_later_answer(make_inbound: Build) -> None:
    ingest(make_inbound(thread_id="T-6", sent_at=ago(hours=3)))
    ingest(make_inbound(thread_id="T-6", direction="out", sent_at=ago(hours=1)))
    ingest(make_inbound(thread_id="T-6", sent_at=ago(hours=2), text="an earlier question"))

    conv = Conversation.objects.get()
    assert conv.needs_reply is False
    assert conv.message_count == 3


def test_a_merged_conversation_receives_nothing_new(make_inbound: Build, agent: Any) -> None:
    source = ingest(make_inbound(thread_id="S", sent_at=ago(hours=3)))
    target = ingest(make_inbound(thread_id="D", sent_at=ago(hours=2)))
    actions.merge_conversations(
        Conversation.objects.get(pk=source.conversation_id),
        into=Conversation.objects.get(pk=target.conversation_id),
        actor=agent,
    )

    later = ingest(make_inbound(thread_id="S", text="Et alors ?"))

    assert later.conversation_id == target.conversation_id


def test_the_same_buyer_on_two_channels_is_one_customer(make_inbound: Build, shop: Any) -> None:
    other = Channel.objects.create(shop=shop, kind="api", marketplace="fnac", name="Fnac")
    ingest(make_inbound())
    ingest(
        make_inbound(
            channel_id=other.pk,
            sender={
                "identity_kind": "fnac_customer",
                "identity_value": "F-778",
                "email": "Buyer@Example.com",
            },
        )
    )

    assert Customer.objects.count() == 1
    assert set(CustomerIdentity.objects.values_list("kind", "value")) == {
        ("email", "buyer@example.com"),
        ("fnac_customer", "f-778"),
    }
    assert Conversation.objects.count() == 2


def test_html_is_sanitised_before_it_is_stored(make_inbound: Build) -> None:
    html = (
        '<p onclick="steal()">Bonjour</p><script>alert(1)</script>'
        '<a href="javascript:alert(2)">lien</a><img src="x" onerror="alert(3)">'
    )
    result = ingest(make_inbound(html=html))

    stored = Message.objects.get(pk=result.message_id).html
    assert "Bonjour" in stored
    for bad in ("<script", "onclick", "onerror", "javascript:", "alert(1)"):
        assert bad not in stored


def test_attachments_are_stored_once_by_content(make_inbound: Build, settings: Any) -> None:
    data = b"%PDF-1.4 invoice"
    att = {"filename": "facture.pdf", "content_type": "application/pdf", "data": data}
    first = ingest(make_inbound(attachments=[att]))
    second = ingest(make_inbound(attachments=[att]))

    rows = Attachment.objects.order_by("id")
    assert [a.message_id for a in rows] == [first.message_id, second.message_id]
    assert rows[0].sha256 == rows[1].sha256
    assert files.read_bytes(rows[0].sha256) == data
    assert rows[0].size == len(data)


def test_an_attachment_over_the_limit_is_dropped_but_the_message_kept(
    make_inbound: Build, settings: Any
) -> None:
    settings.MAX_ATTACHMENT_BYTES = 1024
    big = {"filename": "video.mp4", "data": b"x" * 4096}
    result = ingest(make_inbound(attachments=[big]))

    assert result.outcome == Outcome.STORED
    att = Attachment.objects.get()
    assert att.sha256 == ""
    assert "over the 1,024-byte limit" in att.dropped_reason


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xfe\x00garbage", "not valid UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
    ],
)
def test_unreadable_payloads_are_kept_as_failed_records(
    channel: Channel, raw: bytes, expected: str
) -> None:
    result = receive(raw, channel_id=channel.pk)

    assert result.outcome == Outcome.FAILED
    record = InboundRecord.objects.get(pk=result.record_id)
    assert record.state == InboundState.FAILED
    assert expected in record.error
    assert bytes(record.raw) == raw
    _nothing_but_raw_was_written()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"sender": None}, "sender"),
        ({"sent_at": "1970-01-01T00:00:00Z"}, "is before 1995"),
        ({"sent_at": "2999-01-01T00:00:00Z"}, "in the future"),
        ({"sent_at": "2026-01-01T10:00:00"}, "timezone"),
        ({"external_id": ""}, "external_id"),
        ({"unexpected": 1}, "unexpected"),
        ({"attachments": [{"filename": "a", "data": "!!!"}]}, "base64"),
    ],
)
def test_malformed_messages_fail_with_a_clear_reason(
    channel: Channel, overrides: dict[str, Any], expected: str
) -> None:
    payload = _payload(channel, **overrides)
    payload = {k: v for k, v in payload.items() if v is not None}
    raw = json.dumps(payload).encode()

    result = receive(raw, channel_id=channel.pk)

    assert result.outcome == Outcome.FAILED
    assert expected in result.error
    assert InboundRecord.objects.get(pk=result.record_id).raw == raw
    _nothing_but_raw_was_written()


def test_a_fifty_megabyte_body_is_stored_cut_with_a_note_and_its_raw_record_kept(
    channel: Channel,
) -> None:
    raw = json.dumps(
        _payload(channel, text="a" * 50_000_000, html="<p>" + "b" * 3_000_000)
    ).encode()

    result = receive(raw, channel_id=channel.pk)

    assert result.outcome == Outcome.STORED
    message = Message.objects.get()
    assert len(message.text) <= 1_000_000
    assert message.text.startswith("a" * 900_000)
    assert message.text.endswith(
        "[… truncated at 1,000,000 of 50,000,000 characters: "
        "the original is in its raw inbound record]"
    )
    assert len(message.html) <= 1_000_100
    assert "truncated at 1,000,000 of 3,000,003 characters" in message.html
    assert len(InboundRecord.objects.get(pk=result.record_id).raw) == len(raw)


def _disk_full(msg: InboundMessage) -> InboundMessage:
    raise OSError(28, "No space left on device")


def test_a_message_for_an_unknown_channel_fails(channel: Channel) -> None:
    result = receive(json.dumps(_payload(channel, channel_id=999_999)).encode())

    assert result.outcome == Outcome.FAILED
    assert "channel 999999 does not exist" in result.error
    _nothing_but_raw_was_written()


def test_a_failed_record_can_be_retried_once_the_cause_is_fixed(
    channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(ingest_store, "_check_limits", _disk_full)
        result = receive(json.dumps(_payload(channel, text="b" * 5000)).encode())
    assert result.outcome == Outcome.FAILED
    assert "No space left on device" in result.error

    (retried,) = retry_failed()

    assert retried.outcome == Outcome.STORED
    record = InboundRecord.objects.get(pk=result.record_id)
    assert record.state == InboundState.STORED
    assert record.error == ""
    assert record.attempts == 1
    assert Message.objects.get().text == "b" * 5000


def test_retrying_a_stored_record_does_not_store_it_twice(channel: Channel) -> None:
    result = receive(json.dumps(_payload(channel)).encode())
    record = InboundRecord.objects.get(pk=result.record_id)

    again = process_record(record)

    assert again.outcome == Outcome.DUPLICATE
    assert Message.objects.count() == 1


def test_parse_names_the_channel_when_the_payload_does_not(channel: Channel) -> None:
    data = _payload(channel)
    del data["channel_id"]
    assert parse(json.dumps(data).encode(), channel_id=channel.pk).channel_id == channel.pk


# -- bulk mode ---------------------------------------------------------------------------------


def test_bulk_import_threads_within_a_batch_and_skips_duplicates(make_inbound: Build) -> None:
    msgs = [
        make_inbound(thread_id="B-1", sent_at=ago(hours=5)),
        make_inbound(thread_id="B-1", sent_at=ago(hours=4)),
        make_inbound(message_id="<q@b>", sent_at=ago(hours=3)),
        make_inbound(in_reply_to="<q@b>", sent_at=ago(hours=2)),
    ]
    counts = ingest_many([*msgs, msgs[0]], batch_size=10)

    assert counts[Outcome.STORED] == 4
    assert counts[Outcome.DUPLICATE] == 1
    assert Conversation.objects.count() == 2
    assert sorted(Conversation.objects.values_list("message_count", flat=True)) == [2, 2]


def test_one_bad_line_in_a_batch_costs_nothing_else(
    channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full_for_l4(msg: InboundMessage) -> InboundMessage:
        if msg.external_id == "L4":
            raise OSError(28, "No space left on device")
        return msg

    monkeypatch.setattr(ingest_store, "_check_limits", disk_full_for_l4)
    lines = [json.dumps(_payload(channel, external_id=f"L{i}")).encode() for i in range(6)]
    lines[2] = b'{"channel_id": 1, "external_id": "broken"'

    counts = ingest_many(lines, batch_size=3, channel_id=channel.pk)

    assert counts == {Outcome.STORED: 4, Outcome.DUPLICATE: 0, Outcome.FAILED: 2}
    assert InboundRecord.objects.count() == 6
    assert set(Message.objects.values_list("external_id", flat=True)) == {"L0", "L1", "L3", "L5"}
    failed = InboundRecord.objects.filter(state=InboundState.FAILED)
    assert sorted(r.external_id for r in failed) == ["", "L4"]


def test_bulk_and_live_modes_build_the_same_inbox(make_inbound: Build, shop: Any) -> None:
    msgs = [
        make_inbound(
            thread_id=f"T{i % 7}",
            external_id=f"same-{i}",
            sender={"identity_value": f"buyer{i % 5}@example.com"},
            sent_at=ago(hours=100 - i),
            direction="out" if i % 4 == 3 else "in",
        )
        for i in range(40)
    ]
    for msg in msgs:
        ingest(msg)
    live = _inbox_shape()

    Conversation.objects.all().delete()
    Customer.objects.all().delete()
    ingest_many([m.model_copy() for m in msgs], batch_size=16)

    assert _inbox_shape() == live


def _inbox_shape() -> list[tuple[Any, ...]]:
    return sorted(
        Conversation.objects.values_list(
            "external_thread_id",
            "message_count",
            "needs_reply",
            "first_inbound_at",
            "last_inbound_at",
            "first_response_at",
            "customer__identities__value",
        )
    )


def test_a_message_a_few_seconds_in_the_future_is_accepted(make_inbound: Build) -> None:
    # Clocks differ a little between a marketplace and us: a message "from the future" by a
    # few seconds is normal and accepted.
    result = ingest(make_inbound(sent_at=timezone.now() + timedelta(seconds=30)))
    assert result.outcome == Outcome.STORED


# -- live mode outside any transaction ---------------------------------------------------------
# As connectors and the API run it. On PostgreSQL it then pipelines (fastsql.atomic): the raw
# record is committed in a transaction of its own in the same round trip as the lookups. The
# tests above run inside the test's transaction, where it does not.

live = pytest.mark.django_db(transaction=True)


@live
def test_live_ingest_commits_the_raw_record_and_then_the_message(
    make_inbound: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[ingest_module.Stored]] = []
    monkeypatch.setattr(hooks.messages_stored, "_subscribers", [seen.append])
    msg = make_inbound(thread_id="L-1", order_number="171-0000000-0000001", tags=["vip"])

    first = ingest(msg)
    again = ingest(msg)
    follow = ingest(make_inbound(thread_id="L-1", text="Alors ?"))

    assert first.outcome == follow.outcome == Outcome.STORED
    assert again.outcome == Outcome.DUPLICATE
    assert again.message_id == first.message_id
    assert follow.conversation_id == first.conversation_id
    conv = Conversation.objects.get()
    assert conv.message_count == 2
    assert list(conv.tags.values_list("name", flat=True)) == ["vip"]
    records = InboundRecord.objects.order_by("id")
    assert [r.state for r in records] == ["stored", "duplicate", "stored"]
    assert [r.pk for r in records] == [first.record_id, again.record_id, follow.record_id]
    assert Message.objects.get(pk=first.message_id).inbound_record_id == first.record_id
    # The hooks ran after each commit, with what was stored (the duplicate stored nothing).
    assert [[(s.message_id, s.conversation_id) for s in batch] for batch in seen] == [
        [(first.message_id, conv.pk)],
        [(follow.message_id, conv.pk)],
    ]
    assert seen[0][0].order_number == "171-0000000-0000001"
    assert seen[0][0].order_id is None


@live
def test_live_ingest_refusing_a_message_keeps_its_raw_record(
    make_inbound: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_store, "_check_limits", _disk_full)

    result = ingest(make_inbound(text="x" * 50))

    assert result.outcome == Outcome.FAILED
    record = InboundRecord.objects.get()
    assert record.pk == result.record_id
    assert record.state == InboundState.FAILED
    assert "No space left on device" in record.error
    assert json.loads(bytes(record.raw))["text"] == "x" * 50
    _nothing_but_raw_was_written()


@live
def test_live_ingest_failing_midway_keeps_the_raw_record_and_nothing_else(
    make_inbound: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(pairs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ingest_store, "_store_attachments", broken)

    result = ingest(make_inbound(external_id="midway"))

    assert result.outcome == Outcome.FAILED
    record = InboundRecord.objects.get()
    assert (record.pk, record.state, record.external_id) == (result.record_id, "failed", "midway")
    assert record.error == "OSError: disk full"
    _nothing_but_raw_was_written()
    assert CustomerIdentity.objects.count() == 0

    monkeypatch.undo()
    (retried,) = retry_failed()
    assert retried.outcome == Outcome.STORED
    assert Message.objects.get().inbound_record_id == record.pk
