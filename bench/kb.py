"""The public FAQ: the time to answer its pages (the index, an article, a search for a common
and for a rare word) through Django's test client, with no HTTP cache in front.

    .venv/bin/python bench/kb.py [-n 200] [--no-postgres]

On a fresh database (SQLite, then PostgreSQL): a shop with 300 published articles in French and
English (the labelled buyer texts of `comptoir.triage.samples` as answers). Prints p50 and p95
of the wall time per page, and the queries each page made.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from typing import Any

from harness import (
    bench_channel,
    bench_parser,
    postgres_of,
    print_table,
    run_both,
    settle,
    start_django,
)

ARTICLES = 300


def _setup() -> tuple[str, list[int]]:
    from comptoir.accounts.models import Role, User
    from comptoir.knowledge import actions
    from comptoir.knowledge.actions import VersionInput
    from comptoir.triage import samples

    rng = random.Random(7)
    shop = bench_channel().shop
    author = User.objects.create_user("sup", role=Role.SUPERVISOR)
    fr, en = samples.LONG["fr"], samples.LONG["en"]
    themes = ["delivery", "payment", "returns", "product", "account", "other"]
    ids = []
    for i in range(ARTICLES):
        versions = {
            "fr": VersionInput(f"Question {i} : {rng.choice(fr)[:80]}", rng.choice(fr) * 3),
            "en": VersionInput(f"Question {i}: {rng.choice(en)[:80]}", rng.choice(en) * 3),
        }
        article = actions.save_article(
            None, actor=author, shop=shop, theme=themes[i % 6], versions=versions
        )
        actions.set_published(article, actor=author, published=True)
        ids.append(article.pk)
    return shop.slug, ids


def child(n: int) -> None:
    start_django()
    from django.conf import settings
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, connection
    from django.test import Client

    from comptoir.knowledge.models import ArticleVersion

    slug, ids = _setup()
    settle(connection)
    # As Django's tests do: one connection kept across requests, so its queries are counted.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    slugs = dict(ArticleVersion.objects.filter(language="fr").values_list("article_id", "slug"))
    client = Client()
    settings.RATE_LIMIT_PUBLIC_IP = 0  # one address asking thousands of pages: the pages' cost
    pages = {
        "index": lambda i: f"/help/{slug}/fr/",
        "article": lambda i: f"/help/{slug}/fr/{ids[i % len(ids)]}-{slugs[ids[i % len(ids)]]}/",
        "search common": lambda i: f"/help/{slug}/fr/?q=commande",
        "search rare": lambda i: f"/help/{slug}/fr/?q=question+{i % ARTICLES}",
    }
    out = {"db": connection.vendor}
    for name, url in pages.items():
        client.get(url(0))  # warm
        queries: list[str] = []

        def count(execute: Any, sql: str, *rest: Any, seen: list[str] = queries) -> Any:
            seen.append(sql)
            return execute(sql, *rest)

        with connection.execute_wrapper(count):
            assert client.get(url(1)).status_code == 200
        walls = []
        for i in range(n):
            start = time.perf_counter()
            client.get(url(i))
            walls.append((time.perf_counter() - start) * 1000)
        walls.sort()
        out[name] = [statistics.median(walls), walls[int(len(walls) * 0.95) - 1], len(queries)]
    print(json.dumps(out))


def main() -> None:
    parser = bench_parser(
        __doc__,
        n=200,
        what="requests per page",
        postgres="postgres://root@127.0.0.1:5432/comptoir_bench_kb",
    )
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return
    results = run_both(__file__, args.n, postgres_of(args))
    print(
        f"public FAQ, {ARTICLES} articles x 2 languages, {args.n} requests, {os.cpu_count()} cores"
    )
    print_table(
        [
            {"database": r["db"], "page": name, "p50 ms": p50, "p95 ms": p95, "queries": queries}
            for r in results
            for name, (p50, p95, queries) in ((k, v) for k, v in r.items() if k != "db")
        ]
    )


if __name__ == "__main__":
    main()
