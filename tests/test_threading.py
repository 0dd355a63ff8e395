"""Threading: which conversation a message joins, whatever mailbox and order it arrives in."""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions, migrations
from comptoir.inbox.ingest import ingest, ingest_many
from comptoir.inbox.models import (
    Channel,
    Conversation,
    Customer,
    Event,
    InboundRecord,
    Message,
    Shop,
    ThreadRef,
)
from tests.conftest import ago

Build = Callable[..., InboundMessage]

LEA = {"identity_value": "lea@example.com", "email": "lea@example.com", "name": "Léa"}
MARC = {"identity_value": "marc@example.com", "email": "marc@example.com", "name": "Marc"}


# -- threading stays inside one channel ------------------------------------------------------


def test_a_reply_delivered_to_another_mailbox_opens_a_conversation_there(
    make_inbound: Build, channel: Channel, shop: Shop
) -> None:
    other = Channel.objects.create(shop=shop, kind="email", name="SAV mailbox")
    first = ingest(make_inbound(message_id="<q1@buyer>", sent_at=ago(hours=3)))

    reply = ingest(
        make_inbound(
            channel_id=other.pk,
            in_reply_to="<q1@buyer>",
            references=["<q1@buyer>"],
            sent_at=ago(hours=2),
        )
    )

    assert reply.conversation_id != first.conversation_id
    assert Conversation.objects.get(pk=reply.conversation_id).channel_id == other.pk
    assert Conversation.objects.get(pk=first.conversation_id).message_count == 1


def test_a_reply_token_of_another_channel_does_not_thread(
    make_inbound: Build, channel: Channel
) -> None:
    other_shop = Shop.objects.create(name="Autre boutique", slug="autre")
    other = Channel.objects.create(shop=other_shop, kind="email", name="Other shop")
    first = ingest(make_inbound(sent_at=ago(hours=3)))

    reply = ingest(make_inbound(channel_id=other.pk, conversation_hint=first.conversation_id))

    assert reply.conversation_id != first.conversation_id
    assert Conversation.objects.get(pk=reply.conversation_id).shop_id == other_shop.pk


# -- an order number alone never merges two senders ------------------------------------------


def test_another_sender_quoting_an_order_gets_a_conversation_of_their_own(
    make_inbound: Build,
) -> None:
    lea = ingest(make_inbound(sender=LEA, order_number="402-1111111-1111111", sent_at=ago(hours=3)))

    marc = ingest(
        make_inbound(sender=MARC, order_number="402-1111111-1111111", sent_at=ago(hours=2))
    )

    assert marc.conversation_id != lea.conversation_id
    conv = Conversation.objects.get(pk=marc.conversation_id)
    assert conv.customer is not None
    assert conv.customer.email == "marc@example.com"
    assert Conversation.objects.get(pk=lea.conversation_id).message_count == 1


def test_an_order_shared_by_two_senders_is_shown_as_a_suggestion_on_both(
    make_inbound: Build,
) -> None:
    lea = ingest(make_inbound(sender=LEA, order_number="402-2222222-1111111", sent_at=ago(hours=3)))
    marc = ingest(
        make_inbound(sender=MARC, order_number="402-2222222-1111111", sent_at=ago(hours=2))
    )

    suggested = {
        (e.conversation_id, e.data["conversation"]) for e in Event.objects.filter(kind="same_order")
    }
    assert suggested == {
        (marc.conversation_id, lea.conversation_id),
        (lea.conversation_id, marc.conversation_id),
    }


def test_the_conversation_page_links_to_the_other_conversation_on_the_same_order(
    make_inbound: Build, client: Client, agent: User
) -> None:
    lea = ingest(make_inbound(sender=LEA, order_number="402-4444444-1", sent_at=ago(hours=3)))
    marc = ingest(make_inbound(sender=MARC, order_number="402-4444444-1", sent_at=ago(hours=2)))
    client.force_login(agent)

    page = client.get(reverse("inbox:conversation", args=[marc.conversation_id]))

    link = reverse("inbox:conversation", args=[lea.conversation_id])
    assert f'Same order as <a href="{link}">#{lea.conversation_id}</a>' in page.text


def test_the_same_sender_on_the_same_order_still_joins_her_conversation(
    make_inbound: Build,
) -> None:
    first = ingest(make_inbound(sender=LEA, order_number="402-3333333-1", sent_at=ago(hours=3)))
    ingest(make_inbound(sender=MARC, order_number="402-3333333-1", sent_at=ago(hours=2)))

    again = ingest(make_inbound(sender=LEA, order_number="402-3333333-1", sent_at=ago(hours=1)))

    assert again.conversation_id == first.conversation_id


