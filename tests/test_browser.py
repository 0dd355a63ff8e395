"""The agent's day in a real browser: Debian's chromium driven by Playwright, against a live
server. Screenshots of the main pages land in var/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from comptoir.accounts.models import User
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Message, Status
from comptoir.orders.models import Order
from tests.conftest import CHROMIUM, close_quietly, require_or_skip  # noqa: F401
from tests.pages_support import sign_in

SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
PASSWORD = "browser-pass-42"


def open_details(page: Any, selector: str) -> None:
    """Opens a <details> by clicking its summary, again if the click missed: the suggested
    answers load above the picker and can move it between Playwright's aim and its click."""
    for _ in range(5):
        page.click(f"{selector} summary")
        if page.locator(selector).get_attribute("open") is not None:
            return
    raise AssertionError(f"{selector} did not open")


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000


def log_in(page: Any, base: str, user: User) -> None:
    sign_in(page, base, user.username, PASSWORD)


@pytest.fixture
def day(channel: Channel, agent: User, make_inbound: Any, shop: Any, team: Any) -> dict[str, Any]:
    """An agent, and buyers who wrote on two marketplaces, one about a shipped order."""
    agent.set_password(PASSWORD)
    agent.save()
    fnac = Channel.objects.create(shop=shop, kind="api", marketplace="fnac", name="Fnac", team=team)
    order = Order.objects.create(
        shop=shop, channel=fnac, external_id="FN-7731", status="shipped",
        tracking_number="6A1234", items=[{"title": "Lampe de chevet", "quantity": 1}],
    )  # fmt: skip
    ingest(make_inbound(subject="Question sur la lampe", sender={"identity_value": "a@x.fr"}))
    result = ingest(
        make_inbound(
            channel_id=fnac.pk, subject="Colis pas reçu", order_number="FN-7731",
            text="Bonjour, mon colis n'est toujours pas arrivé.",
            sender={"identity_value": "b@x.fr", "name": "Paul Durand", "email": "b@x.fr"},
        )
    )  # fmt: skip
    return {
        "agent": agent,
        "conv": Conversation.objects.get(pk=result.conversation_id),
        "order": order,
    }


def test_an_agent_finds_answers_assigns_and_resolves_in_the_browser(
    page: Any, live_server: Any, day: dict[str, Any]
) -> None:
    base = live_server.url
    conv: Conversation = day["conv"]
    log_in(page, base, day["agent"])
    assert page.locator("tr.row").count() == 2
    shot(page, "inbox")

    # Filter by marketplace (behind "More filters"): the choice stays in the URL.
    page.click(".more-filters summary")
    page.select_option("select[name=marketplace]", "fnac")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r"marketplace=fnac"))
    assert page.locator("tr.row").count() == 1

    # Search an order number from anywhere with "/".
    page.goto(f"{base}/inbox/")
    page.keyboard.press("/")
    page.keyboard.type("FN-7731")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=FN-7731"))
    assert page.locator("tr.row").count() == 1

    # Open it with the keyboard: j selects, o opens.
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url(f"{base}/inbox/c/{conv.pk}/")
    assert page.locator(".order-panel").inner_text().count("FN-7731") == 1
    assert "Lampe de chevet" in page.locator(".items").inner_text()
    shot(page, "conversation")

    # r focuses the composer; the answer is queued and shown in the timeline.
    page.keyboard.press("r")
    page.keyboard.type("Votre colis arrive demain.")
    page.click("button[name=then][value='']")
    # The composer runs the pre-send checks before the form goes: wait for the answer itself.
    page.wait_for_selector(".timeline >> text=Votre colis arrive demain.")
    assert Message.objects.filter(conversation=conv, direction="out").count() == 1

    # a assigns to me, e resolves.
    page.keyboard.press("a")
    page.wait_for_selector("text=assigned to")
    page.keyboard.press("e")
    page.wait_for_selector(".meta >> text=Resolved")
    conv.refresh_from_db()
    assert conv.assignee == day["agent"]
    assert conv.status == Status.RESOLVED

    # ? lists the shortcuts.
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    assert page.csp_errors == []


def test_the_inbox_switches_to_french(page: Any, live_server: Any, day: dict[str, Any]) -> None:
    base = live_server.url
    log_in(page, base, day["agent"])

    page.click(".lang button[value=fr]")
    page.wait_for_selector("text=À répondre")

    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator(".views a.current").inner_text().startswith("À répondre")
    shot(page, "inbox-fr")
    assert page.csp_errors == []


