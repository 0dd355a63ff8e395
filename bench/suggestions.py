"""Suggested answers: the time of one `automation.suggest.suggest` call (three templates ranked
among the shop's and rendered), against the budget of 50 ms at the 95th percentile.

    .venv/bin/python bench/suggestions.py [-n 200] [--no-postgres]

On a fresh database (SQLite, then PostgreSQL): a shop with 200 active templates (versions in
two or three languages, one or two intents each), 5,000 past answered buyer messages (the
labelled texts of `comptoir.triage.samples`), and 50 conversations with an order and a buyer
message. Then N calls over those conversations: the first (which builds the shop's index of
past answers) is printed apart; p50 and p95 of the wall time and the mean CPU time per call of
the others.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from harness import bench_channel, bench_parser, postgres_of, run_both, settle, start_django

TEMPLATES = 200
ANSWERS = 5000
CONVERSATIONS = 50


def _setup() -> list[int]:
    from comptoir.automation.models import Template, TemplateAnswer, TemplateVersion
    from comptoir.connectors.base import InboundMessage
    from comptoir.inbox.ingest import ingest_many
    from comptoir.inbox.models import Conversation
    from comptoir.lib.intents import INTENTS
    from comptoir.orders.models import Order
    from comptoir.triage import samples

    rng = random.Random(7)
    channel = bench_channel()
    shop = channel.shop
    texts = [(lang, t) for lang, ts in samples.LONG.items() for t in ts]
    templates = Template.objects.bulk_create(
        Template(shop=shop, name=f"T{i:03}", intents=rng.sample(INTENTS, rng.randint(1, 2)))
        for i in range(TEMPLATES)
    )
    TemplateVersion.objects.bulk_create(
        TemplateVersion(
            template=t,
            language=lang,
            body=f"Hello {{{{ customer_first_name }}}}, order {{{{ order_number }}}} ({lang}).",
        )
        for t in templates
        for lang in rng.sample(["en", "fr", "de", "es", "it"], rng.randint(2, 3))
    )
    TemplateAnswer.objects.bulk_create(
        TemplateAnswer(
            template=rng.choice(templates),
            shop=shop,
            intent=rng.choice(INTENTS),
            language=lang,
            buyer_text=text,
        )
        for lang, text in (rng.choice(texts) for _ in range(ANSWERS))
    )
    start = datetime.now(UTC) - timedelta(days=1)
    msgs = [
        InboundMessage.model_validate(
            {
                "channel_id": channel.pk,
                "external_id": f"m{i}",
                "thread_id": f"t{i}",
                "sender": {"identity_value": f"buyer{i}@example.com", "name": "Jeanne Martin"},
                "subject": "Commande",
                "text": texts[i * 7 % len(texts)][1],
                "order_number": f"402-{i:07}",
                "sent_at": (start + timedelta(seconds=i)).isoformat(),
            }
        )
        for i in range(CONVERSATIONS)
    ]
    ingest_many(msgs)
    ids = []
    for i, conv in enumerate(Conversation.objects.order_by("id")):
        order = Order.objects.create(
            shop=shop, channel=channel, external_id=f"402-{i:07}", tracking_number="6A1"
        )
        lang, _ = texts[i * 7 % len(texts)]
        Conversation.objects.filter(pk=conv.pk).update(
            order=order, language=lang, intent=INTENTS[i % len(INTENTS)]
        )
        ids.append(conv.pk)
    return ids


def child(n: int) -> None:
    start_django()
    from django.db import connection

    from comptoir.accounts.models import Role, User
    from comptoir.automation.suggest import suggest
    from comptoir.inbox.models import Conversation

    ids = _setup()
    agent = User.objects.create_user("agent", role=Role.AGENT, first_name="Julie")
    settle(connection)

    def call(pk: int) -> tuple[float, float, int]:
        wall, cpu = time.perf_counter(), time.process_time()
        conv = Conversation.objects.select_related("shop", "channel", "customer", "order").get(
            pk=pk
        )
        found = suggest(conv, agent=agent)
        return time.perf_counter() - wall, time.process_time() - cpu, len(found)

    cold, _, _ = call(ids[0])
    walls, cpus = [], []
    for i in range(n):
        wall, cpu, found = call(ids[i % len(ids)])
        assert found == 3, found
        walls.append(wall * 1000)
        cpus.append(cpu * 1000)
    walls.sort()
    print(
        json.dumps(
            {
                "db": connection.vendor,
                "cold_ms": cold * 1000,
                "p50_ms": statistics.median(walls),
                "p95_ms": walls[int(len(walls) * 0.95) - 1],
                "cpu_ms": statistics.fmean(cpus),
            }
        )
    )


def main() -> None:
    parser = bench_parser(
        __doc__,
        n=200,
        what="timed calls",
        postgres="postgres://postgres@127.0.0.1:5432/comptoir_bench_suggest",
    )
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return
    results = run_both(__file__, args.n, postgres_of(args))
    print(
        f"suggest(), {TEMPLATES} templates, {ANSWERS} past answers, {args.n} calls, "
        f"{os.cpu_count()} cores; budget p95 <= 50 ms"
    )
    print(f"{'database':<12}{'cold ms':>9}{'p50 ms':>9}{'p95 ms':>9}{'CPU ms':>9}")
    for r in results:
        print(
            f"{r['db']:<12}{r['cold_ms']:>9.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
            f"{r['cpu_ms']:>9.1f}"
        )


if __name__ == "__main__":
    main()
