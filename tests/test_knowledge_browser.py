"""The public FAQ in a real browser: the buyer's language, the switch, search, the feedback
form without script; and the staff pages. English and French, desktop and phone (screenshots
in var/screenshots/)."""

from __future__ import annotations

from typing import Any

import pytest

from comptoir.accounts.models import User
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Shop
from comptoir.knowledge import actions
from comptoir.knowledge.actions import VersionInput
from comptoir.knowledge.models import ArticleFeedback, ArticleView
from tests.conftest import close_quietly
from tests.test_browser import PASSWORD, log_in, shot

pytestmark = pytest.mark.django_db(transaction=True)


def publish_two(shop: Shop, supervisor: User) -> None:
    texts = {
        "delivery": (
            ("Quand vais-je recevoir ma commande ?", "Nous expédions sous 48 heures ouvrées."),
            ("When will my order arrive?", "We ship within 48 working hours."),
        ),
        "returns": (
            ("Comment retourner un article ?", "Vous avez 30 jours pour nous le renvoyer."),
            ("How do I return an item?", "You have 30 days to send it back to us."),
        ),
    }
    for theme, (fr, en) in texts.items():
        article = actions.save_article(
            None,
            actor=supervisor,
            shop=shop,
            theme=theme,
            versions={"fr": VersionInput(*fr), "en": VersionInput(*en)},
        )
        actions.set_published(article, actor=supervisor, published=True)


@pytest.mark.parametrize(("locale", "width"), [("en-GB", 1440), ("fr-FR", 390)])
def test_a_buyer_searches_the_faq_reads_an_answer_and_says_it_helped(
    browser: Any, live_server: Any, shop: Shop, supervisor: User, locale: str, width: int
) -> None:
    publish_two(shop, supervisor)
    context = browser.new_context(locale=locale, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    csp_errors: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and csp_errors.append(m.text))
    lang = locale[:2]
    page.goto(f"{live_server.url}/help/{shop.slug}/")
    assert page.url.endswith(f"/help/{shop.slug}/{lang}/")  # Accept-Language chose
    assert page.locator("html").get_attribute("lang") == lang
    shot(page, f"kb-public-index-{lang}-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.fill("#help-q", "retourner" if lang == "fr" else "RETURN")
    page.click(".help-search button")
    page.wait_for_selector("#help-results")
    results = page.inner_text("#help-results")
    assert ("Comment retourner" if lang == "fr" else "How do I return") in results
    assert "48" not in results
    shot(page, f"kb-public-search-{lang}-{width}")
    page.click("#help-results .help-list a")
    page.wait_for_selector(".help-article h1")
    shot(page, f"kb-public-article-{lang}-{width}")
    page.click("button[value=yes]")
    page.wait_for_selector("#feedback-thanks")
    thanks = page.inner_text("#feedback-thanks")
    assert thanks == ("Merci pour votre réponse." if lang == "fr" else "Thank you for your answer.")
    assert list(ArticleFeedback.objects.values_list("helpful", flat=True)) == [True]
    assert ArticleView.objects.count() >= 1  # the beacon image was fetched

    # The switch: the same answer in the other language.
    other = "en" if lang == "fr" else "fr"
    page.click(f".help-langs a[lang={other}]")
    page.wait_for_selector(f"html[lang={other}]")
    title = page.inner_text(".help-article h1")
    assert title == (
        "How do I return an item?" if other == "en" else "Comment retourner un article ?"
    )
    assert csp_errors == []
    close_quietly(context)


@pytest.mark.parametrize(
    ("language", "width"), [("en", 1440), ("fr", 1440), ("en", 390), ("fr", 390)]
)
def test_the_staff_pages_list_edit_and_publish(
    page: Any, live_server: Any, shop: Shop, supervisor: User, language: str, width: int
) -> None:
    publish_two(shop, supervisor)
    supervisor.set_password(PASSWORD)
    supervisor.save()
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, supervisor)
    if language == "fr":
        page.click("form.lang button[value=fr]")
        page.wait_for_load_state()
    page.goto(f"{live_server.url}/kb/")
    assert page.locator("table.kb-articles tbody tr").count() == 2
    assert page.locator(f"#kb-shop-{shop.slug} textarea.kb-embed").count() == 2
    shot(page, f"kb-staff-list-{language}-{width}")
    page.click("#new-article")
    page.fill("#title_fr", "Puis-je payer en trois fois ?")
    page.fill("#body_fr", "Oui, à partir de 100 €.")
    page.select_option("#kb-theme", "payment")
    page.click("#save-article")
    page.wait_for_selector("#publish")
    shot(page, f"kb-staff-edit-{language}-{width}")
    page.click("#publish")
    page.wait_for_selector("#unpublish")
    page.goto(f"{live_server.url}/help/{shop.slug}/fr/")
    assert "Puis-je payer en trois fois ?" in page.inner_text("main")
    assert page.csp_errors == []


@pytest.mark.parametrize(("marketplace", "links"), [("amazon", False), ("shop", True)])
def test_an_agent_inserts_a_suggested_article_as_text_or_as_a_link(
    page: Any,
    live_server: Any,
    shop: Shop,
    supervisor: User,
    agent: User,
    channel: Channel,
    make_inbound: Any,
    marketplace: str,
    links: bool,
) -> None:
    publish_two(shop, supervisor)
    Channel.objects.filter(pk=channel.pk).update(marketplace=marketplace)
    agent.set_password(PASSWORD)
    agent.save()
    conv_id = ingest(make_inbound(text="Comment retourner cet article ?")).conversation_id
    log_in(page, live_server.url, agent)
    page.goto(f"{live_server.url}/inbox/c/{conv_id}/")
    page.wait_for_selector("#suggested-articles .kb-suggestion")
    assert page.locator("#suggested-articles [data-insert-article^=link-]").count() == int(links)
    page.click("#suggested-articles [data-insert-article^=text-]")
    assert page.input_value("#composer") == "Vous avez 30 jours pour nous le renvoyer."
    assert page.input_value("#template-id") == ""  # an article is not a template
    if links:
        page.fill("#composer", "")
        page.click("#suggested-articles [data-insert-article^=link-]")
        value = page.input_value("#composer")
        assert value.startswith("Comment retourner un article ?\nhttp://127.0.0.1:8000/help/")
        assert "?r=" in value
    shot(page, f"kb-composer-{marketplace}")
    assert page.csp_errors == []
