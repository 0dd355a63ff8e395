"""Marketplace sync end to end: N messages from the Mirakl simulator into the inbox.

    .venv/bin/python bench/marketplace_sync.py [-n 50000] [--database-url URL]

The simulator runs in its own process (as the marketplace would: it must not share our
interpreter's time), holding N messages in threads of 5 (buyer and shop in turn, each thread
about an order). The benchmark times `poll_channel` (M11 pages of 100 threads with their
messages, parsing, ingest in batches) on a fresh database, SQLite unless a URL is given, then
times an incremental poll after 100 new buyer messages. Target on this 2-core machine:
>= 500 messages/s on SQLite. Prints the API calls per message.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 500
PER_THREAD = 5


def serve(n: int, conn: Connection) -> None:
    """The marketplace's process: fill, serve, and answer the parent's requests."""
    sys.path.insert(0, str(ROOT / "src"))
    from comptoir.connectors.mirakl.simulator import MiraklSimulator

    sim = MiraklSimulator(seed=1)
    threads = []
    for i in range(n):
        if i % PER_THREAD == 0:
            thread_id, _ = sim.buyer_writes(
                f"Bonjour, où en est ma commande {i}? Merci de me répondre rapidement.",
                order_id=f"DRT-{i:07d}-A",
                customer_id=f"c-{i // PER_THREAD}",
                customer_name=f"Client {i // PER_THREAD}",
            )
            threads.append(thread_id)
        elif i % 2:
            sim._shop_message(sim.threads[threads[-1]], f"Réponse de la boutique {i}", [])
        else:
            sim.buyer_writes(f"Toujours rien reçu ({i}).", thread_id=threads[-1])
    sim.start()
    conn.send(sim.url)
    while True:
        command = conn.recv()
        if command == "calls":
            conn.send(sum(sim.calls.values()))
        elif command == "more":
            for i in range(100):
                sim.buyer_writes(f"Une autre question {i}", thread_id=threads[i * 7])
            conn.send(len(threads))
        else:
            sim.stop()
            conn.send("bye")
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50_000, help="messages (50000)")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    data = Path(tempfile.mkdtemp(prefix="comptoir-bench-"))
    os.environ.update(
        COMPTOIR_DATA_DIR=str(data / "var"),
        DATABASE_URL=args.database_url,
        COMPTOIR_TASKS_BACKEND="immediate",
        COMPTOIR_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="comptoir.settings",
        # The simulators listen on 127.0.0.1.
        COMPTOIR_OUTBOUND_ALLOW_PRIVATE="true",
    )
    parent, child = multiprocessing.Pipe()
    context = multiprocessing.get_context("spawn")  # a clean interpreter, no shared state
    process = context.Process(target=serve, args=(args.n, child), daemon=True)
    t0 = time.perf_counter()
    process.start()
    url = parent.recv()
    print(f"simulator ready with {args.n} messages in {time.perf_counter() - t0:.1f} s")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from comptoir.inbox.models import Channel, Message, Shop
        from comptoir.inbox.tasks import poll_channel

        if connection.vendor == "postgresql":
            call_command("flush", "--noinput", verbosity=0)
        call_command("migrate", verbosity=0)
        shop = Shop.objects.create(name="Bench", slug="bench")
        channel = Channel(shop=shop, kind="mirakl", marketplace="darty", name="Darty")
        channel.set_settings({"base_url": url, "api_key": "sim-key"})
        channel.save()

        t0 = time.perf_counter()
        poll_channel.call(channel.pk)
        elapsed = time.perf_counter() - t0
        channel.refresh_from_db()
        stored = Message.objects.count()
        assert stored == args.n, (stored, channel.last_error)
        parent.send("calls")
        calls = parent.recv()

        parent.send("more")
        parent.recv()
        t1 = time.perf_counter()
        poll_channel.call(channel.pk)
        incremental = time.perf_counter() - t1
        assert Message.objects.count() == args.n + 100
        parent.send("calls")
        more_calls = parent.recv() - calls
    finally:
        parent.send("stop")
        parent.recv()
        process.join(10)
        shutil.rmtree(data, ignore_errors=True)
    rate = args.n / elapsed
    print(f"marketplace sync benchmark: {args.n} Mirakl messages, {connection.vendor}")
    print(
        f"full sync: {elapsed:.1f} s, {rate:,.0f} messages/s (target >= {TARGET}), "
        f"{calls} API calls ({calls / args.n:.4f} per message)"
    )
    print(f"incremental sync of 100 new messages: {incremental:.2f} s, {more_calls} API calls")
    print("target met" if rate >= TARGET else "below target")


if __name__ == "__main__":
    main()
