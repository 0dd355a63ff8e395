"""Shared by the Meta tests: a channel pointed at its simulator, webhooks posted to the view."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from comptoir.connectors.meta.simulator import MetaSimulator
from comptoir.inbox.models import Channel, Shop
from comptoir.lib import http

PLATFORMS = ("messenger", "instagram", "whatsapp")


def make_channel(shop: Shop, team: Any, sim: MetaSimulator, **settings: Any) -> Channel:
    kind = sim.platform
    channel = Channel(shop=shop, kind=kind, marketplace="shop", name=kind.title(), team=team)
    account = (
        {"phone_number_id": sim.account_id, "access_token": sim.token}
        if kind == "whatsapp"
        else {"page_id": sim.account_id, "page_access_token": sim.token}
    )
    channel.set_settings(
        {
            "app_secret": sim.app_secret,
            "verify_token": sim.verify_token,
            "graph_url": sim.url,
            "timeout_seconds": 0.5,
            **account,
            **settings,
        }
    )
    channel.save()
    return channel


def poster(channel: Channel, client: Client | None = None) -> Any:
    """`post(body, signature)` as Meta would: to the channel's webhook URL."""
    client = client or Client()

    def post(body: bytes, signature: str) -> int:
        response = client.post(
            f"/hooks/meta/{channel.pk}/",
            data=body,
            content_type="application/json",
            headers={"X-Hub-Signature-256": signature},
        )
        return int(response.status_code)

    return post


def meta_fixtures(
    *, seed: int, platforms: tuple[str, ...] = PLATFORMS, templates: bool = False
) -> tuple[Any, Any, Any]:
    """A test module's `no_sleep` (autouse: retries do not wait), `sim` (one simulator per
    platform, seeded per module) and `channel` (pointed at it; `templates` adds WhatsApp's
    business account, which the template reads need). A module takes them with
    `no_sleep, sim, channel = meta_fixtures(seed=...)`."""

    @pytest.fixture(autouse=True, name="no_sleep")
    def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(http, "sleep", lambda seconds: None)

    @pytest.fixture(params=platforms, name="sim")
    def sim(request: pytest.FixtureRequest) -> Iterator[MetaSimulator]:
        with MetaSimulator(request.param, seed=seed) as simulator:
            yield simulator  # type: ignore[misc]

    @pytest.fixture(name="channel")
    def channel(shop: Shop, team: Any, sim: MetaSimulator) -> Channel:
        extra = {"business_account_id": sim.waba_id} if templates else {}
        return make_channel(shop, team, sim, **extra)

    return no_sleep, sim, channel
