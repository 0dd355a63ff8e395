"""An eBay return answered and refunded from the conversation's case panel in a real browser,
in English and French, on a desktop and a phone (screenshots in var/screenshots/): each step
shows its state, a failed one its reason and Retry, and the timeline says who sent what."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from comptoir.accounts.models import User
from comptoir.cases.models import Case, CaseOperation
from comptoir.cases.sync_out import send_case_operation
from comptoir.cases.tasks import sync_claims
from comptoir.connectors.ebay.simulator import EbaySimulator
from comptoir.inbox.models import Channel, Message, Shop
from comptoir.inbox.tasks import poll_channel
from tests.ebay_support import channel_settings, running_simulator
from tests.test_browser import PASSWORD, log_in, shot

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = {
    "en": {
        "queued": "queued",
        "received": "received by eBay",
        "failed": "failed",
        "sent_line": "The marketplace received the answer to the claim",
        "refund_line": "Sending the refund of 20.00 EUR to the marketplace",
    },
    "fr": {
        "queued": "en attente d\u2019envoi",
        "received": "reçu par eBay",
        "failed": "échec",
        "sent_line": "La place de marché a reçu la réponse à la réclamation",
        "refund_line": "Envoi du remboursement de 20,00 EUR à la place de marché",
    },
}


@pytest.fixture
def sim(sleeps: list[float], monkeypatch: pytest.MonkeyPatch) -> Iterator[EbaySimulator]:
    yield from running_simulator(monkeypatch)


@pytest.mark.parametrize(("language", "width"), [("en", 1440), ("fr", 390)])
def test_an_agent_answers_and_refunds_an_ebay_return_from_the_case_panel(
    page: Any,
    live_server: Any,
    sim: EbaySimulator,
    shop: Shop,
    team: Any,
    agent: User,
    language: str,
    width: int,
) -> None:
    channel = Channel(shop=shop, kind="ebay", marketplace="ebay", name="eBay FR", team=team)
    channel.set_settings(channel_settings(sim))
    channel.save()
    rid = sim.buyer_opens_return("12-34567-89012", "DEFECTIVE_ITEM", "Cassée.", amount="49.90")
    poll_channel.call(channel.pk)
    sync_claims.call(list(Message.objects.values_list("pk", flat=True)))
    case = Case.objects.get()
    agent.set_password(PASSWORD)
    agent.save()
    words = WORDS[language]
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, agent)
    if language == "fr":
        page.click("form.lang button[value=fr]")
        page.wait_for_load_state()
    url = f"{live_server.url}/inbox/c/{case.conversation_id}/"
    box = f"#case-{case.pk}"

    page.goto(url)
    page.click(f"{box} .case-op-form summary >> nth=0")
    page.fill(f"{box} textarea[name=text]", "Nous vous remboursons aujourd'hui.")
    page.click(f"{box} form[action$='/answer/'] button")
    page.wait_for_selector(f"{box} .case-op.op-queued")
    assert words["queued"] in page.inner_text(f"{box} .case-op-list")
    answer = CaseOperation.objects.get()
    assert send_case_operation.call(answer.pk) == "sent"

    page.goto(url)
    page.click(f"{box} .case-op-form summary >> nth=1")
    page.fill(f"{box} form[action$='/refund/'] input[name=amount]", "20")
    page.click(f"{box} form[action$='/refund/'] button")
    page.wait_for_selector(f"{box} .case-op.op-queued")
    refund = CaseOperation.objects.get(kind="refund")
    sim.close_claim(rid)  # eBay closed the return meanwhile: it refuses the refund
    assert send_case_operation.call(refund.pk).startswith("failed")

    page.goto(url)
    steps = page.inner_text(f"{box} .case-op-list")
    assert words["received"] in steps
    assert words["failed"] in steps
    assert "closed or was refunded" in steps
    timeline = page.inner_text(".timeline")
    assert words["sent_line"] in timeline
    assert words["refund_line"] in timeline
    assert agent.username in timeline or (agent.get_full_name() or "?") in timeline
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"case-operations-{language}-{width}")

    page.click(f"#case-op-{refund.pk} button")
    page.wait_for_selector(f"#case-op-{refund.pk}.op-queued")
    refund.refresh_from_db()
    assert refund.delivery_state == "queued"
    assert sim.refunds == []
    assert page.csp_errors == []