def test_three_conversations_are_resolved_at_once(
    page: Any, live_server: Any, day: dict[str, Any], make_inbound: Any
) -> None:
    for i in range(2):
        ingest(make_inbound(subject=f"Encore {i}", sender={"identity_value": f"c{i}@x.fr"}))
    base = live_server.url
    log_in(page, base, day["agent"])
    assert page.locator("tr.row").count() == 4

    for _ in range(3):  # x ticks the selected row, j moves on
        page.keyboard.press("j")
        page.keyboard.press("x")
    page.click(".bulk-bar button[value=resolve]")
    page.wait_for_selector("[data-view=resolved] .count >> text=3")

    assert Conversation.objects.filter(status=Status.RESOLVED).count() == 3
    assert page.locator("tr.row").count() == 1
    shot(page, "inbox-after-bulk")


def test_a_new_message_appears_live_in_the_open_inbox_and_conversation(
    page: Any, live_server: Any, day: dict[str, Any], make_inbound: Any, settings: Any
) -> None:
    settings.COMPTOIR_LIVE_CHECK_SECONDS = 0.1
    settings.COMPTOIR_LIVE_SECONDS = 5  # the server's stream thread ends soon after the test
    base = live_server.url
    conv: Conversation = day["conv"]
    log_in(page, base, day["agent"])
    assert page.locator("tr.row").count() == 2

    ingest(make_inbound(subject="Arrivé à l'instant", sender={"identity_value": "new@x.fr"}))

    page.wait_for_selector("tr.row >> text=Arrivé à l'instant")  # no reload
    assert page.locator("tr.row").count() == 3

    page.goto(f"{base}/inbox/c/{conv.pk}/")
    ingest(
        make_inbound(
            channel_id=conv.channel_id, order_number="FN-7731",
            text="Je viens de recevoir un avis de passage.",
            sender={"identity_value": "b@x.fr", "name": "Paul Durand", "email": "b@x.fr"},
        )
    )  # fmt: skip
    page.wait_for_selector(".timeline >> text=Je viens de recevoir un avis de passage.")
    assert page.csp_errors == []


def test_an_agent_sees_a_colleague_replying_to_the_same_buyer(
    browser: Any, page: Any, live_server: Any, day: dict[str, Any], team: Any, settings: Any
) -> None:
    settings.COMPTOIR_LIVE_CHECK_SECONDS = 0.1
    settings.COMPTOIR_LIVE_SECONDS = 5
    base = live_server.url
    conv: Conversation = day["conv"]
    karim = User.objects.create_user("karim", "k@example.com", PASSWORD, first_name="Karim")
    team.members.add(karim)
    log_in(page, base, day["agent"])
    page.goto(f"{base}/inbox/c/{conv.pk}/")

    other = browser.new_context(locale="en-GB")
    colleague = other.new_page()
    colleague.set_default_timeout(10_000)
    log_in(colleague, base, karim)
    colleague.goto(f"{base}/inbox/c/{conv.pk}/")
    assert "Marie is viewing" in colleague.locator("#presence").inner_text()
    colleague.fill("#composer", "Bonjour Paul, je regarde")
    colleague.locator("#composer").dispatch_event("input")

    # Marie's open page says so without a reload, and Karim's words are kept as his draft.
    page.wait_for_selector("#presence >> text=Karim is replying")
    colleague.reload()
    assert colleague.locator("#composer").input_value() == "Bonjour Paul, je regarde"
    close_quietly(other)


def test_a_template_is_picked_filled_checked_and_sent_in_the_browser(
    page: Any, live_server: Any, day: dict[str, Any]
) -> None:
    from comptoir.automation.models import Template
    from comptoir.demo.templates import load_templates

    load_templates()
    conv: Conversation = day["conv"]
    # An Amazon conversation: links to other sites are forbidden there.
    Channel.objects.filter(pk=conv.channel_id).update(marketplace="amazon")
    Order.objects.filter(pk=day["order"].pk).update(carrier="Colissimo")
    Conversation.objects.filter(pk=conv.pk).update(order=day["order"], language="fr")
    base = live_server.url
    log_in(page, base, day["agent"])
    page.goto(f"{base}/inbox/c/{conv.pk}/")

    # The picker: search, preview with the values filled, insert.
    open_details(page, "#template-picker")
    page.fill("#template-search", "where")
    page.click(".template-choice:has-text('Where is my order')")
    preview = page.locator(".preview-text")
    assert "Paul Durand" in preview.inner_text()
    page.click("#insert-template")
    text = page.input_value("#composer")
    assert text.startswith("Bonjour Paul Durand,")
    assert "FN-7731" in text
    assert "6A1234" in text
    shot(page, "composer-template")

    # A link to the shop's own site: the check blocks sending.
    page.locator("#composer").press("End")
    page.locator("#composer").type("\nNotice : https://www.maison-lumiere.fr/notice.pdf")
    page.click("#check-now")
    blocked = page.locator("#presend-checks .check.block[data-code=link]")
    blocked.wait_for()
    assert "maison-lumiere.fr" in blocked.inner_text()
    assert page.locator("button.send").first.is_disabled()
    shot(page, "composer-check")

    # Without the link it goes, and the template's use is counted.
    page.fill("#composer", text)
    page.wait_for_selector("#presend-checks .checks[data-blocking='0']", state="attached")
    page.click("button[name=then][value='']")
    page.wait_for_selector(".timeline >> text=FN-7731")
    sent = Message.objects.get(conversation=conv, direction="out")
    assert sent.text.replace("\r\n", "\n") == text  # a form posts CRLF line ends
    assert Template.objects.get(shortcut="where").usage_count == 1

    # ";thanks" and a space: the template with that shortcut takes its place.
    page.click("#composer")
    page.keyboard.type(";thanks ")
    from playwright.sync_api import expect

    expect(page.locator("#composer")).to_have_value(re.compile("Merci"))
    assert page.input_value("#composer").startswith("Bonjour Paul Durand,")
    assert page.input_value("#template-id") == str(Template.objects.get(shortcut="thanks").pk)
    assert page.csp_errors == []


