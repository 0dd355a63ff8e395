"""Requests a Mirakl channel costs the marketplace and the worker's queue, per poll and per
order refresh, with the marketplace up and with it unreachable.

    .venv/bin/python bench/marketplace_requests.py [--threads 200] [--orders 1000]

1. files: `--threads` threads each with a buyer message carrying three files are polled; then
   every thread gets a new message with one file and is polled again (Mirakl lists a changed
   thread whole). Prints the requests and downloads of that second poll.
2. orders: `--orders` open conversations naming orders; one order refresh queues its
   look-ups. Prints the tasks queued and the requests they cost.
3. unreachable: look-ups queued while the marketplace was up then run with its port closed,
   and a refresh after a poll found it closed. Prints the tasks and the worker time they take
   (retries and their backoff are counted, not slept): how long a poll queued behind them
   waits on a worker that does not put polls first.

Runs on a fresh SQLite database with the database tasks backend (tasks are queued, then run
here one by one). The simulator runs in this process: the figures are counts, not speeds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 2000
PDF = b"%PDF-1.7\n" + b"0" * 4000


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=200)
    parser.add_argument("--orders", type=int, default=1000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    data = Path(tempfile.mkdtemp(prefix="comptoir-bench-"))
    os.environ.update(
        COMPTOIR_DATA_DIR=str(data / "var"),
        DATABASE_URL="",
        COMPTOIR_TASKS_BACKEND="db",
        COMPTOIR_LOG_LEVEL="ERROR",
        DJANGO_SETTINGS_MODULE="comptoir.settings",
        # The simulators listen on 127.0.0.1.
        COMPTOIR_OUTBOUND_ALLOW_PRIVATE="true",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django_tasks_db.models import DBTaskResult

    from comptoir.connectors.mirakl.simulator import MiraklSimulator
    from comptoir.inbox.models import Channel, Conversation, Shop
    from comptoir.inbox.tasks import poll_channel
    from comptoir.lib import http
    from comptoir.orders.tasks import refresh_open_orders

    waited: list[float] = []
    http.sleep = waited.append  # retries and backoff are counted, not slept

    def run_queued(prefix: str) -> tuple[int, float]:
        """Run the queued tasks of `prefix`; (tasks, seconds of work and backoff)."""
        count, seconds = 0, 0.0
        rows = DBTaskResult.objects.filter(task_path__startswith=prefix).order_by("enqueued_at")
        for row in rows:
            before = len(waited)
            t0 = time.perf_counter()
            row.task.call(*row.args_kwargs["args"], **row.args_kwargs["kwargs"])
            seconds += time.perf_counter() - t0 + sum(waited[before:])
            count += 1
            row.delete()
        return count, seconds

    sim = MiraklSimulator(seed=1)
    sim.start()
    try:
        call_command("migrate", verbosity=0)
        shop = Shop.objects.create(name="Bench", slug="bench")
        channel = Channel(shop=shop, kind="mirakl", marketplace="darty", name="Darty")
        channel.set_settings({"base_url": sim.url, "api_key": "sim-key", "timeout_seconds": 5})
        channel.save()

        # 1. files
        threads = [
            sim.buyer_writes(
                f"Photos {i}",
                customer_id=f"c-{i}",
                attachments=[("a.jpg", JPEG), ("b.jpg", JPEG), ("c.pdf", PDF)],
            )[0]
            for i in range(args.threads)
        ]
        poll_channel.call(channel.pk)
        for thread_id in threads:
            sim.buyer_writes("La facture", thread_id=thread_id, attachments=[("f.pdf", PDF)])
        calls_before = sum(sim.calls.values())
        downloads_before = sum(n for c, n in sim.calls.items() if c.endswith("/download"))
        poll_channel.call(channel.pk)
        calls = sum(sim.calls.values()) - calls_before
        downloads = sum(n for c, n in sim.calls.items() if c.endswith("/download"))
        downloads -= downloads_before
        redundant = downloads - args.threads
        print(
            f"files: second poll of {args.threads} threads, {args.threads} new files: "
            f"{calls} requests, {downloads} downloads "
            f"({redundant} of files already stored, {redundant / max(downloads, 1):.0%})"
        )

        # 2. orders, marketplace up
        DBTaskResult.objects.all().delete()
        numbers = [f"DRT-{i:05d}" for i in range(args.orders)]
        for number in numbers:
            sim.add_order(number)
        Conversation.objects.bulk_create(
            Conversation(shop=shop, channel=channel, subject=n, order_number=n) for n in numbers
        )
        refresh_open_orders.call()
        calls_before = sum(sim.calls.values())
        tasks, seconds = run_queued("comptoir.orders.")
        calls = sum(sim.calls.values()) - calls_before
        print(
            f"orders: refresh of {args.orders} open orders: {tasks} look-up tasks, "
            f"{calls} requests, {seconds:.1f} s of worker time"
        )

        # 3. orders, marketplace unreachable
        from comptoir.orders.models import Order

        Order.objects.all().delete()
        refresh_open_orders.call()  # queued while it was up
        channel.set_settings({"base_url": f"http://127.0.0.1:{closed_port()}", "api_key": "k"})
        channel.save()
        tasks, seconds = run_queued("comptoir.orders.")
        print(
            f"unreachable: {tasks} look-up tasks queued before it went down: "
            f"{seconds:,.1f} s of worker time (retries and backoff included)"
        )
        poll_channel.call(channel.pk)  # the poll that finds it down
        refresh_open_orders.call()
        tasks_queued = DBTaskResult.objects.filter(task_path__startswith="comptoir.orders.").count()
        tasks, seconds = run_queued("comptoir.orders.")
        print(
            f"unreachable: refresh of {args.orders} open orders after a failed poll: "
            f"{tasks_queued} look-up tasks queued, {seconds:,.1f} s of worker time "
            f"(retries and backoff included) ahead of a poll queued after them"
        )
    finally:
        sim.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
