"""The dashboards: who may open them, the figures of a small fixed history, the filters in the
URL, the CSV downloads, the vendored chart library, French, and a chart drawn in a browser."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from comptoir.accounts.models import Role, Team, User
from comptoir.analytics import facts
from comptoir.inbox.models import Channel, Message, Shop
from tests.analytics_support import T0, H, buyer, conversation, reply, resolve

# 1 to 10 March 2026 (Paris); the previous period is the 10 days before.
RANGE = "from=2026-03-01&to=2026-03-10"
PAGES = ["", "volumes/", "channels/", "sla/", "intents/", "agents/", "templates/", "surveys/"]
BODY = "Mon colis secret n'est pas arrivé"


@pytest.fixture
def fnac(shop: Shop, other_team: Team) -> Channel:
    return Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Fnac (API)", team=other_team
    )


@pytest.fixture
def history(channel: Channel, fnac: Channel, agent: User) -> None:
    """Amazon: first responses of 2 h (resolved, first contact) and 30 h; Fnac: 6 h.
    The period before: one Amazon conversation answered in 4 h."""
    quick = conversation(channel, assignee=agent, intent="not_received")
    buyer(quick, T0)
    reply(quick, T0 + 2 * H, agent)
    resolve(quick, T0 + 3 * H)
    slow = conversation(channel, intent="refund")
    buyer(slow, T0)
    reply(slow, T0 + 30 * H, agent)
    other = conversation(fnac, at=T0 + H, intent="not_received")
    buyer(other, T0 + H)
    reply(other, T0 + 7 * H, agent)
    before = conversation(channel, at=T0 - timedelta(days=5))
    buyer(before, T0 - timedelta(days=5))
    reply(before, T0 - timedelta(days=5) + 4 * H, agent)
    Message.objects.filter(direction="in").update(text=BODY, subject=BODY)
    facts.rebuild(now=T0 + timedelta(days=20))


def user_client(role: str) -> Client:
    user = User.objects.create_user(f"u-{role}", f"{role}@example.com", "pw", role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.ANALYST])
def test_every_page_opens_for_the_roles_that_read_figures(history: None, role: str) -> None:
    client = user_client(role)
    for page in PAGES:
        response = client.get(f"/analytics/{page}?{RANGE}")
        assert response.status_code == 200, page
        html = response.content.decode()
        assert BODY not in html
        assert "Mon colis" not in html
    assert 'href="/analytics/"' in client.get("/inbox/").content.decode()


def test_agents_are_refused(history: None) -> None:
    client = user_client(Role.AGENT)
    for page in PAGES:
        assert client.get(f"/analytics/{page}").status_code == 403
    assert 'href="/analytics/"' not in client.get("/inbox/").content.decode()


def test_the_overview_shows_the_history_against_the_period_before(history: None) -> None:
    response = user_client(Role.ANALYST).get(f"/analytics/?{RANGE}")
    keys = {str(k.label): k for k in response.context["board"].keys}
    assert (keys["Conversations"].value, keys["Conversations"].previous) == (3, 1)
    assert keys["Conversations"].verdict == ""  # more conversations: neither better nor worse
    median = keys["First response, median"]
    assert (median.value, median.previous) == (pytest.approx(6), pytest.approx(4))
    assert median.verdict == "worse"  # slower than before
    assert keys["Answered within the SLA"].value == pytest.approx(2 / 3)  # 30 h is late
    assert keys["First-contact resolution"].value == 1
    html = response.content.decode()
    assert "6.0 h" in html
    assert "+2.0 h" in html
    assert "66.7 %" in html
    # Conversations per day: two on 2 March, one on 2 March at 11:00 too (Fnac).
    per_day = response.context["board"].figure("per-day")
    assert sum(row[1] for row in per_day.rows) == 3
    assert sum(row[2] for row in per_day.rows) == 1
    assert 'type="application/json"' in html
    assert 'id="chart-data-per-day"' in html


def test_filters_narrow_the_figures(history: None, channel: Channel, fnac: Channel) -> None:
    client = user_client(Role.SUPERVISOR)
    amazon = client.get(f"/analytics/?{RANGE}&channel={channel.pk}").context["board"].keys
    assert amazon[0].value == 2
    assert amazon[1].value == pytest.approx(16)  # median of 2 h and 30 h
    team = client.get(f"/analytics/channels/?{RANGE}&team={fnac.team_id}").context["board"]
    assert [row[0] for row in team.figures[0].rows] == ["Fnac (API)"]
    week = client.get("/analytics/?from=2026-02-20&to=2026-02-28").context["board"].keys
    assert week[0].value == 1


@pytest.mark.parametrize(
    "query",
    [
        "period=12d",
        "from=2026-03-01",
        "from=2026-03-10&to=2026-03-01",
        "from=yesterday&to=2026-03-01",
        "shop=abc",
        "channel=999999",
        "team=-1",
    ],
)
def test_a_malformed_filter_is_refused(history: None, query: str) -> None:
    assert user_client(Role.ANALYST).get(f"/analytics/?{query}").status_code == 400


def test_csv_download_has_a_header_and_the_rows(history: None) -> None:
    client = user_client(Role.ANALYST)
    response = client.get(f"/analytics/channels/?{RANGE}&format=csv&figure=channels")
    assert response["Content-Type"].startswith("text/csv")
    assert "comptoir-channels-channels-2026-03-01-2026-03-10.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["Channel", "Marketplace", "Conversations", "First response, median"]
    assert rows[0][5] == "Answered within the SLA (%)"
    body = {row[0]: row for row in rows[1:]}
    assert set(body) == {"Amazon FR (API)", "Fnac (API)"}
    assert body["Amazon FR (API)"][2] == "2"
    assert body["Amazon FR (API)"][3] == "16.0"
    assert body["Amazon FR (API)"][5] == "50.0"
    assert body["Fnac (API)"][3] == "6.0"
    assert client.get(f"/analytics/?{RANGE}&format=csv&figure=nope").status_code == 404


def test_intents_and_agents_pages_name_what_they_count(history: None, agent: User) -> None:
    client = user_client(Role.ANALYST)
    intents = client.get(f"/analytics/intents/?{RANGE}").context["board"].figures[0]
    assert {row[0]: row[1] for row in intents.rows} == {"Not received": 2, "Refund": 1}
    agents = client.get(f"/analytics/agents/?{RANGE}").context["board"].figure("agents")
    assert {row[0]: row[1] for row in agents.rows} == {agent.display_name: 1, "Unassigned": 2}


def test_the_chart_library_is_served_from_our_static_files(client: Client) -> None:
    found = finders.find("analytics/vendor/chart.umd.min.js")
    assert found is not None
    with open(found, encoding="utf-8") as f:
        assert f.read(40).startswith("/*!\n * Chart.js v4.")
    assert finders.find("analytics/vendor/chart.js-LICENSE.md") is not None
    assert finders.find("analytics/charts.js") is not None


def test_the_pages_speak_french(history: None) -> None:
    client = user_client(Role.SUPERVISOR)
    html = client.get(f"/analytics/?{RANGE}", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Vue d\u2019ensemble" in html
    assert "Première réponse, médiane" in html
    assert "Afficher le tableau" in html
    assert "6,0 h" in html  # a decimal comma
    assert "1 mars 2026" in html
    channels = client.get(f"/analytics/channels/?{RANGE}", HTTP_ACCEPT_LANGUAGE="fr")
    assert "Résolution au premier contact" in channels.content.decode()


def test_the_overview_draws_its_chart_in_a_browser(
    page: Any, live_server: Any, history: None
) -> None:
    User.objects.create_user("sup", "sup@example.com", "pw-browser-1", role=Role.SUPERVISOR)
    base = live_server.url
    # Straight to the dashboard (the inbox's live stream would outlive the test).
    page.goto(f"{base}/login/?next=" + quote(f"/analytics/?{RANGE}"))
    page.fill("input[name=username]", "sup")
    page.fill("input[name=password]", "pw-browser-1")
    page.click(".login button[type=submit]")
    page.wait_for_selector("canvas#chart-per-day[data-drawn='1']")
    # Something was painted: the canvas is not one flat colour.
    colours = page.evaluate(
        """() => {
          const c = document.querySelector('#chart-per-day');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          const seen = new Set();
          for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] + ',' + d[i+1] + ',' + d[i+2]);
          return seen.size;
        }"""
    )
    assert colours > 2
    png = page.locator(".dash-png[data-chart='chart-per-day']")
    assert png.is_visible()
    png.click()
    assert png.get_attribute("href").startswith("data:image/png;base64,")
    assert page.csp_errors == []
