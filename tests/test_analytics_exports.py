"""Exports and the analytics API: CSV and Parquet read back equal to what was exported, bodies
left out unless asked (and never for analysts), who may export, the API's figures equal to the
KPI functions', the OpenAPI schema, formulas neutralised, the command."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.handlers.asgi import ASGIRequest
from django.core.management import call_command
from django.test import Client

from comptoir.accounts.models import APIToken, Role, User
from comptoir.analytics import exports, facts, kpis, writers
from comptoir.analytics.exports import TEXT, Table
from comptoir.analytics.period import Filters, Period
from comptoir.analytics.streaming import download
from comptoir.inbox.models import Channel, Message, Shop
from tests.analytics_support import T0, H, buyer, conversation, reply, resolve

RANGE = {"from": "2026-03-01", "to": "2026-03-10"}
QS = "from=2026-03-01&to=2026-03-10"
BODY = '=HYPERLINK("http://evil") mon colis secret'
API = "/api/v1/analytics"


@pytest.fixture
def history(shop: Shop, channel: Channel, agent: User) -> None:
    quick = conversation(channel, assignee=agent, intent="not_received", subject=BODY)
    buyer(quick, T0)
    reply(quick, T0 + 2 * H, agent)
    resolve(quick, T0 + 3 * H)
    slow = conversation(channel, intent="refund", order_number="-42")
    buyer(slow, T0)
    reply(slow, T0 + 30 * H, agent)
    Message.objects.filter(direction="in").update(text=BODY, subject=BODY)
    facts.rebuild(now=T0 + timedelta(days=20))


def period() -> Period:
    chosen, _f = exports.scope(RANGE)
    return chosen.period


_n = itertools.count()


def _user(role: str) -> User:
    name = f"u-{role}-{next(_n)}"
    return User.objects.create_user(name, f"{name}@example.com", "pw", role=role)


def web(role: str) -> Client:
    client = Client()
    client.force_login(_user(role))
    return client


def bearer(role: str) -> dict[str, str]:
    _token, raw = APIToken.issue(_user(role), "tests")
    return {"Authorization": f"Bearer {raw}"}


def _bytes(table: Table, fmt: str) -> bytes:
    return b"".join(writers.chunks(table, fmt))


# -- files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", exports.KINDS)
def test_parquet_reads_back_equal_to_the_rows_exported(history: None, kind: str) -> None:
    expected = [r for batch in exports.build(kind, period(), Filters()) for r in batch]
    data = _bytes(exports.build(kind, period(), Filters()), "parquet")
    read = pq.read_table(pa.BufferReader(data))
    assert read.num_rows == len(expected) > 0
    assert [tuple(r.values()) for r in read.to_pylist()] == expected


def test_csv_reads_back_equal_with_its_header(history: None) -> None:
    table = exports.build("conversations", period(), Filters())
    rows = list(csv.reader(io.StringIO(_bytes(table, "csv").decode())))
    assert rows[0] == [name for name, _k in table.columns]
    expected = [r for b in exports.build("conversations", period(), Filters()) for r in b]
    assert rows[1:] == [[str(writers.csv_cell(v)) for v in r] for r in expected]
    assert rows[1][1] == expected[0][1].isoformat()
    assert rows[2][10] == "'-42"  # an order number that would be a formula
    assert len(rows) == 3


def test_parquet_is_written_batch_by_batch(monkeypatch: pytest.MonkeyPatch, history: None) -> None:
    monkeypatch.setattr(exports, "BATCH", 1)
    chunks = list(writers.chunks(exports.build("messages", period(), Filters()), "parquet"))
    assert len(chunks) >= 4  # a row group per message, then the footer
    assert pq.ParquetFile(pa.BufferReader(b"".join(chunks))).metadata.num_row_groups == 4


def test_bodies_are_left_out_unless_asked(history: None) -> None:
    for kind in ("conversations", "messages"):
        plain = _bytes(exports.build(kind, period(), Filters()), "csv").decode()
        assert "colis secret" not in plain
        assert "text" not in plain.splitlines()[0].split(",")
        full = _bytes(exports.build(kind, period(), Filters(), with_bodies=True), "csv").decode()
        assert "colis secret" in full


def test_formulas_are_neutralised_numbers_kept() -> None:
    table = Table("t", [("a", TEXT), ("b", "float")], [[(BODY, -1.5), ("+1", 2.0), ("@x", None)]])
    rows = list(csv.reader(io.StringIO(_bytes(table, "csv").decode())))
    assert rows[1] == ["'" + BODY, "-1.5"]
    assert rows[2][0] == "'+1"
    assert rows[3] == ["'@x", ""]
    assert writers.safe_text("-42") == "'-42"
    assert writers.safe_text("plain") == "plain"


def test_bom_only_when_asked(history: None) -> None:
    table = exports.build("overview", period(), Filters())
    assert b"".join(writers.chunks(table, "csv", bom=True)).startswith(b"\xef\xbb\xbfmetric")
    assert _bytes(exports.build("overview", period(), Filters()), "csv").startswith(b"metric")


def test_the_command_writes_a_parquet_file(history: None, tmp_path: Path) -> None:
    out = tmp_path / "c.parquet"
    stdout = StringIO()
    call_command(
        "export", "conversations", "--from", "2026-03-01", "--to", "2026-03-10",
        "--format", "parquet", "--out", str(out), stdout=stdout,
    )  # fmt: skip
    assert "2 rows of conversations" in stdout.getvalue()
    assert pq.read_table(out).num_rows == 2
    call_command("export", "kpis", "--table", "channels", "--out", str(tmp_path / "k.csv"),
                 "--from", "2026-03-01", "--to", "2026-03-10", stdout=stdout)  # fmt: skip
    assert (tmp_path / "k.csv").read_text().startswith("channel_id,channel,")


# -- who ---------------------------------------------------------------------------------------


def test_agents_may_not_export_analysts_without_bodies(history: None) -> None:
    url = f"/analytics/export/download?kind=messages&{QS}"
    assert web(Role.AGENT).get(url).status_code == 403
    assert web(Role.AGENT).get("/analytics/export/").status_code == 403
    analyst = web(Role.ANALYST)
    page = analyst.get(f"/analytics/export/?{QS}")
    assert page.status_code == 200
    assert 'name="bodies"' not in page.content.decode()
    response = analyst.get(url)
    assert response.status_code == 200
    assert "colis secret" not in b"".join(response.streaming_content).decode()
    assert analyst.get(url + "&bodies=1").status_code == 403
    supervisor = web(Role.SUPERVISOR)
    assert 'name="bodies"' in supervisor.get("/analytics/export/").content.decode()
    body = b"".join(supervisor.get(url + "&bodies=1").streaming_content).decode()
    assert "colis secret" in body


def test_the_api_refuses_agents_and_bodies_to_analysts(history: None) -> None:
    client = Client()
    assert client.get(f"{API}/overview?{QS}", headers=bearer(Role.AGENT)).status_code == 403
    analyst = bearer(Role.ANALYST)
    assert client.get(f"{API}/overview?{QS}", headers=analyst).status_code == 200
    url = f"{API}/exports/messages?{QS}&format=parquet"
    response = client.get(url, headers=analyst)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    table = pq.read_table(pa.BufferReader(b"".join(response.streaming_content)))
    assert "text" not in table.column_names
    assert table.num_rows == 4
    assert client.get(url + "&with_bodies=true", headers=analyst).status_code == 403
    assert client.get(f"{API}/overview?marketplace=nope", headers=analyst).status_code == 400


# -- the API's figures -------------------------------------------------------------------------


def test_the_api_figures_are_the_kpi_functions(history: None, agent: User) -> None:
    client, auth = Client(), bearer(Role.OWNER)
    p, f = period(), Filters()

    def get(path: str) -> Any:
        response = client.get(f"{API}/{path}{'&' if '?' in path else '?'}{QS}", headers=auth)
        assert response.status_code == 200, response.content
        return response.json()

    o, expected = get("overview"), kpis.overview(p, f)
    assert o["conversations"] == expected.conversations == 2
    assert o["first_response"]["calendar"]["median"] == expected.first_response.calendar.median
    assert o["fcr"]["part"] == expected.fcr.part
    assert o["within_sla"]["whole"] == expected.within_sla.whole
    [row] = get("channels")
    assert row["conversations"] == kpis.per_channel(p, f)[0].conversations
    agents = get("agents")
    assert [a["handled"] for a in agents] == [r.handled for r in kpis.per_agent(p, f)]
    assert agents[0]["name"] in ("", agent.username)
    assert get("volume?by=intent") == [
        {"value": k, "conversations": n} for k, n in kpis.volume(p, f, "intent").items()
    ]
    assert get("heatmap")["weekdays"] == kpis.heatmap(p, f)
    assert len(get("backlog")) == len(kpis.backlog(p, f))
    assert get("surveys")["sent"] == kpis.survey_counts(p, f)[0]
    assert get(f"overview?assignee={agent.pk}")["conversations"] == 1


def test_the_openapi_schema_lists_the_analytics_endpoints(db: None) -> None:
    spec = Client().get("/api/v1/openapi.json").json()
    for path in ("overview", "channels", "agents", "teams", "volume", "heatmap", "backlog"):
        assert f"/api/v1/analytics/{path}" in spec["paths"], path
    assert "/api/v1/analytics/exports/{kind}" in spec["paths"]
    params = {p["name"] for p in spec["paths"]["/api/v1/analytics/overview"]["get"]["parameters"]}
    assert {"from", "to", "shop", "channel", "team", "marketplace", "assignee"} <= params
    assert "OverviewOut" in spec["components"]["schemas"]


def test_under_asgi_a_download_is_pulled_chunk_by_chunk() -> None:
    # Django would read a synchronous iterator whole before sending it under ASGI.
    request = ASGIRequest(
        {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": []},
        io.BytesIO(),
    )
    pulled: list[bytes] = []

    def chunks() -> Iterator[bytes]:
        for part in (b"a", b"b", b"c"):
            pulled.append(part)
            yield part

    response = download(request, chunks(), "x.csv")
    assert response.is_async

    async def first_two() -> list[bytes]:
        out = []
        async for part in response:
            out.append(part)
            if len(out) == 2:
                break
        return out

    # A thread of its own: another test may have left an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, first_two()).result() == [b"a", b"b"]
    assert pulled == [b"a", b"b"]  # the third was never read


def test_the_dashboards_link_to_the_export_page_with_their_filters(history: None) -> None:
    client = web(Role.ANALYST)
    html = client.get(f"/analytics/channels/?{QS}&shop=").content.decode()
    assert 'href="/analytics/export/?from=2026-03-01&amp;to=2026-03-10"' in html
    page = client.get(f"/analytics/export/?{QS}", headers={"Accept-Language": "fr"})
    assert "Exporter" in page.content.decode()
    assert 'value="01/03/2026"' in page.content.decode()
