"""The HTTP layer every marketplace connector shares: retries, Retry-After, token refresh,
exactly-once safety for sends, rate limits, and the simulator's faults it is tested against."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from comptoir.connectors.base import ConnectorError, HttpClient, parse_json
from comptoir.connectors.simulator import ContractViolation, HttpError, Request, Response, Simulator
from comptoir.lib import http
from comptoir.lib.backoff import backoff
from comptoir.lib.http import RateLimit


class Echo(Simulator):
    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.token = "good"
        self.posts: list[Any] = []
        self.route("GET", r"/items", lambda r: Response(200, {"items": [1, 2]}))
        self.route("POST", r"/items", self._post)
        self.route("GET", r"/strict", self._strict)

    def authenticate(self, request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise HttpError(401, {"message": "invalid token"})

    def _post(self, request: Request) -> Response:
        self.posts.append(request.json())
        return Response(201, {"id": len(self.posts)})

    def _strict(self, request: Request) -> Response:
        if request.arg("limit") is None:
            raise ContractViolation("query parameter 'limit' is required")
        return Response(200, {})


@pytest.fixture
def sim() -> Iterator[Echo]:
    with Echo() as server:
        assert isinstance(server, Echo)
        yield server


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(http, "sleep", recorded.append)
    return recorded


def client(sim: Echo, **kwargs: Any) -> HttpClient:
    state = {"token": "good"}

    def refresh() -> None:
        state["token"] = sim.token

    return HttpClient(
        sim.url,
        name="Echo",
        timeout=kwargs.pop("timeout", 0.3),
        headers=lambda: {"Authorization": f"Bearer {state['token']}"},
        refresh_auth=kwargs.pop("refresh_auth", refresh),
        **kwargs,
    )


def test_server_errors_are_retried_with_backoff(sim: Echo, waits: list[float]) -> None:
    sim.faults.add("error500", path="/items", times=2)

    assert client(sim).get_json("/items") == {"items": [1, 2]}

    assert len(waits) == 2
    assert sim.calls["GET /items"] == 3


def test_a_429_waits_as_long_as_retry_after_says(sim: Echo, waits: list[float]) -> None:
    sim.faults.add("rate_limit", path="/items", retry_after=7)

    client(sim).get_json("/items")

    assert waits == [7.0]


def test_a_long_retry_after_is_left_to_the_task_queue(sim: Echo, waits: list[float]) -> None:
    sim.faults.add("rate_limit", path="/items", retry_after=600)

    with pytest.raises(ConnectorError) as caught:
        client(sim).get_json("/items")

    assert caught.value.retry_after == 600
    assert not caught.value.permanent
    assert waits == []


NOW = datetime(2026, 10, 21, 7, 20, tzinfo=UTC)


def limited_once(sim: Echo, retry_after: str) -> None:
    """/limited answers one 429 with this Retry-After, then 200."""
    answered: list[str] = []

    def handler(request: Request) -> Response:
        if not answered:
            answered.append(retry_after)
            raise HttpError(429, {"message": "slow down"}, {"Retry-After": retry_after})
        return Response(200, {"ok": True})

    sim.route("GET", r"/limited", handler)


def test_a_retry_after_given_as_an_http_date_waits_until_that_date(
    sim: Echo, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "wall_clock", lambda: NOW)
    limited_once(sim, "Wed, 21 Oct 2026 07:20:42 GMT")

    assert client(sim).get_json("/limited") == {"ok": True}

    assert waits == [42.0]


def test_a_far_http_date_retry_after_is_left_to_the_task_queue(
    sim: Echo, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "wall_clock", lambda: NOW)
    limited_once(sim, "Wed, 21 Oct 2026 07:28:00 GMT")

    with pytest.raises(ConnectorError) as caught:
        client(sim).get_json("/limited")

    assert caught.value.retry_after == 480.0
    assert waits == []


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("  7  ", 7.0),
        ("1.5", 1.5),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 480.0),
        ("Wed, 21 Oct 2026 07:28:00 -0000", 480.0),  # no zone: UTC
        ("Wed, 21 Oct 2026 09:28:00 +0200", 480.0),
        ("Tue, 20 Oct 2026 07:28:00 GMT", 0.0),  # already past: now
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("999999999", http.MAX_RETRY_AFTER),  # clamped
        ("Fri, 21 Oct 2126 07:28:00 GMT", http.MAX_RETRY_AFTER),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("inf", None),
        ("nan", None),
        ("1e9", None),
        ("Wed, 32 Oct 2026 07:28:00 GMT", None),
        ("Wed, 21 Foo 2026 07:28:00 GMT", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates_within_bounds(
    monkeypatch: pytest.MonkeyPatch, header: str, seconds: float | None
) -> None:
    monkeypatch.setattr(http, "wall_clock", lambda: NOW)

    assert http.parse_retry_after(header) == seconds


def test_a_garbage_retry_after_falls_back_to_backoff(sim: Echo, waits: list[float]) -> None:
    limited_once(sim, "tomorrow-ish")

    assert client(sim).get_json("/limited") == {"ok": True}

    assert len(waits) == 1
    assert 0 <= waits[0] <= 0.5  # the first backoff step, not a made-up wait


def test_a_send_whose_answer_was_lost_is_not_repeated(sim: Echo, waits: list[float]) -> None:
    sim.faults.add("lose_response", method="POST", path="/items")

    with pytest.raises(ConnectorError) as caught:
        client(sim).request("POST", "/items", json_body={"text": "hello"})

    assert caught.value.maybe_sent
    assert sim.posts == [{"text": "hello"}]  # it got there once; the caller must check


def test_a_timed_out_read_is_retried(sim: Echo, waits: list[float]) -> None:
    sim.faults.hang_seconds = 1.0
    sim.faults.add("timeout", path="/items")

    assert client(sim, timeout=0.2).get_json("/items") == {"items": [1, 2]}
    assert len(waits) == 1


def test_an_expired_token_is_refreshed_once(sim: Echo, waits: list[float]) -> None:
    sim.token = "renewed"  # the old token is refused from now on

    assert client(sim).get_json("/items") == {"items": [1, 2]}
    assert sim.calls["GET /items"] == 2


def test_refused_credentials_are_permanent_with_the_marketplaces_words(
    sim: Echo, waits: list[float]
) -> None:
    sim.token = "other"

    def refresh_that_does_not_help() -> None:
        pass

    with pytest.raises(ConnectorError) as caught:
        client(sim, refresh_auth=refresh_that_does_not_help).get_json("/items")

    assert caught.value.permanent
    assert caught.value.status == 401
    assert "invalid token" in str(caught.value)


def test_a_contract_violation_is_a_permanent_400_and_recorded(
    sim: Echo, waits: list[float]
) -> None:
    with pytest.raises(ConnectorError, match="limit") as caught:
        client(sim).get_json("/strict")

    assert caught.value.status == 400
    assert sim.violations == ["query parameter 'limit' is required"]


def test_the_token_bucket_allows_a_burst_then_one_per_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(http, "sleep", fake_sleep)
    monkeypatch.setattr(http, "monotonic", lambda: clock[0])
    bucket = RateLimit(rate=1.0, burst=5)

    waited = [bucket.wait() for _ in range(8)]

    assert waited[:5] == [0.0] * 5
    assert waited[5:] == pytest.approx([1.0, 1.0, 1.0])
    clock[0] += 10  # idle: the bucket fills up again, to the burst and no more
    assert [bucket.wait() for _ in range(6)][-1] == pytest.approx(1.0)


def test_random_faults_are_seeded_and_counted(sim: Echo, waits: list[float]) -> None:
    sim.faults.rates["error500"] = 0.5
    http_client = client(sim, max_attempts=20)

    for _ in range(20):
        http_client.get_json("/items")

    assert sim.faults.injected["error500"] > 0
    assert sim.calls["GET /items"] == 20 + sim.faults.injected["error500"]


def test_the_shared_client_raises_its_own_error_and_the_connectors_one_raises_theirs(
    sim: Echo, waits: list[float]
) -> None:
    """lib.http knows no connector: its failures are `HttpError`; the connectors' client is the
    same code raising `ConnectorError` (an `HttpError`), which their tasks catch."""
    sim.token = "revoked"
    with (
        http.HttpClient(sim.url, name="Echo", timeout=0.3) as plain,
        pytest.raises(http.HttpError) as caught,
    ):
        plain.get_json("/items")
    assert type(caught.value) is http.HttpError
    assert (caught.value.permanent, caught.value.status) == (True, 401)

    with pytest.raises(ConnectorError) as caught:
        client(sim, refresh_auth=None).get_json("/items")
    assert (caught.value.permanent, caught.value.status) == (True, 401)
    assert not caught.value.about_message  # refused credentials: the channel needs a human


def test_an_answer_that_is_not_json_raises_the_clients_error(sim: Echo) -> None:
    sim.route("GET", r"/html", lambda r: Response(200, "<html>", content_type="text/html"))
    auth = {"Authorization": "Bearer good"}
    with http.HttpClient(sim.url, name="Echo", timeout=0.3, headers=lambda: auth) as plain:
        with pytest.raises(http.HttpError, match="not JSON") as caught:
            plain.get_json("/html")
        assert not isinstance(caught.value, ConnectorError)
        with pytest.raises(ConnectorError, match="not JSON"):
            parse_json(plain.request("GET", "/html"), "Echo")


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 0.25, 0.5), (2, 0.25, 1.0), (4, 0.25, 4.0), (7, 0.25, 30.0), (5000, 0.25, 30.0)],
)
def test_the_backoff_doubles_with_jitter_up_to_its_cap(
    attempt: int, low: float, high: float
) -> None:
    waits = [backoff(attempt, base=0.5, cap=30.0) for _ in range(200)]

    assert all(low <= w <= high for w in waits)
    assert len(set(waits)) > 100  # jittered: clients that failed together spread out
