"""A buyer's erasure (`privacy.erasure.erase_customers`) on a full database: its conversations
wiped, then every text and JSON column of every table swept for their name, email, order and
parcel numbers.

    .venv/bin/python bench/erasure.py [-n 100000] [--no-postgres]

On a fresh database (SQLite, then PostgreSQL): N conversations (`harness.fill_conversations`,
about five messages each) whose messages and subjects are given realistic texts, and one buyer
with three conversations, an order and a parcel, also named in two other conversations' texts.
Prints the wall and CPU time of the erasure (CPU of this process; PostgreSQL's own work is in
the wall time), the rows the sweep rewrote, and the machine's load average around the run.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from harness import fill_conversations, print_table, run_both, settle, start_django

NAME, EMAIL = "Jeanne Martin-Lefèvre", "jeanne.martin@example.org"
ORDER, TRACKING = "402-7777777-1234567", "6A99887766554"


def _texts() -> None:
    """Give the filled messages and conversations texts of a realistic length (the fill leaves
    them empty), so that the sweep reads what a real desk holds."""
    from django.db import connection

    body = (
        "Bonjour, je n'ai toujours pas reçu ma commande passée il y a dix jours. Le suivi "
        "indique qu'elle est en transit depuis une semaine. Pouvez-vous vérifier ? Merci. "
    )
    concat = "||" if connection.vendor in ("sqlite", "postgresql") else None
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE inbox_message SET text = %s {concat} CAST(id AS TEXT), "
            f"subject = %s {concat} CAST(conversation_id AS TEXT)",
            [body * 3, "Commande "],
        )
        cursor.execute(
            f"UPDATE inbox_conversation SET subject = %s {concat} CAST(id AS TEXT), snippet = %s",
            ["Où est ma commande ", body[:120]],
        )


def _buyer() -> int:
    from comptoir.inbox.models import Conversation, Customer, CustomerIdentity, Message
    from comptoir.orders.models import Order

    customer = Customer.objects.create(name=NAME, email=EMAIL)
    CustomerIdentity.objects.create(customer=customer, kind="email", value=EMAIL)
    convs = list(Conversation.objects.order_by("pk")[:5])
    order = Order.objects.create(
        shop_id=convs[0].shop_id,
        channel_id=convs[0].channel_id,
        external_id=ORDER,
        customer=customer,
        tracking_number=TRACKING,
    )
    for conv in convs[:3]:
        Conversation.objects.filter(pk=conv.pk).update(
            customer=customer, order=order, order_number=ORDER, subject=f"Commande {ORDER}"
        )
        Message.objects.filter(conversation=conv).update(
            text=f"Bonjour, {NAME} ici ({EMAIL}), commande {ORDER}, colis {TRACKING}."
        )
    # Named elsewhere too: an agent's note in another buyer's conversation.
    for conv in convs[3:]:
        Message.objects.filter(conversation=conv).update(text=f"Voir aussi {NAME}, {ORDER}.")
    return customer.pk


def child(n: int) -> None:
    start_django()
    from django.db import connection

    from comptoir.privacy import erasure

    t0 = time.perf_counter()
    filled = fill_conversations(n)
    _texts()
    customer = _buyer()
    fill = time.perf_counter() - t0
    settle(connection)
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    result = erasure.erase_customers([customer])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out = {
        "db": connection.vendor,
        "conversations": n,
        "messages": filled["messages"],
        "fill s": fill,
        "erase wall s": wall,
        "erase cpu s": cpu,
        "rows swept": result.swept,
        "load before": load_before,
        "load after": os.getloadavg()[0],
    }
    print(json.dumps(out))


def _postgres_only(n: int, url: str) -> dict[str, object]:
    import tempfile

    from harness import ROOT, _run, recreate_postgres

    recreate_postgres(url)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "COMPTOIR_DATA_DIR": tmp,
            "COMPTOIR_TASKS_BACKEND": "db",
            "COMPTOIR_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT / "src"),
            "DATABASE_URL": url,
        }
        return _run(__file__, "PostgreSQL", env, n, 5400, [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="conversations (100,000)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--postgres",
        default="postgres://root@127.0.0.1:5432/comptoir_bench_erasure",
        help="PostgreSQL server URL; the database is dropped and created",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return
    if args.no_sqlite:
        results = [_postgres_only(args.n, args.postgres)]
    else:
        postgres = None if args.no_postgres else args.postgres
        results = run_both(__file__, args.n, postgres, timeout=5400)
    print(f"erasure of one buyer among {args.n:,} conversations, {os.cpu_count()} cores")
    print_table([{"database": r.pop("db"), **{k: v for k, v in r.items()}} for r in results])


if __name__ == "__main__":
    main()
