"""Live chat in a real browser: a visitor on the shop's own site (another origin) with the
widget, and an agent in the inbox, in two browser contexts. Screenshots in var/screenshots/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from comptoir.accounts.models import User
from comptoir.connectors.chat import service
from comptoir.connectors.chat.models import ChatVisitor
from comptoir.inbox.models import Channel, Conversation, Message
from comptoir.inbox.tasks import send_message
from tests.conftest import close_quietly
from tests.test_browser import PASSWORD, log_in, shot


class ShopSite:
    """The seller's own site: a local server on another origin than Comptoir's, whose page
    carries the one script tag (a real server: the browser refuses a page it cannot place on
    the network, as a routed one, access to the local Comptoir)."""

    def __init__(self) -> None:
        self.html = b""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(site.html)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(
        self, browser: Any, base: str, key: str, locale: str = "en-GB", width: int = 1440
    ) -> Any:
        self.html = (
            "<!doctype html><html><head><meta name=viewport content='width=device-width'>"
            "<title>Shop</title></head><body><h1>Maison Lumière</h1>"
            f"<script src='{base}/chat/widget.js' data-shop-key='{key}'></script></body></html>"
        ).encode()
        context = browser.new_context(locale=locale, viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{self.origin}/lamp", wait_until="domcontentloaded")
        return page


@pytest.fixture
def site() -> Iterator[ShopSite]:
    shop_site = ShopSite()
    yield shop_site
    shop_site.server.shutdown()


@pytest.fixture
def site_chat(chat_channel: Channel, open_hours: None, site: ShopSite) -> Channel:
    settings = chat_channel.get_settings()
    chat_channel.set_settings({**settings, "allowed_origins": [site.origin]})
    chat_channel.save()
    service._channels.clear()
    return chat_channel


def test_a_visitor_and_an_agent_chat_live(
    browser: Any, live_server: Any, site_chat: Channel, agent: User, site: ShopSite
) -> None:
    base = live_server.url
    key = site_chat.get_settings()["shop_key"]
    visitor = site.page(browser, base, key)
    visitor.click(".cw-launcher")
    visitor.wait_for_selector(".cw-greeting")
    visitor.fill(".cw-fields input[name=name]", "Léa")
    visitor.fill(".cw-fields input[name=order_number]", "CMD-42")
    visitor.fill(".cw-form textarea", "Bonjour, ma lampe est arrivée cassée.")
    visitor.keyboard.press("Enter")
    visitor.wait_for_selector(".cw-visitor:not(.cw-pending)")
    conv = Conversation.objects.get(channel=site_chat)
    assert conv.order_number == "CMD-42"

    agent.set_password(PASSWORD)
    agent.save()
    desk = browser.new_context(locale="en-GB")
    page = desk.new_page()
    page.set_default_timeout(20_000)
    log_in(page, base, agent)
    status_asks: list[str] = []
    page.on("request", lambda r: status_asks.append(r.url) if "chat-status" in r.url else None)
    page.goto(f"{base}/inbox/c/{conv.pk}/")
    page.wait_for_selector(".timeline >> text=ma lampe est arrivée cassée")
    page.wait_for_selector("#chat-status >> text=Visitor is on the chat")

    # The visitor types: the page's live stream tells the agent within about a second (it
    # looks every second), with no request of the page's own. A visitor who keeps typing, as
    # one does: each keystroke's ping holds the indicator a few seconds more.
    typing = page.locator("#chat-status", has_text="Visitor is typing")
    for letter in "Voici, la photo":
        visitor.type(".cw-form textarea", letter)
        try:
            typing.wait_for(timeout=3_000)
            break
        except PlaywrightTimeout:
            continue
    assert typing.is_visible()
    assert len(status_asks) == 1  # the page's first look only: the rest came on the stream
    visitor.fill(".cw-form textarea", "Le pied est fendu.")
    visitor.keyboard.press("Enter")
    page.wait_for_selector(".timeline >> text=Le pied est fendu.")

    # The agent writes: the visitor sees who; the answer reaches the widget live.
    page.click("#composer")
    page.keyboard.type("Désolée ! Nous vous envoyons une autre lampe.")
    visitor.wait_for_selector(".cw-typing >> text=Marie is typing")
    page.click("button[name=then][value='']")
    # The composer runs the pre-send checks first; on a loaded machine that takes a while.
    page.wait_for_selector(".timeline >> text=Nous vous envoyons une autre lampe", timeout=60_000)
    answer = Message.objects.get(conversation=conv, direction="out")
    send_message.call(answer.pk)  # the worker's part
    visitor.wait_for_selector(".cw-agent >> text=Nous vous envoyons une autre lampe")
    assert visitor.locator(".cw-agent .cw-who").last.inner_text() == "Marie"
    shot(visitor, "chat-widget-en-1440")

    # A reload keeps the conversation (the token is in localStorage); leaving is told.
    visitor.reload()
    visitor.wait_for_selector(".cw-agent >> text=Nous vous envoyons une autre lampe")
    assert visitor.locator(".cw-visitor").count() == 2
    # The agent's page was drawn again by the reply; its first look is made once it shows.
    page.wait_for_selector("#chat-status >> text=Visitor is")
    asked = len(status_asks)
    visitor.goto("about:blank")  # the visitor goes elsewhere: the page's last beacon
    page.wait_for_selector("#chat-status >> text=Visitor left")
    assert len(status_asks) == asked  # told by the stream
    assert ChatVisitor.objects.count() == 1
    assert Message.objects.filter(conversation=conv, direction="in").count() == 2
    close_quietly(desk)
    close_quietly(visitor.context)


@pytest.mark.parametrize(
    ("locale", "width", "open_text"),
    [("en-GB", 1440, "Chat with us"), ("fr-FR", 390, "Discuter avec nous"),
     ("fr-FR", 1440, "Discuter avec nous"), ("en-GB", 390, "Chat with us")],
)  # fmt: skip
def test_the_widget_speaks_the_visitor_s_language_and_fits_a_phone(
    browser: Any,
    live_server: Any,
    site_chat: Channel,
    site: ShopSite,
    locale: str,
    width: int,
    open_text: str,
) -> None:
    key = site_chat.get_settings()["shop_key"]
    page = site.page(browser, live_server.url, key, locale=locale, width=width)
    launcher = page.locator(".cw-launcher")
    assert launcher.inner_text() == open_text
    # Keyboard only: Tab to the button, Enter opens, the message box has the focus.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector(".cw-greeting")
    assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
    box = page.locator(".cw-panel").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"chat-widget-{locale[:2]}-{width}")
    page.keyboard.press("Escape")
    assert page.locator(".cw-panel").is_hidden()
    close_quietly(page.context)
