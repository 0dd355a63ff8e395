"""Full-text search (comptoir.inbox.search) through the inbox filter `q`, the API and the page."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions, search
from comptoir.inbox.ingest import ingest, ingest_many
from comptoir.inbox.models import Conversation, Customer
from comptoir.inbox.permissions import visible_conversations
from comptoir.inbox.queries import ORDERS, filter_conversations, page

Build = Callable[..., InboundMessage]
_n = itertools.count(1)


def conversation(make_inbound: Build, **overrides: Any) -> Conversation:
    n = next(_n)
    overrides.setdefault("thread_id", f"search-thread-{n}")
    overrides.setdefault(
        "sender",
        {"identity_kind": "email", "identity_value": f"b{n}@example.com", "name": f"Buyer {n}"},
    )
    result = ingest(make_inbound(**overrides))
    assert result.conversation_id is not None, result.error
    return Conversation.objects.get(pk=result.conversation_id)


def found(user: User, q: str) -> list[int]:
    qs = filter_conversations(visible_conversations(user), user, q=q)
    rows, _ = page(qs, ORDERS["recent"], None, 100)
    return [c.pk for c in rows]


def test_accents_and_case_do_not_matter(make_inbound: Build, agent: User) -> None:
    conv = conversation(make_inbound, text="Je n'ai pas eu de RÉCEPTION du colis, c'est Noël.")
    conversation(make_inbound, text="Tout va bien, merci.")

    assert found(agent, "reception") == [conv.pk]
    assert found(agent, "Réception") == [conv.pk]
    assert found(agent, "NOEL colis") == [conv.pk]
    assert found(agent, "reception introuvable") == []


def test_order_numbers_are_found_whole_and_by_their_start(make_inbound: Build, agent: User) -> None:
    conv = conversation(make_inbound, order_number="402-1234567-7654321", text="Bonjour")
    conversation(make_inbound, order_number="171-9999999-0000001", text="Bonjour")

    assert found(agent, "402-1234567-7654321") == [conv.pk]
    assert found(agent, "402-12") == [conv.pk]
    assert found(agent, "402-1234567-76543210") == []


def test_emails_names_and_aliases_find_the_buyers_conversations(
    make_inbound: Build, agent: User
) -> None:
    heloise = {
        "identity_kind": "amazon_alias",
        "identity_value": "x7ab9kq2m@marketplace.amazon.fr",
        "email": "heloise.durand@example.com",
        "name": "Héloïse Durand",
    }
    first = conversation(make_inbound, sender=heloise, text="Une question")
    second = conversation(make_inbound, sender=heloise, text="Une autre")
    conversation(make_inbound, text="Une question")

    both = sorted([first.pk, second.pk])
    assert sorted(found(agent, "heloise.durand@example.com")) == both
    assert sorted(found(agent, "heloise.dur")) == both  # an email's start
    assert sorted(found(agent, "x7ab9kq2m@marketplace.amazon.fr")) == both
    assert sorted(found(agent, "X7AB9")) == both  # an alias's start, any case
    assert sorted(found(agent, "heloise")) == both  # the name, accents folded
    assert sorted(found(agent, "durand HÉLOÏSE")) == both
    assert found(agent, "nobody@example.com") == []


def test_results_come_newest_first(make_inbound: Build, agent: User) -> None:
    now = timezone.now()
    old = conversation(make_inbound, text="colis perdu", sent_at=now - timedelta(days=3))
    new = conversation(make_inbound, text="colis perdu", sent_at=now - timedelta(hours=1))
    mid = conversation(make_inbound, text="colis perdu", sent_at=now - timedelta(days=1))

    assert found(agent, "colis") == [new.pk, mid.pk, old.pk]


def test_an_agent_of_another_team_finds_nothing(
    make_inbound: Build, agent: User, outsider: User, client: Client
) -> None:
    conv = conversation(make_inbound, text="remboursement", order_number="ORD-5555")

    assert found(agent, "remboursement") == [conv.pk]
    for q in ("remboursement", "ORD-5555", "Buyer"):
        assert found(outsider, q) == []
    client.force_login(outsider)
    page_html = client.get("/inbox/?view=all&q=remboursement").content.decode()
    assert f"/inbox/c/{conv.pk}/" not in page_html


def test_keyset_pages_walk_through_search_results_without_gaps_or_repeats(
    make_inbound: Build, agent: User
) -> None:
    now = timezone.now()
    expected = [
        conversation(make_inbound, text=f"facture {i}", sent_at=now - timedelta(minutes=i)).pk
        for i in range(7)
    ]
    conversation(make_inbound, text="autre chose")
    qs = filter_conversations(visible_conversations(agent), agent, q="facture")

    seen: list[int] = []
    cursor = None
    while True:
        rows, cursor = page(qs, ORDERS["recent"], cursor, 3)
        seen += [c.pk for c in rows]
        if cursor is None:
            break
    assert seen == expected


@pytest.mark.parametrize(
    "caps",
    [
        {},  # a rare word: its conversations listed
        {"MESSAGE_PROBE": 2, "CONVERSATION_CAP": 0},  # a middling one: a subquery
        {"COMMON_MATCHES": 2, "CONVERSATION_CAP": 0},  # a common one: checked row by row
    ],
    ids=["rare", "middling", "common"],
)
def test_every_plan_finds_and_pages_the_same_results(
    make_inbound: Build, agent: User, monkeypatch: pytest.MonkeyPatch, caps: dict[str, int]
) -> None:
    now = timezone.now()
    expected = [
        conversation(make_inbound, text=f"bonjour {i}", sent_at=now - timedelta(minutes=i)).pk
        for i in range(5)
    ]
    by_order = conversation(
        make_inbound,
        text="au revoir",
        order_number="BONJOUR-1",
        sent_at=now - timedelta(minutes=10),
    )
    conversation(make_inbound, text="au revoir", sent_at=now - timedelta(minutes=20))
    for name, value in caps.items():
        monkeypatch.setattr(search, name, value)

    assert found(agent, "bonjour") == [*expected, by_order.pk]
    qs = filter_conversations(visible_conversations(agent), agent, q="bonjour")
    first, cursor = page(qs, ORDERS["recent"], None, 4)
    rest, end = page(qs, ORDERS["recent"], cursor, 4)
    assert end is None
    assert [c.pk for c in first + rest] == [*expected, by_order.pk]


def test_a_word_found_common_is_not_counted_again_and_new_matches_still_show(
    make_inbound: Build,
    agent: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search, "COMMON_MATCHES", 2)
    monkeypatch.setattr(search, "_COMMON", {})
    first = [conversation(make_inbound, text=f"expédition {i}").pk for i in range(2)]
    buyer = conversation(
        make_inbound,
        text="Bonjour",
        sender={"identity_kind": "email", "identity_value": "x@example.com", "name": "Expédition"},
    )
    qs = visible_conversations(agent).order_by("pk")

    def search_now() -> tuple[list[int], int]:
        with CaptureQueriesContext(connection) as queries:
            pks = list(search.matching(qs, "expedition").values_list("pk", flat=True))
        return pks, len(queries)

    pks, counted = search_now()  # counted (SQLite) or guessed then counted (PostgreSQL)
    assert pks == [*first, buyer.pk]
    assert counted > 1
    later = conversation(make_inbound, text="Expédition partie")
    assert search_now() == ([*first, buyer.pk, later.pk], 1)  # known common: one statement
    # Past the new bar, counted again (on PostgreSQL what was kept may be the planner's guess,
    # however large on a small table: the bar is set past any guess).
    monkeypatch.setattr(search, "COMMON_MATCHES", 10**9)
    pks, counted = search_now()
    assert len(pks) == 4
    assert counted > 1


def test_replies_and_notes_are_found(make_inbound: Build, agent: User) -> None:
    conv = conversation(make_inbound, text="Bonjour")
    actions.reply(conv, actor=agent, text="Votre colis part demain par Colissimo.")
    other = conversation(make_inbound, text="Bonjour")
    actions.add_note(other, actor=agent, text="Client déjà remboursé, vérifier l'avoir")

    assert found(agent, "colissimo") == [conv.pk]
    assert found(agent, "rembourse") == [other.pk]


def test_bulk_imports_are_searchable(channel: Any, agent: User, make_inbound: Build) -> None:
    msgs = [make_inbound(thread_id=f"bulk-{i}", text=f"article numéro {i} cassé") for i in range(3)]
    ingest_many(msgs)

    assert len(found(agent, "casse")) == 3


def test_renaming_a_buyer_moves_them_in_the_index(make_inbound: Build, agent: User) -> None:
    conv = conversation(make_inbound, text="Bonjour")
    Customer.objects.filter(pk=conv.customer_id).update(name="Zoé Lefèvre")

    assert found(agent, "lefevre") == [conv.pk]
    assert found(agent, f"Buyer {conv.customer_id}") == []


def test_the_reindex_command_rebuilds_what_was_lost(make_inbound: Build, agent: User) -> None:
    conv = conversation(make_inbound, text="parapluie", order_number="PX-778899")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:  # as if the index had been lost
            cursor.execute("INSERT INTO search_message(search_message) VALUES ('delete-all')")
            cursor.execute("DELETE FROM search_order")
        assert found(agent, "parapluie") == []
    out = StringIO()

    call_command("search", "reindex", stdout=out)

    assert "messages" in out.getvalue()
    assert found(agent, "parapluie") == [conv.pk]
    assert found(agent, "PX-7788") == [conv.pk]


def test_the_api_searches_too(client: Client, make_inbound: Build, agent: User) -> None:
    from comptoir.accounts.models import APIToken

    conv = conversation(make_inbound, text="garantie constructeur")
    _, raw = APIToken.issue(agent, "tests")
    response = client.get(
        "/api/v1/conversations?q=Garantie", headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["items"]] == [conv.pk]


def test_ranked_puts_the_best_match_first(make_inbound: Build, agent: User) -> None:
    weak = conversation(make_inbound, text="lampe " + "texte sans rapport " * 30)
    strong = conversation(make_inbound, subject="lampe", text="lampe lampe lampe cassée")

    best = search.ranked(visible_conversations(agent), "lampe")

    assert [c.pk for c in best] == [strong.pk, weak.pk]


def test_a_search_page_costs_the_same_queries_for_3_or_30_matches(
    client: Client,
    agent: User,
    make_inbound: Build,
    django_assert_num_queries: Any,
    django_assert_max_num_queries: Any,
) -> None:
    client.force_login(agent)

    def fill(n: int) -> None:
        for _ in range(n):
            conversation(make_inbound, text="livraison en retard", tags=["t"])

    fill(3)
    cache.clear()  # both pages cold: the cached counts and choices are computed each time
    with django_assert_max_num_queries(25) as small:
        response = client.get("/inbox/?view=all&q=livraison")
    assert response.status_code == 200
    fill(27)
    cache.clear()
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get("/inbox/?view=all&q=livraison")
    assert response.content.decode().count('<tr class="row') == 30


def test_a_query_without_words_finds_nothing(make_inbound: Build, agent: User) -> None:
    conversation(make_inbound, text="Bonjour")

    assert found(agent, '"*-') == []


def test_triggers_dropped_by_a_table_rebuild_come_back_after_migrate(
    make_inbound: Build, agent: User
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: PostgreSQL never rebuilds a table in a migration")
    with connection.cursor() as cursor:  # what a table rebuild does to them
        cursor.execute("DROP TRIGGER search_message_ai")
    conv = conversation(make_inbound, text="tabouret bancal")
    assert found(agent, "tabouret") == []

    search.ensure_installed(connection)  # (run by post_migrate after every migrate)

    assert found(agent, "tabouret") == [conv.pk]
    other = conversation(make_inbound, text="tabouret neuf")
    assert sorted(found(agent, "tabouret")) == sorted([conv.pk, other.pk])
