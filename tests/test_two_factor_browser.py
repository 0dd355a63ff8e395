"""Two-factor enrolment and the second step of sign-in in a real browser, in English and French.
Screenshots of each page at 1,440 and 390 px land in var/screenshots/two-factor/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from comptoir.accounts.models import Role, User
from tests.conftest import close_quietly
from tests.test_two_factor import PASSWORD, code_for

SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "two-factor"
WIDTHS = (1440, 390)

TEXT = {
    "en": {"verify": "Two-factor sign-in", "codes": "Recovery codes", "on": "On:"},
    "fr": {"verify": "Connexion en deux étapes", "codes": "Codes de secours", "on": "Activée"},
}


def shots(page: Any, name: str) -> None:
    """The page at each width; none may scroll sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        path = SCREENSHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} is {overflow} px wide at {width}"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def log_in(page: Any, base: str, username: str, name: str | None = None) -> None:
    page.goto(f"{base}/login/")
    if name:
        shots(page, name)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click(".login button[type=submit]")


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_enrolment_and_the_second_step_in_a_browser(
    browser: Any, live_server: Any, transactional_db: None, lang: str
) -> None:
    user = User.objects.create_user("owner", "owner@example.com", PASSWORD, role=Role.OWNER)
    User.objects.filter(pk=user.pk).update(language=lang)
    context = browser.new_context(locale="fr-FR" if lang == "fr" else "en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    csp_errors: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and csp_errors.append(m.text))
    base = live_server.url
    text = TEXT[lang]
    try:
        log_in(page, base, "owner", f"{lang}-login")
        page.wait_for_url(f"{base}/inbox/")

        page.goto(f"{base}/account/security/")
        assert page.locator(".qr svg").is_visible()
        shots(page, f"{lang}-enrol")
        device = TOTPDevice.objects.get(user=user)
        page.fill("input[name=code]", code_for(device))
        page.click("form[action$='/confirm'] button[type=submit]")
        page.wait_for_selector("#recovery-codes")
        assert page.locator("#recovery-codes li").count() == 10
        assert text["codes"] in page.content()
        shots(page, f"{lang}-recovery-codes")
        page.click("main a[href='/account/security/']")
        page.wait_for_selector("#twofa-status")
        assert text["on"] in page.inner_text("#twofa-status")
        shots(page, f"{lang}-security-on")

        page.click("header form[action='/logout/'] button")
        page.wait_for_url(f"{base}/login/")
        log_in(page, base, "owner")
        page.wait_for_url(f"{base}/login/verify/")
        assert text["verify"] in page.inner_text("h1")
        shots(page, f"{lang}-login-verify")
        page.fill("input[name=code]", code_for(device, 1))
        page.click(".login button[type=submit]")
        page.wait_for_url(f"{base}/inbox/")

        page.goto(f"{base}/settings/security/")
        assert "owner" in page.inner_text("#twofa-users")
        shots(page, f"{lang}-settings-security")
        assert csp_errors == []
    finally:
        close_quietly(context)
