"""A shop's live chat channel and a visitor's calls to its endpoints, for the chat's tests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from comptoir.accounts.models import Team
from comptoir.connectors.chat import service
from comptoir.inbox.models import Channel, Shop

SHOP_KEY = "demo-shop-key-1"
SITE = "https://shop.example"


@pytest.fixture
def chat_channel(shop: Shop, team: Team) -> Channel:
    channel = Channel(shop=shop, kind="chat", name="Live chat", team=team)
    channel.set_settings(
        {"shop_key": SHOP_KEY, "allowed_origins": [SITE], "greeting": "Hello from the shop"}
    )
    channel.save()
    service._channels.clear()
    return channel


@pytest.fixture
def open_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shop is open and an agent is at the desk, whatever the time of the run."""
    monkeypatch.setattr(
        service, "availability", lambda chat, now=None: {"online": True, "opens_at": ""}
    )


class Visitor:
    """A browser on the shop's site: JSON as text/plain, the shop's Origin."""

    def __init__(self, origin: str = SITE, key: str = SHOP_KEY) -> None:
        self.client = Client(HTTP_ORIGIN=origin)
        self.key = key
        self.token = ""

    def post(self, path: str, **body: Any) -> Any:
        return self.client.post(
            f"/chat/{self.key}/{path}",
            data=json.dumps({"token": self.token, **body}),
            content_type="text/plain",
        )

    def hello(self, language: str = "en") -> dict[str, Any]:
        response = self.post("hello", language=language)
        assert response.status_code == 200, response.content
        data: dict[str, Any] = response.json()
        self.token = data["token"]
        return data

    def say(self, text: str, id: str, **more: Any) -> Any:
        return self.post("messages", id=id, text=text, **more)
