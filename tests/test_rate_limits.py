"""Rate limits: the API per token and per address (the inbound endpoint included), the public
pages (survey, public FAQ) per address; past the limit a 429 with Retry-After, in JSON for the
API; the next minute starts again; 0 turns a limit off."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from comptoir.accounts.models import Role, TokenScope, User
from comptoir.accounts.tokens import issue_token
from comptoir.web import ratelimit


@pytest.fixture
def agent(db: None) -> User:
    return User.objects.create_user("ana", "ana@example.com", "pw", role=Role.AGENT)


def bearer(user: User) -> str:
    _, raw = issue_token(user, name="ERP", scope=TokenScope.WRITE, actor=None)
    return f"Bearer {raw}"


@override_settings(RATE_LIMIT_API_TOKEN=3, RATE_LIMIT_API_IP=100)
def test_a_token_past_its_rate_gets_429_with_retry_after_and_another_token_does_not(
    agent: User,
) -> None:
    first, second = bearer(agent), bearer(agent)
    client = Client()
    for _ in range(3):
        assert client.get("/api/v1/conversations", HTTP_AUTHORIZATION=first).status_code == 200
    refused = client.get("/api/v1/conversations", HTTP_AUTHORIZATION=first)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["detail"].startswith("Too many requests. Try again in")
    # The inbound endpoint is the API too: refused before its body is read or kept.
    inbound = client.post(
        "/api/v1/inbound", b"{}", content_type="application/json", HTTP_AUTHORIZATION=first
    )
    assert inbound.status_code == 429
    assert client.get("/api/v1/conversations", HTTP_AUTHORIZATION=second).status_code == 200


@override_settings(RATE_LIMIT_API_TOKEN=100, RATE_LIMIT_API_IP=4, PROXY_COUNT=1)
def test_an_address_past_its_rate_is_refused_whatever_the_tokens(agent: User) -> None:
    attacker = Client(HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7")
    for n in range(4):
        # Invalid tokens are counted too (no database read to tell them apart).
        assert (
            attacker.get("/api/v1/conversations", HTTP_AUTHORIZATION=f"Bearer x{n}").status_code
            == 401
        )
    assert (
        attacker.get("/api/v1/conversations", HTTP_AUTHORIZATION=bearer(agent)).status_code == 429
    )
    # The forged left-hand address changes nothing; another client behind the proxy is served.
    forged = Client(HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.7")
    assert forged.get("/api/v1/conversations").status_code == 429
    other = Client(HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert other.get("/api/v1/conversations", HTTP_AUTHORIZATION=bearer(agent)).status_code == 200


@override_settings(RATE_LIMIT_PUBLIC_IP=2, LANGUAGE_CODE="en")
@pytest.mark.parametrize("path", ["/s/not-a-token/", "/help/no-such-shop/fr/"])
def test_public_pages_are_limited_per_address(db: None, path: str) -> None:
    client = Client()
    for _ in range(2):
        assert client.get(path).status_code != 429
    refused = client.get(path)
    assert refused.status_code == 429
    assert refused["Content-Type"].startswith("text/plain")
    assert int(refused["Retry-After"]) >= 1
    # The signed-in pages are not counted here.
    assert client.get("/login/").status_code == 200


@override_settings(RATE_LIMIT_PUBLIC_IP=1)
def test_the_refusal_is_in_french_for_a_french_browser(db: None) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    client.get("/s/x/")
    refused = client.get("/s/x/")
    assert "Trop de requêtes" in refused.content.decode()


def test_the_window_ends_and_the_count_starts_again(db: None) -> None:
    limit = ratelimit.Limit("api-ip", "192.0.2.5", 2)
    start = 1_000_000 * 60 + 10.5
    assert ratelimit.hit(limit, now=start) is None
    assert ratelimit.hit(limit, now=start + 1) is None
    assert ratelimit.hit(limit, now=start + 2) == 48  # seconds to the minute's end, rounded up
    assert ratelimit.hit(limit, now=start + 50) is None  # the next minute


@override_settings(RATE_LIMIT_API_TOKEN=0, RATE_LIMIT_API_IP=0, RATE_LIMIT_PUBLIC_IP=0)
def test_zero_turns_the_limits_off(agent: User) -> None:
    client = Client()
    token = bearer(agent)
    for _ in range(5):
        assert client.get("/api/v1/conversations", HTTP_AUTHORIZATION=token).status_code == 200
        assert client.get("/s/x/").status_code != 429


def test_the_openapi_document_declares_429_on_every_operation(agent: User) -> None:
    document = Client().get("/api/v1/openapi.json", HTTP_AUTHORIZATION=bearer(agent)).json()
    operations = [op for item in document["paths"].values() for op in item.values()]
    assert len(operations) >= 40
    for op in operations:
        assert "Retry-After" in op["responses"]["429"]["headers"]
