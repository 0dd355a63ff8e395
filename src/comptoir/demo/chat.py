"""The demo's live chat: a chat channel for Maison Lumière and a page of its shop, at
/demo/shop/, with the widget on it. A visitor writes there; an agent answers from the inbox."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from comptoir.accounts.models import Team
from comptoir.connectors.chat import service
from comptoir.inbox.models import Channel, Shop
from comptoir.privacy.models import ChannelRetention

SHOP_KEY = "demo-maison-lumiere"


def seed(shop: Shop, team: Team) -> str:
    channel = Channel(shop=shop, kind="chat", name="Live chat (maison-lumiere.example)", team=team)
    channel.set_settings(
        {
            "shop_key": SHOP_KEY,
            # The demo's shop page is served by Comptoir itself: its own origin is allowed.
            "allowed_origins": ["https://maison-lumiere.example"],
            "greeting": "Hello! Ask us anything about your lamps.",
            "greeting_fr": "Bonjour ! Une question sur nos luminaires ?",
            "ask_name": True,
            "ask_order_number": True,
        }
    )
    channel.save()
    ChannelRetention.objects.create(channel=channel)
    return f"live chat: the widget on /demo/shop/ (shop key {SHOP_KEY})"


def shop_page(request: HttpRequest) -> HttpResponse:
    """A page of the demo shop's site, with the chat widget (404 without the demo's channel)."""
    try:
        service.find_channel(SHOP_KEY)
    except service.ChatRefused:
        raise Http404("no demo live chat: run `comptoir demo` first") from None
    return render(request, "chat/demo_shop.html", {"shop_key": SHOP_KEY})
