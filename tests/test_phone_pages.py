"""No page is wider than the window: every page of the interface (found from the URL conf, see
tests/pages_support.py) at a phone's 390 px and a laptop's 1,440 px, in English and French,
with a long relay address, tags and a note on the conversation."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import close_quietly
from tests.pages_support import core_pages, pages, sign_in, world  # noqa: F401

WIDER = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1 && e.checkVisibility())
    .slice(0, 4)
    .map(e => e.tagName.toLowerCase() + '.' + String(e.className).split(' ').join('.'));
}"""

# Tables shown as cards on a phone, by page: they must not hide their columns in a scroll box.
CARDS = {
    "/settings/users/": ("table.users",),
    "/settings/templates/": ("table.templates",),
    "/settings/channels/": ("table.channels",),
    "/settings/shops/": ("table.shops",),
    "/settings/notifications/": ("table.webhooks",),
}


@pytest.mark.parametrize(("width", "language"), [(390, "en"), (390, "fr"), (1440, "en")])
def test_no_page_is_wider_than_the_window(
    browser: Any,
    live_server: Any,
    client: Client,
    world: dict[str, Any],  # noqa: F811
    width: int,
    language: str,
) -> None:
    owner = world["owner"]
    owner.language = language
    owner.save()
    client.force_login(owner)
    found = pages(client, world)
    assert core_pages(world) <= set(found)

    context = browser.new_context(locale="en-US", viewport={"width": width, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, owner.username)
    too_wide = {}
    for path in found:
        page.goto(live_server.url + path)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            too_wide[path] = (scroll, page.evaluate(WIDER))
        # Tables read as cards on a phone: they do not scroll sideways inside their own box.
        for selector in CARDS.get(path, ()):
            inner = page.eval_on_selector(selector, "t => [t.scrollWidth, t.clientWidth]")
            if inner[0] > inner[1]:
                too_wide[f"{path} {selector}"] = inner
    close_quietly(context)
    assert too_wide == {}, "\n".join(f"{p}: {w}" for p, w in too_wide.items())
    assert "/settings/users/" in found


def test_every_settings_page_shows_the_settings_menu(
    client: Client,
    world: dict[str, Any],  # noqa: F811
) -> None:
    client.force_login(world["owner"])
    # The index is itself the menu, of the pages the role may open.
    settings_pages = [
        p for p in pages(client, world) if p.startswith("/settings/") and p != "/settings/"
    ]
    assert len(settings_pages) >= 15
    missing = [p for p in settings_pages if 'class="settings-nav"' not in client.get(p).text]
    assert missing == []


@pytest.mark.parametrize("width", [390, 1440])
def test_the_header_links_fold_behind_a_menu_on_a_phone(
    browser: Any,
    live_server: Any,
    world: dict[str, Any],  # noqa: F811
    width: int,
) -> None:
    owner = world["owner"]
    context = browser.new_context(locale="en-US", viewport={"width": width, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, owner.username)
    menu = page.get_by_role("button", name="Menu")
    cases = page.locator("#top-links").get_by_role("link", name="Cases")
    if width == 1440:  # a laptop shows the links and no menu
        assert cases.is_visible()
        assert not menu.is_visible()
        close_quietly(context)
        return
    header = page.locator("header.top").bounding_box()
    assert header is not None
    assert not cases.is_visible()
    assert header["height"] < 120  # brand, menu and languages, then the search
    menu.click()
    cases.wait_for(state="visible")
    assert menu.get_attribute("aria-expanded") == "true"
    cases.click()
    page.wait_for_url(f"{live_server.url}/cases/")
    close_quietly(context)
