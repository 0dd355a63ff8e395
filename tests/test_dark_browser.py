"""The dark theme: with the system asking for dark, the desk's pages turn dark (a dark page,
light text) and still pass axe-core with no serious or critical violation, colour contrast
included (the check the accessibility test runs on the light theme)."""

from __future__ import annotations

from typing import Any

from django.test import Client

from tests.conftest import close_quietly
from tests.pages_support import sign_in, world  # noqa: F401
from tests.test_accessibility_browser import _violations

PATHS = [
    "/inbox/",
    "/inbox/c/{conversation}/",
    "/notifications/",
    "/settings/sla/",
    "/settings/rules/",
]


def _luminance(rgb: str) -> float:
    """Relative luminance (WCAG) of a computed `rgb(r, g, b)` colour."""
    parts = [int(p) for p in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    lin = [(c / 255 / 12.92) if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in parts]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_dark_theme_is_dark_and_accessible(
    browser: Any,
    live_server: Any,
    client: Client,
    world: dict[str, Any],  # noqa: F811
) -> None:
    owner = world["owner"]
    ids = {k: v.pk for k, v in world.items() if hasattr(v, "pk")}
    context = browser.new_context(
        locale="en-GB", color_scheme="dark", viewport={"width": 1440, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server.url, owner.username)
    found: dict[str, list[str]] = {}
    for path in [p.format(**ids) for p in PATHS]:
        page.goto(live_server.url + path)
        background, colour = page.evaluate(
            "() => { const s = getComputedStyle(document.body);"
            " return [s.backgroundColor, s.color]; }"
        )
        assert _luminance(background) < 0.05, (path, background)
        assert _luminance(colour) > 0.6, (path, colour)
        if problems := _violations(page):
            found[path] = problems
    close_quietly(context)
    assert found == {}, "\n".join(f"{p}:\n  " + "\n  ".join(v) for p, v in found.items())


def test_light_theme_stays_light(
    browser: Any,
    live_server: Any,
    world: dict[str, Any],  # noqa: F811
) -> None:
    context = browser.new_context(locale="en-GB", color_scheme="light")
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    close_quietly(context)
    assert background == "rgb(255, 255, 255)"
