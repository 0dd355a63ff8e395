"""Threading against arrival order: the same mailing-list corpus ingested in date order and
shuffled, each compared with the true threads.

    .venv/bin/python bench/threading_order.py [-n 30] [--postgres URL]

The corpus has n threads of 3 to 8 messages (replies to earlier messages of the thread, with
In-Reply-To and usually References), a third of them without their first message and a third
without a middle one (both still named by the others), as a list archive or a mailbox that
missed some mail has them. Prints, per arrival order, the pairwise precision and recall of the
conversations against the threads (pairs of messages put together / that belong together) and
how many threads came out exactly. Arrival order should change nothing.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import timedelta
from itertools import combinations
from typing import Any

from harness import bench_channel, run_both, start_django

SEEDS = [11, 12, 13]


def corpus(threads: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[set[str]]]:
    """Messages in date order, and the true threads as sets of external ids."""
    from django.utils import timezone

    rng = random.Random(seed)
    start = timezone.now() - timedelta(days=60)
    messages: list[dict[str, Any]] = []
    truth = []
    for t in range(threads):
        size = rng.randint(3, 8)
        parents = [None] + [rng.randrange(i) for i in range(1, size)]
        missing = set()
        if t % 3 == 1:
            missing.add(0)
        elif t % 3 == 2 and size > 3:
            missing.add(rng.randrange(1, size - 1))
        chains: list[list[int]] = []
        thread = set()
        begin = start + timedelta(hours=rng.randrange(24 * 40))
        at = begin
        for i, parent in enumerate(parents):
            chains.append([] if parent is None else [*chains[parent], parent])
            at += timedelta(minutes=rng.randrange(5, 600))
            if i in missing:
                continue
            ext = f"t{t}-m{i}"
            msg: dict[str, Any] = {
                "external_id": ext,
                "message_id": f"<{ext}@list.example>",
                "sender": {
                    "identity_kind": "email",
                    "identity_value": f"member{rng.randrange(40)}@example.org",
                },
                "subject": ("Re: " if i else "") + f"Topic {t}",
                "text": f"Message {i} of topic {t}",
                "sent_at": at.isoformat(),
                "thread_by_subject": True,
            }
            if parent is not None:
                msg["in_reply_to"] = f"<t{t}-m{parent}@list.example>"
                if parent in missing or rng.random() < 0.7:
                    msg["references"] = [f"<t{t}-m{a}@list.example>" for a in chains[i]]
            messages.append(msg)
            thread.add(ext)
        truth.append(thread)
    messages.sort(key=lambda m: m["sent_at"])
    return messages, truth


def pairs(groups: list[set[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for g in groups for p in combinations(g, 2)}  # type: ignore[misc]


def child(n: int) -> None:
    start_django()
    from comptoir.connectors.base import InboundMessage
    from comptoir.inbox.ingest import ingest, ingest_many
    from comptoir.inbox.models import Conversation, Customer, InboundRecord, Message

    channel = bench_channel()
    messages, truth = corpus(n)
    true_pairs = pairs(truth)

    def run(name: str, ordered: list[dict[str, Any]], batch: int | None) -> dict[str, Any]:
        msgs = [InboundMessage.model_validate({**m, "channel_id": channel.pk}) for m in ordered]
        if batch is None:
            for msg in msgs:
                ingest(msg)
        else:
            ingest_many(msgs, batch_size=batch)
        groups: dict[int, set[str]] = {}
        for conv_id, ext in Message.objects.values_list("conversation_id", "external_id"):
            groups.setdefault(conv_id, set()).add(ext)
        found = pairs(list(groups.values()))
        exact = sum(1 for t in truth if t in groups.values())
        Conversation.objects.all().delete()
        Customer.objects.all().delete()
        InboundRecord.objects.all().delete()
        return {
            "order": name,
            "precision": len(found & true_pairs) / len(found) if found else 1.0,
            "recall": len(found & true_pairs) / len(true_pairs),
            "exact": exact,
            "conversations": len(groups),
        }

    rows = [run("date order, one by one", messages, None)]
    rows.append(run("date order, bulk", messages, 500))
    rows.append(run("newest first, one by one", messages[::-1], None))
    for seed in SEEDS:
        shuffled = random.Random(seed).sample(messages, len(messages))
        rows.append(run(f"shuffled #{seed}, one by one", shuffled, None))
        rows.append(run(f"shuffled #{seed}, bulk of 20", shuffled, 20))
    from django.db import connection

    summary = {"db": connection.vendor, "threads": len(truth), "messages": len(messages)}
    print(json.dumps({**summary, "rows": rows}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="threads in the corpus (30)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--postgres", default=None, help="also on this PostgreSQL database URL")
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return
    for result in run_both(__file__, args.n, args.postgres):
        print(
            f"{result['db']}: {result['threads']} threads, {result['messages']} messages "
            "(pairwise precision / recall against the true threads)"
        )
        print(f"  {'arrival order':<30}{'precision':>10}{'recall':>8}{'exact':>8}{'convs':>7}")
        for row in result["rows"]:
            print(
                f"  {row['order']:<30}{row['precision']:>10.3f}{row['recall']:>8.3f}"
                f"{row['exact']:>5}/{result['threads']:<2}{row['conversations']:>7}"
            )


if __name__ == "__main__":
    main()