# -- the subject rule never merges two orders --------------------------------------------------


def test_the_same_subject_on_two_different_orders_makes_two_conversations(
    make_inbound: Build,
) -> None:
    def mail(**kw: Any) -> InboundMessage:
        return make_inbound(sender=LEA, subject="Ma commande", thread_by_subject=True, **kw)

    first = ingest(mail(order_number="171-0000001-0000001", sent_at=ago(hours=5)))
    other = ingest(mail(order_number="171-0000002-0000002", sent_at=ago(hours=4)))
    no_order = ingest(mail(sent_at=ago(hours=3)))

    assert other.conversation_id != first.conversation_id
    assert Conversation.objects.get(pk=other.conversation_id).order_number == "171-0000002-0000002"
    # Without an order number the subject still threads (to the most recent one).
    assert no_order.conversation_id == other.conversation_id


# -- arrival order does not change the threads (JWZ) -------------------------------------------


def test_a_reply_that_arrives_before_its_parent_joins_it_when_the_parent_comes(
    make_inbound: Build,
) -> None:
    reply = ingest(
        make_inbound(
            message_id="<r@list>",
            in_reply_to="<p@list>",
            references=["<p@list>"],
            sent_at=ago(hours=1),
        )
    )
    parent_at = ago(hours=2)
    parent = ingest(make_inbound(message_id="<p@list>", sent_at=parent_at))

    assert parent.conversation_id == reply.conversation_id
    conv = Conversation.objects.get(pk=parent.conversation_id)
    assert conv.message_count == 2
    assert conv.first_inbound_at == parent_at
    assert conv.created_at == parent_at
    assert Conversation.objects.count() == 1


def test_two_replies_to_a_missing_message_share_a_conversation(make_inbound: Build) -> None:
    first = ingest(make_inbound(message_id="<a@list>", in_reply_to="<gone@list>"))
    second = ingest(make_inbound(message_id="<b@list>", references=["<gone@list>"]))

    assert first.conversation_id == second.conversation_id


def test_a_message_proving_two_conversations_one_merges_them_into_the_oldest(
    make_inbound: Build, agent: User
) -> None:
    newer = ingest(
        make_inbound(message_id="<b@list>", in_reply_to="<x@list>", sent_at=ago(hours=3))
    )
    older = ingest(make_inbound(message_id="<a@list>", sent_at=ago(hours=5)))
    newer_conv = Conversation.objects.get(pk=newer.conversation_id)
    actions.assign_conversation(newer_conv, assignee=agent, actor=agent)
    actions.tag_conversation(newer_conv, tag="retour", actor=agent)
    assert newer.conversation_id != older.conversation_id

    joining = ingest(
        make_inbound(
            message_id="<x@list>",
            in_reply_to="<a@list>",
            references=["<a@list>"],
            sent_at=ago(hours=4),
        )
    )

    assert joining.conversation_id == older.conversation_id
    kept = Conversation.objects.get(pk=older.conversation_id)
    gone = Conversation.objects.get(pk=newer.conversation_id)
    assert gone.merged_into_id == kept.pk
    assert gone.message_count == 0
    assert gone.needs_reply is False
    assert kept.message_count == 3
    assert set(kept.messages.values_list("message_id", flat=True)) == {
        "<a@list>",
        "<b@list>",
        "<x@list>",
    }
    # Both timelines: the absorbed conversation's events came along, and the merge is said.
    assert kept.events.filter(kind="assigned").exists()
    assert kept.events.filter(kind="merged", data__merged_from=gone.pk).exists()
    assert gone.events.filter(kind="merged", data__merged_into=kept.pk).exists()
    assert kept.assignee_id == agent.pk
    assert list(kept.tags.values_list("name", flat=True)) == ["retour"]
    assert kept.needs_reply is True
    assert kept.respond_by == kept.first_inbound_at + timedelta(hours=24)
    assert kept.first_inbound_at == Message.objects.get(message_id="<a@list>").sent_at
    assert kept.last_inbound_at == Message.objects.get(message_id="<b@list>").sent_at


