"""The /cases/ page: open cases grouped by deadline, marketplace or kind, with counts per
marketplace and kind that narrow the list, in a fixed number of queries."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.cases import actions
from comptoir.cases.models import Case
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Shop

pytestmark = pytest.mark.django_db
_n = iter(range(1, 10_000))


def make_case(
    make_inbound: Any, kind: str, hours: float | None, channel: Channel | None = None
) -> Case:
    extra = {"channel_id": channel.pk} if channel else {}
    conv = Conversation.objects.get(
        pk=ingest(make_inbound(thread_id=f"list-{next(_n)}", **extra)).conversation_id
    )
    deadline = timezone.now() + timedelta(hours=hours) if hours is not None else None
    return actions.open_case(conv, kind=kind, actor=None, via="rule:1", deadline=deadline)


@pytest.fixture
def cases(make_inbound: Any, shop: Shop, team: Any) -> list[Case]:
    ebay = Channel.objects.create(shop=shop, kind="api", marketplace="ebay", name="eBay", team=team)
    made = [
        make_case(make_inbound, "refund", -3),  # overdue, Amazon
        make_case(make_inbound, "damaged", 5, ebay),  # within a day
        make_case(make_inbound, "damaged", 60),  # within a week
        make_case(make_inbound, "return", 400, ebay),  # later
        make_case(make_inbound, "not_received", None),  # none
    ]
    actions.close(make_case(make_inbound, "refund", 1), actor=None)  # not an open case
    return made


def groups(html: str) -> list[str]:
    return re.findall(r'<tbody class="case-group" id="group-([\w-]+)">', html)


def rows(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr id="case-(\d+)">', html)]


def test_open_cases_are_grouped_by_deadline_with_counts_per_marketplace_and_kind(
    client: Client, agent: User, cases: list[Case]
) -> None:
    client.force_login(agent)
    html = client.get("/cases/").content.decode()
    assert groups(html) == ["overdue", "day", "week", "later", "none"]
    assert rows(html) == [c.pk for c in cases]
    facets = re.findall(r'class="facet[^"]*" href="([^"]+)">([^<]+) <b>(\d+)</b>', html)
    found = {(label.strip(), int(n)) for _href, label, n in facets}
    assert {("Amazon", 3), ("eBay", 2)} <= found
    assert {("Damaged or defective item", 2), ("Refund", 1), ("Return", 1)} <= found
    assert any("marketplace=ebay" in href for href, _l, _n in facets)


def test_grouping_by_marketplace_or_kind_and_a_filter_narrows_the_other_counts(
    client: Client, agent: User, cases: list[Case]
) -> None:
    client.force_login(agent)
    assert groups(client.get("/cases/?group=marketplace").content.decode()) == ["amazon", "ebay"]
    by_kind = client.get("/cases/?group=kind").content.decode()
    assert groups(by_kind) == ["return", "refund", "not_received", "damaged"]
    ebay_only = client.get("/cases/?marketplace=ebay").content.decode()
    assert rows(ebay_only) == [cases[1].pk, cases[3].pk]
    kinds = re.search(r'id="facet-kinds">(.*?)</p>', ebay_only, re.S)
    assert kinds is not None
    assert "Refund" not in kinds.group(1)  # no eBay refund case
    # A bad group falls back to the deadline's.
    assert groups(client.get("/cases/?group=nope").content.decode())[0] == "overdue"


def test_the_page_costs_the_same_queries_for_5_or_25_cases(
    client: Client, agent: User, cases: list[Case], make_inbound: Any
) -> None:
    client.force_login(agent)
    counts = []
    for extra in (0, 20):
        for _ in range(extra):
            make_case(make_inbound, "refund", 10)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/cases/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
