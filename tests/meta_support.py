"""Shared by the Meta tests: a channel pointed at its simulator, webhooks posted to the view."""

from __future__ import annotations

from typing import Any

from django.test import Client

from comptoir.connectors.meta.simulator import MetaSimulator
from comptoir.inbox.models import Channel, Shop


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
