"""The dashboards' later pages and filters: the Volumes page (heatmap, backlog, per
marketplace, shop, language), the marketplace and assignee filters, the Templates page (uses
and the CSAT that followed, recorded when a reply is made from a template), the survey scores
grouped in one query, each page's query count, and the FAQ list's minimum size and pages."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comptoir.accounts.models import Role, User
from comptoir.analytics import usage
from comptoir.analytics.period import Filters, Period, Share
from comptoir.automation.models import Suggestion, Template, TemplateUse
from comptoir.faq.models import Cluster, MiningRun
from comptoir.inbox import actions
from comptoir.inbox.models import Channel, Conversation
from comptoir.surveys import metrics
from comptoir.surveys.models import Survey
from tests import test_analytics_pages as pages_tests
from tests.analytics_support import buyer, conversation
from tests.test_analytics_pages import RANGE, user_client

# The small fixed history of the pages' tests (Amazon and Fnac, 2 March 2026).
fnac, history = pages_tests.fnac, pages_tests.history


PAGES = ["", "volumes/", "channels/", "sla/", "intents/", "agents/", "templates/", "surveys/"]


def test_the_volumes_page_shows_the_heatmap_backlog_and_volumes(history: None) -> None:
    response = user_client(Role.ANALYST).get(f"/analytics/volumes/?{RANGE}")
    board = response.context["board"]
    keys = {str(k.label): (k.value, k.previous) for k in board.keys}
    assert keys["Conversations"] == (3, 1)
    assert keys["Conversations per 100 orders"] == (None, None)  # no orders
    assert keys["Open at the end of the period"] == (3, 1)  # the quick one was resolved
    heat = board.figure("heatmap")
    # Two conversations on Monday 2 March at 11:00 in Paris, one at 12:00.
    monday = heat.rows[0]
    assert monday[0] == "Monday"
    assert (monday[1 + 11], monday[1 + 12]) == (2, 1)
    assert sum(sum(row[1:]) for row in heat.rows) == 3
    html = response.content.decode()
    assert '<td class="num heat-6">2</td>' in html  # the busiest cell, darkest
    assert '<td class="num heat-3">1</td>' in html
    # The backlog: the conversation of 25 February (never resolved) is open on 1 March; on 2
    # March, two more arrive and one of the three is resolved.
    backlog = {row[0]: row[1] for row in board.figure("backlog").rows}
    assert backlog["03/01/2026"] == 1
    assert backlog["03/02/2026"] == 3
    markets = {row[0]: (row[1], row[2]) for row in board.figure("marketplaces").rows}
    assert markets == {"Amazon": (2, pytest.approx(2 / 3)), "Fnac": (1, pytest.approx(1 / 3))}
    assert [row[:2] for row in board.figure("shops").rows] == [["Maison Lumière", 3]]
    assert [row[:2] for row in board.figure("languages").rows] == [["Unknown", 3]]
    csv = user_client(Role.OWNER).get(f"/analytics/volumes/?{RANGE}&format=csv&figure=heatmap")
    lines = csv.content.decode().splitlines()
    assert lines[0].startswith("Weekday,00,01,")
    assert lines[1].startswith("Monday,0,0,")
    assert 'id="chart-data-backlog"' in html
    assert 'data-chart="chart-heatmap"' in html  # its PNG download


def test_the_marketplace_and_assignee_filters_narrow_every_figure(
    history: None, agent: User
) -> None:
    client = user_client(Role.SUPERVISOR)
    page = client.get(f"/analytics/?{RANGE}&marketplace=fnac")
    assert page.context["board"].keys[0].value == 1
    html = page.content.decode()
    assert '<option value="fnac" selected>Fnac</option>' in html
    assert "marketplace=fnac" in html  # kept in the tabs' links and the downloads
    mine = client.get(f"/analytics/volumes/?{RANGE}&assignee={agent.pk}").context["board"]
    assert sum(sum(row[1:]) for row in mine.figure("heatmap").rows) == 1
    assert (
        f'<option value="{agent.pk}" selected>'
        in client.get(f"/analytics/?{RANGE}&assignee={agent.pk}").content.decode()
    )
    for bad in ("marketplace=nowhere", "assignee=999999", "assignee=x"):
        assert client.get(f"/analytics/?{RANGE}&{bad}").status_code == 400


def test_a_bad_filter_shows_the_page_with_the_error_in_the_readers_language(
    history: None,
) -> None:
    client = user_client(Role.ANALYST)
    page = client.get("/analytics/volumes/?period=365")
    assert page.status_code == 400
    html = page.content.decode()
    assert '<form class="filters dash-filters"' in html  # the form, to choose again
    assert "period: “365” is not one of 7d, 30d, 90d, 365d" in html
    assert page.context["board"].figures == []  # no figure for a scope nobody asked
    french = client.get("/analytics/agents/?team=x", HTTP_ACCEPT_LANGUAGE="fr")
    assert french.status_code == 400
    text = french.content.decode()
    assert "Ce filtre ne peut pas être lu" in text
    assert "équipe : « x » n\u2019est pas un identifiant" in text
    assert client.get("/analytics/?period=365&format=csv&figure=per-day").status_code == 400


def test_the_filter_bar_offers_the_marketplaces_in_use_and_the_people(
    history: None, agent: User, analyst: User
) -> None:
    html = user_client(Role.SUPERVISOR).get(f"/analytics/?{RANGE}").content.decode()
    assert '<option value="amazon">Amazon</option>' in html
    assert '<option value="ebay">' not in html  # no eBay channel
    assert f'<option value="{agent.pk}">Marie</option>' in html
    assert f'<option value="{analyst.pk}">ana</option>' not in html  # analysts only read


# -- templates and suggestions -----------------------------------------------------------------


def _reply(conv: Conversation, agent: User, template: Template) -> None:
    actions.reply(conv, actor=agent, text="Bonjour, votre colis arrive.", template_id=template.pk)


def _survey(conv: Conversation, kind: str, score: int | None, minutes: int = 5) -> None:
    at = timezone.now() + timedelta(minutes=minutes)
    Survey.objects.create(
        conversation=conv,
        kind=kind,
        token=f"t{conv.pk}",
        channel="email",
        sent_at=at,
        score=score,
        answered_at=at if score is not None else None,
    )


@pytest.fixture
def used(channel: Channel, fnac: Channel, agent: User) -> dict[str, Any]:
    """Tracking: three uses in two conversations (one by taking its suggestion), CSAT 5 and
    2 after; a third conversation whose survey went out before the template was used.
    Refund: taken once as a suggestion (NPS 10 after), suggested and not taken once."""
    tracking = Template.objects.create(name="Tracking")
    refund = Template.objects.create(name="Refund")
    convs = [conversation(channel, at=timezone.now()) for _ in range(5)]
    for conv in convs:
        buyer(conv, timezone.now())
    Suggestion.objects.create(conversation=convs[0], template=tracking, rank=1)
    _reply(convs[0], agent, tracking)
    _reply(convs[0], agent, tracking)
    _reply(convs[1], agent, tracking)
    _survey(convs[0], "csat", 5)
    _survey(convs[1], "csat", 2)
    _survey(convs[2], "csat", 1, minutes=-60)  # before the use: not "after"
    _reply(convs[2], agent, tracking)
    Suggestion.objects.create(conversation=convs[3], template=refund, rank=1)
    _reply(convs[3], agent, refund)
    _survey(convs[3], "nps", 10)
    Suggestion.objects.create(conversation=convs[4], template=refund, rank=2)
    # A reply typed by hand is no use of a template.
    actions.reply(convs[4], actor=agent, text="Bonjour, je regarde.")
    return {"tracking": tracking, "refund": refund, "convs": convs}


def test_a_reply_made_from_a_template_records_its_use_and_the_suggestion_taken(
    used: dict[str, Any],
) -> None:
    tracking = used["tracking"]
    first = used["convs"][0]
    uses = TemplateUse.objects.filter(template=tracking, conversation=first).order_by("pk")
    assert len(uses) == 2
    assert uses[0].suggestion is not None
    assert uses[0].suggestion.taken
    assert uses[0].reply is not None
    assert uses[0].reply.text == "Bonjour, votre colis arrive."
    assert uses[1].suggestion is None  # the suggestion was taken once
    assert TemplateUse.objects.count() == 5


def test_the_migration_records_the_earlier_uses_from_the_replied_events(
    used: dict[str, Any],
) -> None:
    before = sorted(
        TemplateUse.objects.values_list(
            "template_id", "conversation_id", "reply_id", "suggestion_id"
        )
    )
    TemplateUse.objects.all().delete()
    migration = importlib.import_module("comptoir.automation.migrations.0005_template_use")
    migration.backfill(django_apps, None)
    after = sorted(
        TemplateUse.objects.values_list(
            "template_id", "conversation_id", "reply_id", "suggestion_id"
        )
    )
    assert after == before
    assert len(after) == 5


def test_template_usage_counts_uses_suggestions_and_the_csat_that_followed(
    used: dict[str, Any], channel: Channel
) -> None:
    period = Period.last(1, now=timezone.now() + timedelta(hours=1))
    rows = {r.template_id: r for r in usage.template_usage(period, Filters())}
    tracking, refund = rows[used["tracking"].pk], rows[used["refund"].pk]
    assert (tracking.uses, tracking.suggested, tracking.shown) == (4, 1, 1)
    assert (tracking.conversations, tracking.surveyed) == (3, 2)
    assert tracking.csat == Share(1, 2)  # 5 and 2; the 1 was sent before the use
    assert tracking.nps is None
    assert (refund.uses, refund.suggested, refund.shown) == (1, 1, 2)
    assert refund.taken == Share(1, 2)
    assert (refund.surveyed, refund.csat, refund.nps) == (1, Share(0, 0), 100.0)
    assert list(rows) == [used["tracking"].pk, used["refund"].pk]  # most used first
    # The filters: nothing on another channel, nothing in another period.
    assert usage.template_usage(period, Filters(marketplace="fnac")) == []
    earlier = Period(period.start - timedelta(days=2), period.start)
    assert usage.template_usage(earlier, Filters(channel_id=channel.pk)) == []


def test_the_templates_page_shows_the_table(used: dict[str, Any]) -> None:
    client = user_client(Role.ANALYST)
    response = client.get("/analytics/templates/?period=7d")
    rows = {r[0]: r for r in response.context["board"].figure("templates").rows}
    assert rows["Tracking"][1:4] == [4, 1, 1]
    assert rows["Tracking"][7] == 0.5
    html = response.content.decode()
    assert "50.0 %" in html
    french = client.get("/analytics/templates/?period=7d", HTTP_ACCEPT_LANGUAGE="fr")
    assert "Depuis une suggestion" in french.content.decode()


# -- survey scores grouped ---------------------------------------------------------------------


def test_grouped_survey_scores_match_the_single_figures(channel: Channel, fnac: Channel) -> None:
    start = timezone.now() - timedelta(days=21)
    scores = [(channel, "csat", 5, 1), (channel, "csat", 2, 2), (fnac, "csat", 4, 9)]
    scores += [(fnac, "nps", 10, 10), (fnac, "nps", 3, 16), (channel, "nps", None, 17)]
    for i, (chan, kind, score, day) in enumerate(scores):
        conv = conversation(chan)
        at = start + timedelta(days=day)
        Survey.objects.create(
            conversation=conv,
            kind=kind,
            token=f"g{i}",
            channel="email",
            sent_at=at,
            score=score,
            answered_at=at if score is not None else None,
        )
    end = start + timedelta(days=21)
    by_channel = metrics.scores_by("conversation__channel_id", start=start, end=end)
    for chan in (channel, fnac):
        one = by_channel[chan.pk]
        only = {"conversation__channel_id": chan.pk}
        assert one.csat == metrics.csat(start=start, end=end, **only)
        assert one.nps == metrics.nps(start=start, end=end, **only)
        assert one.response_rate == metrics.response_rate(start=start, end=end, **only)
        assert (one.sent, one.answered) == metrics.counts(start=start, end=end, **only)
    assert by_channel[channel.pk].csat == 50.0
    weeks = [start + timedelta(days=7 * i) for i in range(3)]
    grouped = metrics.scores_by_bucket(weeks, end)
    for i, week in enumerate(grouped):
        week_end = weeks[i + 1] if i < 2 else end
        assert week.csat == metrics.csat(start=weeks[i], end=week_end)
        assert week.nps == metrics.nps(start=weeks[i], end=week_end)
        assert (week.sent, week.answered) == metrics.counts(start=weeks[i], end=week_end)
    assert [w.sent for w in grouped] == [2, 2, 2]
    assert metrics.scores_by_bucket([], end) == []


# -- query counts ------------------------------------------------------------------------------

# Queries per page on the fixed history (the session and the user included), measured on
# SQLite and PostgreSQL (PostgreSQL computes medians in the database: two more on the
# overview). The rollup's figures read the whole days from the rollup and the ragged ends from
# the facts: a few queries more per figure, the same whatever the period (the people's tables
# read the rollup first, and the facts again when the period holds few enough conversations to
# read their durations exactly). Survey scores are
# grouped: the surveys page does not grow with the weeks of the period (below), nor the channels
# page's CSAT and NPS with the channels.
MAX_QUERIES = {
    "": 41,
    "volumes/": 37,
    "channels/": 18,
    "sla/": 20,
    "intents/": 13,
    "agents/": 19,
    "templates/": 10,
    "surveys/": 16,
}


@pytest.mark.parametrize("page", PAGES)
def test_each_page_runs_a_pinned_number_of_queries(
    history: None, page: str, django_assert_max_num_queries: Any
) -> None:
    client = user_client(Role.ANALYST)
    with django_assert_max_num_queries(MAX_QUERIES[page]):
        assert client.get(f"/analytics/{page}?{RANGE}").status_code == 200


def test_the_surveys_page_costs_the_same_for_a_year_as_for_ten_days(history: None) -> None:
    client = user_client(Role.ANALYST)
    with CaptureQueriesContext(connection) as short:
        client.get(f"/analytics/surveys/?{RANGE}")
    with CaptureQueriesContext(connection) as year:
        client.get("/analytics/surveys/?from=2025-03-11&to=2026-03-10")
    assert len(year.captured_queries) == len(short.captured_queries)


# -- the FAQ list ------------------------------------------------------------------------------


@pytest.fixture
def clusters(db: None) -> MiningRun:
    """60 questions asked once and 60 asked three times."""
    run = MiningRun.objects.create(since=timezone.now(), finished_at=timezone.now(), messages=240)
    for i in range(120):
        Cluster.objects.create(run=run, size=1 if i % 2 else 3, label=f"Question {i:03d}")
    return run


def test_the_faq_hides_single_questions_and_shows_fifty_a_page(
    clusters: MiningRun, supervisor: User
) -> None:
    client = Client()
    client.force_login(supervisor)
    first = client.get("/faq/")
    shown = first.context["clusters"]
    assert len(shown) == 50
    assert all(c.size == 3 for c, _label in shown)
    html = first.content.decode()
    assert "Page 1 of 2" in html
    assert 'href="?min=2&amp;page=2"' in html
    second = client.get("/faq/?min=2&page=2").context["clusters"]
    assert len(second) == 10
    everything = client.get("/faq/?min=1")
    assert everything.context["page"].paginator.count == 120
    assert "Page 1 of 3" in everything.content.decode()
    assert client.get("/faq/?min=5").context["page"].paginator.count == 0
    with override_settings(FAQ_MIN_CLUSTER_SIZE=1):
        assert client.get("/faq/").context["page"].paginator.count == 120
    french = client.get("/faq/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Page 1 sur 2" in french
    assert "2 messages ou plus" in french


# -- in a browser ------------------------------------------------------------------------------


def test_the_heatmap_and_backlog_render_and_the_filters_change_them(
    page: Any, live_server: Any, history: None, agent: User
) -> None:
    User.objects.create_user("sup", "sup@example.com", "pw-browser-1", role=Role.SUPERVISOR)
    base = live_server.url
    page.goto(f"{base}/login/?next=" + quote(f"/analytics/volumes/?{RANGE}"))
    page.fill("input[name=username]", "sup")
    page.fill("input[name=password]", "pw-browser-1")
    page.click(".login button[type=submit]")
    page.wait_for_selector("table.heatmap[data-drawn='1']")
    page.wait_for_selector("canvas#chart-backlog[data-drawn='1']")
    monday = page.locator("table.heatmap tbody tr").first
    assert monday.locator("td").nth(11).inner_text() == "2"
    png = page.locator(".dash-png[data-chart='chart-heatmap']")
    png.click()
    assert png.get_attribute("href").startswith("data:image/png;base64,")
    # Fnac only: one conversation, at 12:00.
    page.select_option("select[name=marketplace]", "fnac")
    page.click(".dash-filters button[type=submit]")
    page.wait_for_url("**marketplace=fnac**")
    monday = page.locator("table.heatmap tbody tr").first
    assert monday.locator("td").nth(11).inner_text() == "0"
    assert monday.locator("td").nth(12).inner_text() == "1"
    # Marie's only: the quick Amazon conversation, not on Fnac.
    page.select_option("select[name=marketplace]", "")
    page.select_option("select[name=assignee]", str(agent.pk))
    page.click(".dash-filters button[type=submit]")
    page.wait_for_url(f"**assignee={agent.pk}**")
    assert "marketplace=fnac" not in page.url
    rows = page.locator("#figure-marketplaces tbody tr")
    assert rows.count() == 1
    assert rows.first.locator("td").first.inner_text() == "Amazon"
    # At 390 px the filter bar fits: no sideways scroll.
    # The page is loaded again at that width so the charts are drawn for it (a string
    # predicate in wait_for_function would need eval, which the CSP forbids).
    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    page.wait_for_selector("canvas#chart-backlog[data-drawn='1']")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.csp_errors == []