def test_a_merge_found_by_ingest_keeps_an_answer_given_in_either_part(
    make_inbound: Build,
) -> None:
    asked = ingest(make_inbound(message_id="<q@list>", sent_at=ago(hours=6)))
    ingest(
        make_inbound(
            message_id="<ans@shop>",
            direction="out",
            in_reply_to="<q@list>",
            sent_at=ago(hours=2),
        )
    )
    # A follow-up written before the answer, whose parent is not stored yet.
    follow = ingest(
        make_inbound(message_id="<f@list>", in_reply_to="<mid@list>", sent_at=ago(hours=4))
    )
    assert Conversation.objects.get(pk=follow.conversation_id).needs_reply is True

    ingest(make_inbound(message_id="<mid@list>", in_reply_to="<q@list>", sent_at=ago(hours=5)))

    conv = Conversation.objects.get(pk=asked.conversation_id)
    assert Conversation.objects.get(pk=follow.conversation_id).merged_into_id == conv.pk
    assert conv.message_count == 4
    assert conv.needs_reply is False
    assert conv.respond_by is None
    assert conv.first_response_at == conv.last_outbound_at


def test_merges_found_by_message_ids_stay_inside_one_channel(
    make_inbound: Build, channel: Channel, shop: Shop
) -> None:
    other = Channel.objects.create(shop=shop, kind="email", name="SAV mailbox")
    a = ingest(make_inbound(message_id="<a@list>"))
    b = ingest(make_inbound(message_id="<b@list>"))

    both = ingest(make_inbound(channel_id=other.pk, references=["<a@list>", "<b@list>"]))

    assert len({a.conversation_id, b.conversation_id, both.conversation_id}) == 3
    assert not Conversation.objects.filter(merged_into__isnull=False).exists()


def test_marketplace_threads_are_not_merged_by_a_shared_reference(make_inbound: Build) -> None:
    one = ingest(make_inbound(thread_id="T-1", message_id="<m1@mkp>"))
    two = ingest(make_inbound(thread_id="T-2", message_id="<m2@mkp>"))

    again = ingest(make_inbound(thread_id="T-2", references=["<m1@mkp>", "<m2@mkp>"]))

    assert again.conversation_id == two.conversation_id != one.conversation_id
    assert not Conversation.objects.filter(merged_into__isnull=False).exists()


def _mailing_list(seed: int, threads: int = 7) -> tuple[list[dict[str, Any]], list[set[str]]]:
    """Threads of 3 to 8 messages replying to one another, as a list archive has them, some
    with their first message or a middle one missing (still named in the References of the
    others), some replies with In-Reply-To only. Returns the messages in date order and the
    true threads (as sets of external ids)."""
    rng = random.Random(seed)
    start = timezone.now() - timedelta(days=20)
    messages: list[dict[str, Any]] = []
    truth = []
    for t in range(threads):
        size = rng.randint(3, 8)
        parents = [None] + [rng.randrange(i) for i in range(1, size)]
        missing = set()
        if t % 3 == 1:
            missing.add(0)  # the thread's first message never reached the list archive
        elif t % 3 == 2 and size > 3:
            missing.add(rng.randrange(1, size - 1))
        chain: list[list[int]] = []
        thread = set()
        for i, parent in enumerate(parents):
            chain.append([] if parent is None else [*chain[parent], parent])
            if i in missing:
                continue
            ext = f"t{t}-m{i}"
            msg: dict[str, Any] = {
                "external_id": ext,
                "message_id": f"<{ext}@list.example>",
                "sender": {"identity_value": f"member{rng.randrange(12)}@example.org"},
                "subject": ("Re: " if i else "") + f"Topic {t}",
                "sent_at": start + timedelta(hours=t * 7 + i, minutes=rng.randrange(50)),
                "thread_by_subject": True,
            }
            if parent is not None:
                msg["in_reply_to"] = f"<t{t}-m{parent}@list.example>"
                if parent in missing or rng.random() < 0.7:
                    msg["references"] = [f"<t{t}-m{a}@list.example>" for a in chain[i]]
            messages.append(msg)
            thread.add(ext)
        truth.append(thread)
    messages.sort(key=lambda m: m["sent_at"])
    return messages, truth


def _partition() -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for conv_id, ext in Message.objects.values_list("conversation_id", "external_id"):
        groups.setdefault(conv_id, set()).add(ext)
    assert not Conversation.objects.filter(pk__in=groups, merged_into__isnull=False).exists()
    # What a merge emptied points at where its messages went: no empty conversation shows.
    empty = Conversation.objects.exclude(pk__in=groups)
    assert not empty.filter(merged_into__isnull=True).exists()
    assert not empty.exclude(merged_into__in=groups).exists()
    return {frozenset(g) for g in groups.values()}


