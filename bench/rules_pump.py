"""The rules pump: how many events per second it matches against rules and acts on.

    .venv/bin/python bench/rules_pump.py [-n 5000] [--no-postgres]

On a fresh database (SQLite, then PostgreSQL): N buyer messages are ingested in bulk, with the
three demo-like rules active (tag damaged items, route "where is my order" round-robin, and one
that never matches); then `engine.pump()` is timed over their 2N events (created and
message_received), and a second pump with nothing new to do.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

from harness import bench_channel, bench_parser, postgres_of, run_both, start_django

TEXTS = [
    "Bonjour, où est ma commande ? Je l'attends depuis une semaine.",
    "Hello, the item arrived damaged, the box was crushed.",
    "Guten Tag, ich möchte den Artikel zurücksenden.",
    "Hola, ¿pueden enviarme la factura?",
    "Buongiorno, dov'è il mio ordine?",
]


def demo_rules() -> None:
    """The three demo-like rules (a tag, a round-robin routing, one that never matches); also
    used by bench/ingest.py's worker mode."""
    from comptoir.accounts.models import Role, Team, User
    from comptoir.automation import rules as rule_actions

    team = Team.objects.create(name="Logistics")
    for i in range(4):
        team.members.add(User.objects.create_user(f"a{i}", role=Role.AGENT))
    rule_actions.create_rule(
        actor=None,
        name="damaged",
        trigger="message_received",
        conditions={"any": [{"type": "keywords", "words": ["damaged", "cassé", "beschädigt"]}]},
        actions=[{"type": "tag", "tag": "damaged"}],
    )
    rule_actions.create_rule(
        actor=None,
        name="wismo",
        trigger="message_received",
        conditions={"any": [{"type": "keywords", "words": ["où est ma commande", "dov'è"]}]},
        actions=[{"type": "assign_team", "team_id": team.pk, "strategy": "round_robin"}],
    )
    rule_actions.create_rule(
        actor=None,
        name="never",
        trigger="message_received",
        conditions={"all": [{"type": "regex", "pattern": r"\bZZZ-\d{9}\b"}]},
        actions=[{"type": "tag", "tag": "never"}],
    )


def child(n: int) -> None:
    start_django()
    from django.db import connection

    from comptoir.automation import engine
    from comptoir.automation.models import RuleRun
    from comptoir.connectors.base import InboundMessage
    from comptoir.inbox.ingest import Outcome, ingest_many
    from comptoir.inbox.models import Event

    channel = bench_channel()
    demo_rules()
    start = datetime.now(UTC) - timedelta(days=1)
    msgs = [
        InboundMessage.model_validate(
            {
                "channel_id": channel.pk,
                "external_id": f"m{i}",
                "thread_id": f"t{i}",
                "sender": {"identity_value": f"buyer{i}@example.com"},
                "subject": "Commande",
                "text": TEXTS[i % len(TEXTS)],
                "sent_at": (start + timedelta(seconds=i)).isoformat(),
            }
        )
        for i in range(n)
    ]
    counts = ingest_many(msgs, batch_size=500)
    assert counts[Outcome.STORED] == n, counts
    events = Event.objects.count()

    t0 = time.perf_counter()
    result = engine.pump()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.pump()
    idle = time.perf_counter() - t0
    # The pump also reads the events the rules' own actions wrote (and skips them: no loops).
    assert result.events >= events, (result, events)
    print(
        json.dumps(
            {
                "db": connection.vendor,
                "events": result.events,
                "runs": RuleRun.objects.count(),
                "seconds": first,
                "events_per_s": events / first,
                "idle_ms": idle * 1000,
            }
        )
    )


def main() -> None:
    parser = bench_parser(
        __doc__,
        n=5000,
        what="buyer messages",
        postgres="postgres://postgres@127.0.0.1:5432/comptoir_bench_rules",
    )
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return
    results = run_both(__file__, args.n, postgres_of(args))
    print(f"rules pump, {args.n} new conversations, 3 rules, 1 process, {os.cpu_count()} cores")
    print(f"{'database':<12}{'events':>8}{'runs':>7}{'seconds':>9}{'events/s':>10}{'idle ms':>9}")
    for r in results:
        print(
            f"{r['db']:<12}{r['events']:>8}{r['runs']:>7}{r['seconds']:>9.2f}"
            f"{r['events_per_s']:>10,.0f}{r['idle_ms']:>9.1f}"
        )


if __name__ == "__main__":
    main()
