"""Orders read beside their conversations: in batches the marketplace allows, behind polls and
replies in the worker's queue, and not at all while the marketplace cannot be reached
(against the Mirakl simulator; an unreachable host is a closed port on 127.0.0.1)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.tasks.backends.immediate import ImmediateBackend
from django.tasks.signals import task_started
from django.test import override_settings
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import User
from comptoir.connectors.mirakl.connector import MiraklConnector
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox import actions
from comptoir.inbox.models import Channel, Conversation
from comptoir.inbox.tasks import poll_channel
from comptoir.jobs import database_worker
from comptoir.jobs.queues import BACKGROUND_PRIORITY, BACKGROUND_QUEUE, claim_order, in_background
from comptoir.jobs.runner import WorkerOptions, run
from comptoir.orders.models import Order
from comptoir.orders.tasks import refresh_open_orders, sync_orders

SYNC_ORDERS = "comptoir.orders.tasks.sync_orders"


def closed_port() -> int:
    """A port nothing listens on: connecting is refused, as for a host that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def open_conversations(channel: Channel, count: int) -> list[str]:
    numbers = [f"DRT-{i:04d}" for i in range(count)]
    Conversation.objects.bulk_create(
        Conversation(
            shop=channel.shop,
            channel=channel,
            team=channel.team,
            subject=f"Commande {n}",
            order_number=n,
        )
        for n in numbers
    )
    return numbers


def run_queued_lookups() -> list[str]:
    results = []
    for row in DBTaskResult.objects.ready().filter(task_path=SYNC_ORDERS).order_by("enqueued_at"):
        results.append(sync_orders.call(*row.args_kwargs["args"]))
        row.delete()
    return results


def test_open_orders_are_read_a_hundred_at_a_time(sim: MiraklSimulator, darty: Channel) -> None:
    numbers = open_conversations(darty, 250)
    for number in numbers:
        sim.add_order(number, order_state="SHIPPED")

    assert refresh_open_orders.call() == 250

    queued = DBTaskResult.objects.filter(task_path=SYNC_ORDERS)
    assert sorted(len(row.args_kwargs["args"][1]) for row in queued) == [50, 100, 100]
    assert run_queued_lookups() == ["100 stored, 0 unknown to the marketplace"] * 2 + [
        "50 stored, 0 unknown to the marketplace"
    ]
    assert sim.calls["GET /api/orders"] == 3  # was one request per order: 250
    assert Order.objects.filter(status="shipped").count() == 250
    assert not Conversation.objects.filter(order=None).exists()
    assert sim.violations == []


def test_a_batch_reads_every_page_of_the_marketplaces_answer(
    sim: MiraklSimulator, darty: Channel
) -> None:
    for i in range(30):
        sim.add_order(f"DRT-{i}")

    found = MiraklConnector(darty).fetch_orders([f"DRT-{i}" for i in range(30)] + ["NOPE"])

    assert sorted(found) == sorted(f"DRT-{i}" for i in range(30))
    assert sim.calls["GET /api/orders"] == 1  # 100 per page asked: the default is 10
    assert sim.violations == []


def test_the_orders_of_a_poll_are_read_in_one_lookup(
    sim: MiraklSimulator, darty: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    for i in range(12):
        sim.add_order(f"DRT-{i}")
        sim.buyer_writes("Bonjour", order_id=f"DRT-{i}", customer_id=f"c-{i}")

    with django_capture_on_commit_callbacks(execute=True):
        poll_channel.call(darty.pk)

    (row,) = DBTaskResult.objects.filter(task_path=SYNC_ORDERS)
    assert sorted(row.args_kwargs["args"][1]) == sorted(f"DRT-{i}" for i in range(12))
    run_queued_lookups()
    # The lookup, and the poll's read of the incidents (OR11 too).
    assert sim.calls["GET /api/orders"] == 2
    assert Order.objects.count() == 12


def test_polls_and_replies_queued_after_order_lookups_run_before_them(
    sim: MiraklSimulator,
    darty: Channel,
    agent: User,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim.buyer_writes("Où est ma commande ?", order_id="DRT-0000")
    poll_channel.call(darty.pk)
    conv = Conversation.objects.get()
    open_conversations(darty, 300)
    refresh_open_orders.call()  # 300 orders: 3 look-ups queued first
    with django_capture_on_commit_callbacks(execute=True):
        reply = actions.reply(conv, actor=agent, text="Elle part demain.")
        poll_channel.enqueue(darty.pk)
    started: list[str] = []

    def record(sender: Any, task_result: Any, **kwargs: Any) -> None:
        started.append(task_result.task.name)

    # The worker drops "old" connections between tasks: not the test's own transaction.
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
    monkeypatch.setattr(database_worker, "close_old_connections", lambda: None)
    task_started.connect(record)
    try:
        run(WorkerOptions(worker_id="test", batch=True, scheduler=False, poll_interval=0))
    finally:
        task_started.disconnect(record)

    assert started.count("sync_orders") == 3
    first_lookup = started.index("sync_orders")
    assert {"send_message", "poll_channel"} <= set(started[:first_lookup])
    reply.refresh_from_db()
    assert reply.delivery_state == "sent"
    assert [m.body for _, m in sim.seller_messages()] == ["Elle part demain."]


class NoPriorities(ImmediateBackend):
    """A backend that, like RQ's, cannot order its queue by priority."""

    supports_priority = False


def test_without_priorities_order_lookups_go_to_the_queue_read_last() -> None:
    backend = {"BACKEND": f"{__name__}.NoPriorities", "QUEUES": ["default", BACKGROUND_QUEUE]}
    with override_settings(TASKS={"default": backend}):
        lookup = in_background(sync_orders)
        assert (lookup.queue_name, lookup.priority) == (BACKGROUND_QUEUE, 0)
    lookup = in_background(sync_orders)  # the database backend orders by priority
    assert (lookup.queue_name, lookup.priority) == ("default", BACKGROUND_PRIORITY)


def test_rq_workers_read_the_background_queue_last() -> None:
    assert claim_order(["default", BACKGROUND_QUEUE, "alerts"]) == [
        "alerts",
        "default",
        BACKGROUND_QUEUE,
    ]


def test_order_lookups_of_an_unreachable_marketplace_are_skipped_not_queued(
    sim: MiraklSimulator, darty: Channel
) -> None:
    open_conversations(darty, 150)
    darty.set_settings({"base_url": f"http://127.0.0.1:{closed_port()}", "api_key": "sim-key"})
    darty.save()
    refresh_open_orders.call()  # queued while the channel still looked fine

    poll_channel.call(darty.pk)  # the marketplace cannot be reached
    darty.refresh_from_db()

    assert darty.failure_count == 1
    assert "cannot connect" in darty.last_error
    assert run_queued_lookups() == ["skipped: the channel is failing"] * 2
    assert refresh_open_orders.call() == 0  # nothing more queued while its polls fail
    assert not DBTaskResult.objects.filter(task_path=SYNC_ORDERS).exists()
