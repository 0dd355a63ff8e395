"""The knowledge base: articles written and published through actions, the permission rule,
the flags, drafts from FAQ mining, the public FAQ (language, search, feedback, caching,
indexable pages), views and deflection, and the composer's article suggestions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import Role, User
from comptoir.automation import actions as automation
from comptoir.faq.models import Cluster, MiningRun
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.knowledge import actions, queries
from comptoir.knowledge.actions import VersionInput
from comptoir.knowledge.models import Article, ArticleFeedback, ArticleView
from comptoir.knowledge.public import VISITOR_COOKIE, conversation_token, visit_token
from comptoir.knowledge.suggest import suggest_articles

pytestmark = pytest.mark.django_db

RETURNS_FR = VersionInput(
    title="Comment retourner un article ?",
    body="Vous avez 30 jours pour nous renvoyer l'article, dans son emballage d'origine.",
)
RETURNS_EN = VersionInput(
    title="How do I return an item?",
    body="You have 30 days to send the item back, in its original packaging.",
)


def published_article(shop: Shop, actor: User, theme: str = "returns") -> Article:
    article = actions.save_article(
        None, actor=actor, shop=shop, theme=theme, versions={"fr": RETURNS_FR, "en": RETURNS_EN}
    )
    return actions.set_published(article, actor=actor, published=True)


def test_a_supervisor_writes_and_publishes_an_article_an_agent_only_reads_it(
    shop: Shop, supervisor: User, agent: User, analyst: User
) -> None:
    article = actions.save_article(
        None, actor=supervisor, shop=shop, theme="returns", versions={"fr": RETURNS_FR}
    )
    assert article.status == "draft"
    assert article.owner == supervisor
    assert article.versions.get().slug == "comment-retourner-un-article"
    for reader in (agent, analyst):
        with pytest.raises(PermissionDenied):
            actions.set_published(article, actor=reader, published=True)
        with pytest.raises(PermissionDenied):
            actions.save_article(article, actor=reader, shop=shop, theme="other", versions={})
    assert actions.set_published(article, actor=supervisor, published=True).status == "published"

    client = Client()
    client.force_login(agent)
    assert client.get("/kb/").status_code == 200
    page = client.get(f"/kb/{article.pk}/")
    assert page.status_code == 200
    assert b"<fieldset disabled" in page.content
    refused = client.post(f"/kb/{article.pk}/", {"theme": "other", "title_fr": "x", "body_fr": "y"})
    assert refused.status_code == 403
    assert client.post(f"/kb/{article.pk}/publish", {"published": "0"}).status_code == 403
    assert Article.objects.get().status == "published"


def test_the_editor_saves_a_version_per_language_and_adds_a_language(
    shop: Shop, supervisor: User
) -> None:
    client = Client()
    client.force_login(supervisor)
    form = {"theme": "delivery", "shop": str(shop.pk), "title_fr": "Délais", "body_fr": "48 h."}
    response = client.post("/kb/new", form | {"title_en": "Lead times", "body_en": "48 hours."})
    article = Article.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/kb/{article.pk}/"
    assert {v.language: v.title for v in article.versions.all()} == {
        "fr": "Délais",
        "en": "Lead times",
    }
    edit = {"theme": "delivery", "title_fr": "Délais", "body_fr": "48 h.", "new_language": "de"}
    client.post(f"/kb/{article.pk}/", edit | {"title_de": "Lieferzeit", "body_de": "48 Std."})
    # English left empty loses its version; German arrives.
    assert sorted(article.versions.values_list("language", flat=True)) == ["de", "fr"]
    bad = client.post("/kb/new", {"theme": "delivery", "title_fr": "Sans réponse"})
    assert bad.status_code == 200
    assert "a title and an answer" in bad.content.decode()


def test_an_article_is_flagged_when_stale_or_when_its_template_changed(
    shop: Shop, supervisor: User, settings: Any
) -> None:
    settings.KB_REVIEW_MONTHS = 2
    template = automation.save_template(
        None, name="Retours", shop=None, versions={"fr": ("", "30 jours.")}
    )
    article = actions.save_article(
        None,
        actor=supervisor,
        shop=shop,
        theme="returns",
        template=template,
        versions={"fr": RETURNS_FR},
    )
    now = timezone.now()
    assert not queries.is_stale(article, now)
    assert not queries.template_changed(article)
    assert queries.is_stale(article, now + timedelta(days=61))
    automation.save_template(
        template, name="Retours", shop=None, versions={"fr": ("", "14 jours désormais.")}
    )
    article.refresh_from_db()
    assert queries.template_changed(article)
    client = Client()
    client.force_login(supervisor)
    assert b"flag-template" in client.get("/kb/").content
    client.post(f"/kb/{article.pk}/review")
    article.refresh_from_db()
    assert article.reviewed_at is not None
    assert not queries.template_changed(article)
    assert not queries.is_stale(article, now + timedelta(days=59))
    assert b"flag-template" not in client.get("/kb/").content


def test_a_mining_cluster_becomes_a_draft_article_in_one_click(
    shop: Shop, supervisor: User, agent: User, make_inbound: Any
) -> None:
    conv_id = ingest(make_inbound(text="Je n'ai pas reçu mon colis")).conversation_id
    question = Conversation.objects.get(pk=conv_id).messages.get()
    from comptoir.inbox import actions as inbox

    inbox.reply(
        Conversation.objects.get(pk=conv_id), text="Votre colis arrive demain.", actor=agent
    )
    run = MiningRun.objects.create(since=timezone.now() - timedelta(days=90))
    cluster = Cluster.objects.create(
        run=run,
        language="fr",
        intent="not_received",
        size=1,
        label="Je n'ai pas reçu mon colis",
        examples=[question.pk],
    )
    client = Client()
    client.force_login(supervisor)
    response = client.post(f"/kb/from-cluster/{cluster.pk}")
    article = Article.objects.get()
    assert response["Location"] == f"/kb/{article.pk}/"
    version = article.versions.get()
    assert (article.status, article.theme, version.language) == ("draft", "delivery", "fr")
    assert version.title == "Je n'ai pas reçu mon colis"
    assert version.body == "Votre colis arrive demain."
    client.force_login(agent)
    assert client.post(f"/kb/from-cluster/{cluster.pk}").status_code == 403


def test_the_public_faq_speaks_the_buyers_language_and_is_indexable(
    shop: Shop, supervisor: User, django_assert_max_num_queries: Any
) -> None:
    article = published_article(shop, supervisor)
    actions.save_article(
        None, actor=supervisor, shop=shop, theme="payment", versions={"fr": RETURNS_FR}
    )  # a draft: never public
    client = Client()
    home = client.get(f"/help/{shop.slug}/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9,fr;q=0.5")
    assert home.status_code == 302
    assert home["Location"] == f"/help/{shop.slug}/en/"
    assert "Accept-Language" in home["Vary"]
    # A language the FAQ does not have: the shop's own (French).
    german = client.get(f"/help/{shop.slug}/", HTTP_ACCEPT_LANGUAGE="de-DE")
    assert german["Location"] == f"/help/{shop.slug}/fr/"
    assert client.get(f"/help/{shop.slug}/?lang=en")["Location"] == f"/help/{shop.slug}/en/"

    with django_assert_max_num_queries(4):
        index = client.get(f"/help/{shop.slug}/en/")
    text = index.content.decode()
    assert "How do I return an item?" in text
    assert "How can we help?" in text
    assert text.count("Comment retourner") == 0
    assert "public" in index["Cache-Control"]
    assert "Set-Cookie" not in index
    assert f'hreflang="fr" href="http://127.0.0.1:8000/help/{shop.slug}/fr/"' in text
    url = f"/help/{shop.slug}/fr/{article.pk}-comment-retourner-un-article/"
    with django_assert_max_num_queries(4):
        page = client.get(url)
    html = page.content.decode()
    assert "<title>Comment retourner un article ? · Maison Lumière</title>" in html
    assert '<meta name="description" content="Vous avez 30 jours' in html
    assert f'<link rel="canonical" href="http://127.0.0.1:8000{url}">' in html
    assert (
        f'hreflang="en" href="http://127.0.0.1:8000/help/{shop.slug}/en/{article.pk}-how-do' in html
    )
    assert "Cette réponse vous a-t-elle aidé ?" in html  # the page's own words in French
    assert "frame-ancestors *" in page["Content-Security-Policy"]
    old_slug = client.get(f"/help/{shop.slug}/fr/{article.pk}-ancien-titre/")
    assert old_slug.status_code == 301
    assert old_slug["Location"] == url
    actions.set_published(article, actor=supervisor, published=False)
    assert client.get(url).status_code == 404


def test_search_finds_articles_whatever_the_accents_and_case(shop: Shop, supervisor: User) -> None:
    published_article(shop, supervisor)
    client = Client()
    found = client.get(f"/help/{shop.slug}/fr/", {"q": "EMBALLAGE d'origine"}).content.decode()
    assert "1 réponse" in found
    assert "Comment retourner un article ?" in found
    assert '<meta name="robots" content="noindex">' in found
    assert (
        "Comment retourner"
        in client.get(f"/help/{shop.slug}/fr/", {"q": "retourner"}).content.decode()
    )
    nothing = client.get(f"/help/{shop.slug}/fr/", {"q": "facture"}).content.decode()
    assert "0 réponse" in nothing
    assert "Comment retourner" not in nothing
    # Another shop's article never shows.
    other = Shop.objects.create(name="Autre", slug="autre")
    assert (
        "Comment retourner"
        not in client.get("/help/autre/fr/", {"q": "retourner"}).content.decode()
    )
    assert other.pk


def test_feedback_counts_one_answer_per_visitor_and_refuses_other_sites(
    shop: Shop, supervisor: User
) -> None:
    article = published_article(shop, supervisor)
    url = f"/help/{shop.slug}/en/{article.pk}/feedback"
    client = Client()
    first = client.post(url, {"helpful": "no"}, HTTP_ORIGIN="http://testserver")
    assert first.status_code == 303
    assert "voted=no" in first["Location"]
    visitor = first.cookies[VISITOR_COOKIE].value
    assert first.cookies[VISITOR_COOKIE]["httponly"]
    assert first.cookies[VISITOR_COOKIE]["samesite"] == "Lax"
    client.post(url, {"helpful": "yes"}, HTTP_ORIGIN="http://testserver")
    assert list(ArticleFeedback.objects.values_list("visitor", "helpful")) == [(visitor, True)]
    Client().post(url, {"helpful": "yes"})  # another visitor, no Origin (an old browser)
    assert ArticleFeedback.objects.count() == 2
    forged = Client().post(url, {"helpful": "no"}, HTTP_ORIGIN="https://evil.example")
    cross = Client().post(url, {"helpful": "no"}, HTTP_SEC_FETCH_SITE="cross-site")
    assert forged.status_code == cross.status_code == 403
    assert Client().post(url, {"helpful": "maybe"}).status_code == 400
    assert ArticleFeedback.objects.filter(helpful=False).count() == 0


def test_views_are_recorded_by_the_beacon_and_deflection_is_measured(
    shop: Shop, supervisor: User, channel: Channel, make_inbound: Any
) -> None:
    article = published_article(shop, supervisor)
    seen = f"/help/{shop.slug}/en/{article.pk}/seen.gif"
    client = Client()
    asked = ingest(make_inbound(text="Mon colis ?", sent_at=timezone.now() - timedelta(days=40)))
    # The link sent in a reply names the conversation; the view finds its buyer.
    first = client.get(seen, {"r": conversation_token(asked.conversation_id)})
    assert first["Content-Type"] == "image/gif"
    assert first["Cache-Control"] == "no-store"
    client.get(seen)  # the same visitor again, by its cookie
    assert ArticleView.objects.values("visitor").distinct().count() == 1
    Client().get(seen, {"r": "forged"})  # an anonymous visitor
    embedded = Client().get(seen, {"r": visit_token("", "ORDER-7")})  # the seller's site named it
    assert embedded.status_code == 200
    assert ArticleView.objects.filter(order_number="ORDER-7").count() == 1
    long_ago = timezone.now() - timedelta(days=20)
    actions.record_view(
        article, shop=shop, visitor="q" * 20, language="en", email="calm@x.fr", at=long_ago
    )
    ingest(
        make_inbound(text="Toujours rien reçu", sent_at=timezone.now())
    )  # buyer@example.com writes after viewing
    figures = queries.deflection(shop, timezone.now() - timedelta(days=30))
    assert (figures.wrote, figures.did_not_write, figures.waiting, figures.unknown) == (1, 1, 1, 1)
    assert figures.rate == 0.5


def test_the_composer_suggests_articles_as_text_or_as_a_link_where_links_are_allowed(
    shop: Shop, supervisor: User, agent: User, channel: Channel, team: Any, make_inbound: Any
) -> None:
    article = published_article(shop, supervisor)
    text = "Bonjour, comment retourner l'article ? L'emballage est abîmé."
    amazon_conv = ingest(make_inbound(text=text)).conversation_id
    email = Channel.objects.create(
        shop=shop, kind="api", marketplace="shop", name="Own shop", team=team
    )
    own_conv = ingest(make_inbound(channel_id=email.pk, text=text)).conversation_id
    found = suggest_articles(Conversation.objects.get(pk=amazon_conv))
    assert [s.version.article_id for s in found] == [article.pk]
    assert found[0].version.language == "fr"  # the buyer's language
    client = Client()
    client.force_login(agent)
    on_amazon = client.get(f"/kb/c/{amazon_conv}/articles").content.decode()
    assert "Comment retourner un article ?" in on_amazon
    assert 'data-insert-article="text-' in on_amazon
    assert 'data-insert-article="link-' not in on_amazon  # Amazon blocks links
    on_own_shop = client.get(f"/kb/c/{own_conv}/articles").content.decode()
    assert f"/help/{shop.slug}/fr/{article.pk}-comment-retourner-un-article/?r=" in on_own_shop
    outsider = User.objects.create_user("out", "o@x.fr", "pw", role=Role.AGENT)
    client.force_login(outsider)
    assert client.get(f"/kb/c/{amazon_conv}/articles").status_code == 404