def _wipe() -> None:
    Conversation.objects.all().delete()
    Customer.objects.all().delete()
    InboundRecord.objects.all().delete()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_mailing_list_threads_the_same_in_any_arrival_order(
    make_inbound: Build, seed: int
) -> None:
    corpus, truth = _mailing_list(seed)
    expected = {frozenset(t) for t in truth}
    rng = random.Random(seed)
    orders = [("date order", corpus), ("newest first", corpus[::-1])]
    orders += [(f"shuffle {n}", rng.sample(corpus, len(corpus))) for n in range(8)]
    # One by one (live), and in bulk batches of every kind of size (all, 2, 3, 5, 7).
    modes = [None, len(corpus), None, 2, None, 3, None, 5, None, 7]
    for (name, ordered), batch in zip(orders, modes, strict=True):
        msgs = [make_inbound(**m) for m in ordered]
        if batch is None:
            for msg in msgs:
                ingest(msg)
        else:
            ingest_many(msgs, batch_size=batch)

        assert _partition() == expected, f"{name}, batch {batch}"
        _wipe()


def test_merging_by_hand_counts_an_answer_given_after_the_absorbed_question(
    make_inbound: Build, agent: User
) -> None:
    answered = ingest(make_inbound(thread_id="A", sent_at=ago(hours=5)))
    ingest(make_inbound(thread_id="A", direction="out", sent_at=ago(hours=3)))
    question = ingest(make_inbound(thread_id="B", sent_at=ago(hours=4)))
    source = Conversation.objects.get(pk=question.conversation_id)
    actions.assign_conversation(source, assignee=agent, actor=agent)

    kept = actions.merge_conversations(
        source, into=Conversation.objects.get(pk=answered.conversation_id), actor=agent
    )

    kept.refresh_from_db()
    assert kept.needs_reply is False
    assert kept.respond_by is None
    assert kept.assignee_id == agent.pk
    assert kept.message_count == 3


def test_a_batch_whose_oldest_message_opens_the_thread_absorbs_the_stored_replies(
    make_inbound: Build,
) -> None:
    stored = ingest(
        make_inbound(message_id="<b@list>", in_reply_to="<x@list>", sent_at=ago(hours=3))
    )

    ingest_many(
        [
            make_inbound(message_id="<a@list>", sent_at=ago(hours=5)),
            make_inbound(message_id="<x@list>", in_reply_to="<a@list>", sent_at=ago(hours=4)),
        ]
    )

    kept = Conversation.objects.get(messages__message_id="<a@list>")
    assert kept.pk != stored.conversation_id
    assert kept.message_count == kept.messages.count() == 3
    absorbed = Conversation.objects.get(pk=stored.conversation_id)
    assert absorbed.merged_into_id == kept.pk
    assert absorbed.message_count == 0
    assert kept.events.filter(kind="merged", data__merged_from=absorbed.pk).exists()
    assert kept.events.filter(kind="message_received").count() == 3


def test_the_buyers_answer_to_our_sent_reply_threads_by_its_message_id(
    make_inbound: Build, agent: User
) -> None:
    asked = ingest(make_inbound(message_id="<q@buyer>", sent_at=ago(hours=3)))
    conv = Conversation.objects.get(pk=asked.conversation_id)
    sent = actions.reply(conv, actor=agent, text="Votre colis part demain.")
    actions.record_delivery(
        sent, external_id="<r1@shop.example>", sent_at=None, message_id="<r1@shop.example>"
    )

    answer = ingest(make_inbound(in_reply_to="<r1@shop.example>", subject="Re: Votre colis"))

    assert answer.conversation_id == conv.pk


def test_the_migration_keeps_the_ids_of_messages_stored_before_it(make_inbound: Build) -> None:
    ingest(make_inbound(message_id="<a@x>", in_reply_to="<p@x>", references=["<r@x>", "<p@x>"]))
    ingest(make_inbound(thread_id="T-1"))  # no Message-ID: nothing to keep
    ThreadRef.objects.all().delete()  # as before the migration
    (name,) = [
        m.name
        for m in pkgutil.iter_modules(migrations.__path__)
        if m.name.endswith("_thread_refs_for_arrival_order_threading")
    ]

    importlib.import_module(f"{migrations.__name__}.{name}").backfill(django_apps, None)

    assert sorted(ThreadRef.objects.values_list("ref", flat=True)) == ["<a@x>", "<p@x>", "<r@x>"]
    later = ingest(make_inbound(message_id="<p@x>"))
    assert Conversation.objects.get(pk=later.conversation_id).message_count == 2