def test_the_inbox_and_a_conversation_fit_a_phone(
    browser: Any, live_server: Any, day: dict[str, Any]
) -> None:
    base = live_server.url
    phone = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    page = phone.new_page()
    page.set_default_timeout(10_000)
    log_in(page, base, day["agent"])

    fits = "document.documentElement.scrollWidth <= window.innerWidth + 1"
    assert page.evaluate(fits)
    shot(page, "inbox-phone")
    page.goto(f"{base}/inbox/c/{day['conv'].pk}/")
    shot(page, "conversation-phone")
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > window.innerWidth + 1).map(e => e.tagName + '.' + e.className).slice(0, 5)"
    )
    assert wide == []
    assert page.evaluate(fits)
    assert page.locator("#composer").is_visible()
    close_quietly(phone)


def test_an_agent_retries_a_failed_reply_in_the_browser(
    page: Any, live_server: Any, day: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.connectors.base import ConnectorError
    from comptoir.inbox import actions
    from comptoir.inbox.models import DeliveryState, Event, EventKind
    from comptoir.inbox.tasks import send_message
    from tests import fake_connector

    fake = fake_connector.install(monkeypatch)
    conv: Conversation = day["conv"]
    answer = actions.reply(conv, actor=day["agent"], text="Votre colis part ce soir.")
    fake.script.append(ConnectorError("HTTP 404: no such thread", permanent=True))
    send_message.call(answer.pk)
    base = live_server.url
    log_in(page, base, day["agent"])
    page.goto(f"{base}/inbox/c/{conv.pk}/")

    failed = page.locator(f"#failed-{answer.pk}")
    assert "no such thread" in page.locator(".message.out .error").inner_text()
    failed.locator("button.retry").click()
    page.wait_for_selector(".message.out .delivery.queued")

    assert Message.objects.get(pk=answer.pk).delivery_state == DeliveryState.QUEUED
    assert page.locator(f"#failed-{answer.pk}").count() == 0
    retried = Event.objects.filter(conversation=conv, kind=EventKind.DELIVERY_RETRIED).get()
    assert retried.actor == day["agent"]
    assert page.csp_errors == []


def test_a_suggested_answer_is_inserted_with_alt_1_and_counted_as_taken(
    page: Any, live_server: Any, day: dict[str, Any]
) -> None:
    from comptoir.automation.models import Suggestion, Template, TemplateVersion

    conv: Conversation = day["conv"]
    Conversation.objects.filter(pk=conv.pk).update(
        order=day["order"], language="fr", intent="not_received"
    )
    late = Template.objects.create(name="Colis en retard", intents=["not_received"])
    TemplateVersion.objects.create(
        template=late, language="fr", body="Bonjour, votre colis {{ tracking_number }} arrive."
    )
    base = live_server.url
    log_in(page, base, day["agent"])
    page.goto(f"{base}/inbox/c/{conv.pk}/")
    page.wait_for_selector(".suggestion[data-rank='1']:has-text('Colis en retard')")
    page.click("#composer")
    page.keyboard.press("Alt+1")
    assert page.input_value("#composer") == "Bonjour, votre colis 6A1234 arrive."
    page.locator("#composer").press("End")
    page.locator("#composer").type(" Merci !")
    page.wait_for_selector("#presend-checks .checks[data-blocking='0']", state="attached")
    page.click("button[name=then][value='']")
    page.wait_for_selector(".timeline >> text=Merci !")
    row = Suggestion.objects.get(conversation=conv, template=late)
    assert row.taken
    assert row.sent_text_distance is not None
    assert 0 < row.sent_text_distance < 0.3
