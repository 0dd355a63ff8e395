"""A case opened in one click and moved on in a real browser, in English and French, on a
desktop and a phone (screenshots in var/screenshots/)."""

from __future__ import annotations

from typing import Any

import pytest

from comptoir.accounts.models import User
from comptoir.cases.models import Case
from comptoir.inbox.ingest import ingest
from tests.test_browser import PASSWORD, log_in, shot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(("language", "width"), [("en", 1440), ("fr", 390)])
def test_an_agent_opens_a_case_and_follows_it_in_the_browser(
    page: Any, live_server: Any, agent: User, make_inbound: Any, language: str, width: int
) -> None:
    agent.set_password(PASSWORD)
    agent.save()
    conv_id = ingest(make_inbound(text="Le vase est arrivé cassé.")).conversation_id
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, agent)
    if language == "fr":
        page.click("form.lang button[value=fr]")
        page.wait_for_load_state()

    page.goto(f"{live_server.url}/inbox/c/{conv_id}/")
    page.select_option("#cases select[name=kind]", "damaged")
    page.click("#open-case")
    page.wait_for_selector("#cases article.case")
    case = Case.objects.get()
    page.select_option(f"#case-{case.pk} select[name=stage]", "waiting_carrier")
    page.click(f"#case-{case.pk} form[action$='/stage/'] button")
    page.fill(f"#case-{case.pk} input[name=deadline]", "2031-01-02T10:00")
    page.click(f"#case-{case.pk} form[action$='/deadline/'] button")
    page.wait_for_selector(f"#case-{case.pk} .case-due")

    panel = page.inner_text("#cases")
    timeline = page.inner_text(".timeline")
    if language == "fr":
        assert "En attente du transporteur" in panel
        assert "échéance dans" in panel
        assert "Dossier ouvert : article endommagé ou défectueux" in timeline
    else:
        assert "Waiting on the carrier" in panel
        assert "due in" in panel
        assert "Case opened: damaged or defective item" in timeline
    # The panel fits the window.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"case-panel-{language}-{width}")
    page.goto(f"{live_server.url}/cases/")
    assert page.locator(f"#case-{case.pk}").count() == 1
    shot(page, f"case-list-{language}-{width}")
    assert page.csp_errors == []
