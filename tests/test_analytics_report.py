"""The analyst's report (`comptoir report`, the dashboards' download): the figures of a small
fixed history in one HTML file that names no address, in English and French, drawn in a
browser with the network cut, and on a history imported from another help desk."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from comptoir.accounts.models import Role, Team, User
from comptoir.analytics import facts
from comptoir.inbox.models import Channel, Conversation, Message, Shop
from comptoir.surveys.models import Survey, SurveyKind
from tests.analytics_support import T0, H, buyer, conversation, reply, resolve

BODY = "Mon colis secret n'est pas arrivé"
SUBJECT = "Sujet très privé"
# Any reference to something outside the file: a script, a style sheet, an image, a font.
OUTSIDE = re.compile(
    r"(<script|<link|<img|<iframe|<object|<embed|@import|url\(|src=|href=\"(?!#))", re.I
)


@pytest.fixture
def fnac(shop: Shop, other_team: Team) -> Channel:
    return Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Fnac (API)", team=other_team
    )


@pytest.fixture
def history(channel: Channel, fnac: Channel, agent: User) -> dict[str, Conversation]:
    """Amazon: first responses of 2 h (resolved, first contact) and 30 h (late); Fnac: 6 h;
    one Amazon buyer still waiting. The period before: one Amazon conversation, 4 h.
    Surveys: CSAT 5 and 2, NPS 10."""
    quick = conversation(channel, assignee=agent, intent="not_received", subject=SUBJECT)
    buyer(quick, T0)
    reply(quick, T0 + 2 * H, agent)
    resolve(quick, T0 + 3 * H)
    slow = conversation(channel, intent="refund")
    buyer(slow, T0)
    reply(slow, T0 + 30 * H, agent)
    other = conversation(fnac, at=T0 + H, intent="not_received")
    buyer(other, T0 + H)
    reply(other, T0 + 7 * H, agent)
    waiting = conversation(channel, at=T0 + 2 * H, intent="refund")
    buyer(waiting, T0 + 2 * H)
    before = conversation(channel, at=T0 - timedelta(days=5))
    buyer(before, T0 - timedelta(days=5))
    reply(before, T0 - timedelta(days=5) + 4 * H, agent)
    Message.objects.filter(direction="in").update(text=BODY, subject=BODY)
    for conv, kind, score in ((quick, SurveyKind.CSAT, 5), (slow, SurveyKind.CSAT, 2)):
        _survey(conv, kind, score)
    _survey(other, SurveyKind.NPS, 10)
    facts.rebuild(now=T0 + timedelta(days=20))
    return {"quick": quick, "slow": slow, "other": other, "waiting": waiting}


def _survey(conv: Conversation, kind: str, score: int) -> Survey:
    return Survey.objects.create(
        conversation=conv,
        kind=kind,
        token=f"t{conv.pk}",
        sent_at=T0 + 4 * H,
        channel="email",
        answered_at=T0 + 5 * H,
        score=score,
        comment="Un commentaire privé",
    )


def report(tmp_path: Path, *args: str) -> tuple[str, str, str]:
    out, err = StringIO(), StringIO()
    path = tmp_path / "report.html"
    call_command(
        "report", "--from", "2026-03-01", "--to", "2026-03-10", "--out", str(path), *args,
        stdout=out, stderr=err,
    )  # fmt: skip
    return path.read_text(encoding="utf-8"), out.getvalue(), err.getvalue()


def section(html: str, key: str) -> str:
    start = html.index(f'id="{key}"')
    end = html.find("<section", start)
    return html[start : end if end > 0 else None]


def assert_self_contained(html: str) -> None:
    assert "http://" not in html
    assert "https://" not in html
    assert OUTSIDE.search(html) is None, OUTSIDE.search(html)
    assert "<style>" in html
    for private in (BODY, SUBJECT, "Mon colis", "Un commentaire privé"):
        assert private not in html


def test_the_command_writes_one_file_with_the_figures(
    tmp_path: Path, history: dict[str, Conversation]
) -> None:
    html, out, err = report(tmp_path, "--lang", "en")
    assert_self_contained(html)
    assert re.search(r"report\.html: \d+ kB written in \d+\.\d s", out)
    for step in ("key figures", "trends", "channels", "SLA", "surveys", "longest waits"):
        assert f"] {step}" in err
    assert "From March 1, 2026 to March 10, 2026" in html
    keys = section(html, "keys")
    # 4 conversations against 1 before; first response median of 2, 30 and 6 hours.
    assert re.search(r"Conversations</span>\s*<strong[^>]*>4</strong>", keys)
    assert re.search(r"First response, median</span>\s*<strong[^>]*>6.0 h</strong>", keys)
    assert "+2.0 h" in keys  # 4 h before
    assert "CSAT</span>" in keys
    assert "50.0 %" in keys
    # Per channel: both channels, side by side.
    channels = section(html, "channels")
    assert "Amazon FR (API)" in channels
    assert "Fnac (API)" in channels
    # SLA: the 30 h answer and the buyer still waiting are the breaches, the worst by reference.
    sla = section(html, "sla")
    assert re.search(r"SLA breaches</span>\s*<strong[^>]*>2</strong>", sla)
    worst = sla[sla.index("The worst breaches") :]
    assert f"#{history['waiting'].pk}" in worst
    assert f"#{history['slow'].pk}" in worst
    assert f"#{history['quick'].pk}<" not in worst
    # Intents with their response times.
    assert "Refund" in section(html, "intents")
    # Surveys: the scores' distribution (one 2, one 5 of CSAT; one 10 of NPS).
    surveys = section(html, "surveys")
    assert "CSAT answers by score (1 to 5)" in surveys
    assert "Promoter" in surveys
    # The longest waits: the still waiting buyer, then the 30-hour one.
    waits = section(html, "waits")
    refs = re.findall(r"<td>#(\d+)</td>", waits)
    assert refs[:2] == [str(history["waiting"].pk), str(history["slow"].pk)]
    assert "30.0 h" in waits
    assert "still waiting" in waits
    # Charts are drawn in the file.
    assert html.count("<svg") >= 6
    assert "<path d=" in html or "<rect" in html


def test_the_report_speaks_french(tmp_path: Path, history: dict[str, Conversation]) -> None:
    html, _out, _err = report(tmp_path, "--lang", "fr")
    assert_self_contained(html)
    assert '<html lang="fr">' in html
    assert "Rapport du service client" in html
    assert "Du 1 mars 2026 au 10 mars 2026" in html
    assert "6,0 h" in html
    assert "Les attentes les plus longues" in html


def test_the_report_narrows_to_a_shop_or_channel_by_name(
    tmp_path: Path, history: dict[str, Conversation], fnac: Channel
) -> None:
    html, _out, _err = report(tmp_path, "--channel", "fnac (api)")
    keys = section(html, "keys")
    assert re.search(r"Conversations</span>\s*<strong[^>]*>1</strong>", keys)
    assert "Amazon FR (API)" not in section(html, "channels")
    assert re.search(r"<dt>Channel</dt><dd>Fnac \(API\)</dd>", html)
    with pytest.raises(CommandError, match="shop 'Nowhere'"):
        report(tmp_path, "--shop", "Nowhere")
    with pytest.raises(CommandError, match="to must follow from"):
        call_command("report", "--from", "2026-03-10", "--to", "2026-03-01", "--out", "x.html")


def test_missing_facts_are_computed_before_the_report(
    tmp_path: Path, history: dict[str, Conversation]
) -> None:
    from comptoir.analytics.models import ConversationFact

    ConversationFact.objects.filter(conversation_id=history["other"].pk).delete()
    html, _out, err = report(tmp_path)
    assert "computing the facts of 1 conversations" in err
    assert re.search(r"Conversations</span>\s*<strong[^>]*>4</strong>", section(html, "keys"))


def _client(role: str) -> Client:
    user = User.objects.create_user(f"u-{role}", f"{role}@example.com", "pw", role=role)
    client = Client()
    client.force_login(user)
    return client


def test_the_dashboards_offer_the_same_report_to_download(
    history: dict[str, Conversation],
) -> None:
    client = _client(Role.ANALYST)
    query = "from=2026-03-01&to=2026-03-10"
    overview = client.get(f"/analytics/?{query}").content.decode()
    assert f'href="/analytics/report/?{query.replace("&", "&amp;")}"' in overview
    assert "Download report (HTML)" in overview
    response = client.get(f"/analytics/report/?{query}", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition == 'attachment; filename="comptoir-report-2026-03-01-2026-03-10.html"'
    html = response.content.decode()
    assert_self_contained(html)
    assert "Rapport du service client" in html
    assert client.get("/analytics/report/?from=2026-03-10").status_code == 400
    assert _client(Role.AGENT).get(f"/analytics/report/?{query}").status_code == 403


def test_the_file_draws_its_charts_offline_in_a_browser(
    browser: Any, tmp_path: Path, history: dict[str, Conversation]
) -> None:
    _html, _out, _err = report(tmp_path)
    path = tmp_path / "report.html"
    # No network, no script: the charts are in the file itself.
    context = browser.new_context(offline=True, java_script_enabled=False, locale="en-GB")
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    context.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())
    try:
        page = context.new_page()
        page.goto(path.as_uri())
        assert requests == [path.as_uri()]
        charts = page.locator("svg[role=img]")
        assert charts.count() >= 6
        sizes = page.evaluate(
            """() => [...document.querySelectorAll('svg[role=img]')].map(s => {
                const r = s.getBoundingClientRect();
                return [r.width, r.height, s.querySelectorAll('rect, path, circle').length];
            })"""
        )
        assert all(w > 100 and h > 20 and marks > 0 for w, h, marks in sizes), sizes
        assert page.locator("h1").inner_text() == "Customer service report"
    finally:
        context.close()


def test_a_report_on_an_imported_history(tmp_path: Path, channel: Channel) -> None:
    day = (datetime.now(UTC) - timedelta(days=10)).date()
    export = tmp_path / "export.csv"
    export.write_text(
        "ticket,via,role,email,at,body,status\n"
        f"T1,email,end-user,ana@example.com,{day}T09:00:00Z,Where is my parcel?,solved\n"
        f"T1,email,agent,bob@shop.test,{day}T12:00:00Z,It left yesterday.,solved\n"
        f"T2,amazon,end-user,carl@example.com,{day}T10:00:00Z,The item arrived broken,open\n"
        f"T2,amazon,agent,bob@shop.test,{day}T20:00:00Z,Sorry: a new one is on its way,open\n",
        encoding="utf-8",
    )
    maps = ["ticket=conversation", "via=channel", "role=direction", "email=author_email"]
    maps += ["at=timestamp", "body=text", "status=status"]
    call_command(
        "import_history", str(export), "--format", "csv", "--shop", "Old desk", "--no-triage",
        "--no-progress", *(f"--map={m}" for m in maps), stdout=StringIO(),
    )  # fmt: skip
    out = tmp_path / "old.html"
    call_command(
        "report", "--from", str(day - timedelta(days=3)), "--to", str(day + timedelta(days=3)),
        "--shop", "Old desk", "--out", str(out), stdout=StringIO(), stderr=StringIO(),
    )  # fmt: skip
    html = out.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "<dt>Shop</dt><dd>Old desk</dd>" in html
    keys = section(html, "keys")
    assert re.search(r"Conversations</span>\s*<strong[^>]*>2</strong>", keys)
    # First responses of 3 h and 10 h: a median of 6.5 h.
    assert re.search(r"First response, median</span>\s*<strong[^>]*>6.5 h</strong>", keys)
    channels = section(html, "channels")
    assert "History: email" in channels
    assert "History: amazon" in channels
    assert "Where is my parcel" not in html
    assert html.count("<svg") >= 3
