"""The templates API (list, read, create, update, preview for a conversation) and the knowledge
base's (articles: list, read per language, create, update, publish, review, the FAQ's
feedback counts and deflection): everyone reads, owners, admins and supervisors write (403
for the others), a preview is for a conversation the caller sees (404 otherwise)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from comptoir.accounts.models import APIToken, Team, User
from comptoir.automation.models import Template
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.knowledge.models import Article, ArticleFeedback, ArticleView

API = "/api/v1"
pytestmark = pytest.mark.django_db


def bearer(user: User) -> dict[str, str]:
    _token, raw = APIToken.issue(user, "tests")
    return {"Authorization": f"Bearer {raw}"}


def call(client: Client, method: str, url: str, user: User, body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(
        API + url, data, content_type="application/json", headers=bearer(user)
    )


WHERE = {
    "name": "Where is my parcel",
    "shortcut": "where",
    "intents": ["order_tracking"],
    "versions": [
        {"language": "fr", "subject": "", "body": "Bonjour {{ customer_first_name }}, il arrive."},
        {"language": "en", "subject": "", "body": "Hello {{ customer_first_name }}, it's coming."},
    ],
}


@pytest.fixture
def conv(make_inbound: Any) -> Conversation:
    return Conversation.objects.get(
        pk=ingest(make_inbound(thread_id="tpl-api", language="fr")).conversation_id
    )


def test_a_supervisor_creates_and_updates_a_template_an_agent_reads_it(
    client: Client, supervisor: User, agent: User, analyst: User
) -> None:
    for nobody in (agent, analyst):
        assert call(client, "post", "/templates", nobody, WHERE).status_code == 403
    created = call(client, "post", "/templates", supervisor, WHERE)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["shortcut"], [v["language"] for v in body["versions"]]) == ("where", ["en", "fr"])
    url = f"/templates/{body['id']}"
    changed = {**WHERE, "versions": WHERE["versions"][:1], "is_active": False}
    updated = call(client, "put", url, supervisor, changed)
    assert updated.status_code == 200, updated.content
    assert [v["language"] for v in updated.json()["versions"]] == ["fr"]
    assert updated.json()["is_active"] is False
    assert call(client, "put", url, agent, WHERE).status_code == 403
    listed = call(client, "get", "/templates?q=parcel", agent).json()
    assert [t["id"] for t in listed["items"]] == [body["id"]]
    assert call(client, "get", "/templates?active=true", agent).json()["count"] == 0
    broken = {**WHERE, "shortcut": "", "versions": [{"language": "fr", "body": "{{ oops"}]}
    assert call(client, "post", "/templates", supervisor, broken).status_code == 422
    taken = {**WHERE, "name": "Another"}
    assert call(client, "post", "/templates", supervisor, taken).status_code == 422
    assert call(client, "get", "/templates/999999", agent).status_code == 404


def test_a_template_is_previewed_for_a_conversation_the_caller_sees(
    client: Client, conv: Conversation, supervisor: User, agent: User, outsider: User
) -> None:
    template_id = call(client, "post", "/templates", supervisor, WHERE).json()["id"]
    url = f"/conversations/{conv.pk}/templates/{template_id}/preview"
    shown = call(client, "get", url, agent)
    assert shown.status_code == 200, shown.content
    body = shown.json()
    assert (body["language"], body["text"]) == ("fr", "Bonjour Jeanne, il arrive.")
    assert body["missing"] == []
    assert isinstance(body["checks"], list)
    assert call(client, "get", url + "?language=en", agent).json()["text"].startswith("Hello")
    assert call(client, "get", url, outsider).status_code == 404
    # A template of another shop is not offered here.
    other = Shop.objects.create(name="Other", slug="other")
    Template.objects.filter(pk=template_id).update(shop=other)
    assert call(client, "get", url, agent).status_code == 404


RETURNS = {
    "theme": "returns",
    "versions": [
        {"language": "fr", "title": "Retourner un article", "body": "Sous 30 jours."},
        {"language": "en", "title": "Return an item", "body": "Within 30 days."},
    ],
}


def test_a_supervisor_writes_and_publishes_an_article_an_agent_reads_it(
    client: Client, shop: Shop, supervisor: User, agent: User, analyst: User
) -> None:
    for nobody in (agent, analyst):
        assert call(client, "post", "/articles", nobody, RETURNS).status_code == 403
    created = call(client, "post", "/articles", supervisor, {**RETURNS, "shop_id": shop.pk})
    assert created.status_code == 201, created.content
    article = created.json()
    assert (article["status"], article["owner_id"], article["shop_id"]) == (
        "draft",
        supervisor.pk,
        shop.pk,
    )
    url = f"/articles/{article['id']}"
    assert call(client, "post", f"{url}/publish", agent, {}).status_code == 403
    published = call(client, "post", f"{url}/publish", supervisor, {})
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] is not None
    fr = call(client, "get", f"{url}?language=fr", agent).json()
    assert [(v["language"], v["slug"]) for v in fr["versions"]] == [("fr", "retourner-un-article")]
    assert call(client, "get", f"{url}?language=de", agent).status_code == 404
    only_en = {**RETURNS, "versions": RETURNS["versions"][1:]}
    updated = call(client, "put", url, supervisor, only_en)
    assert [v["language"] for v in updated.json()["versions"]] == ["en"]
    reviewed = call(client, "post", f"{url}/review", supervisor)
    assert reviewed.json()["reviewed_at"] is not None
    assert (
        call(client, "post", f"{url}/publish", supervisor, {"published": False}).json()["status"]
        == "draft"
    )
    assert call(client, "get", "/articles?status=draft&theme=returns", agent).json()["count"] == 1
    assert call(client, "get", "/articles?status=published", agent).json()["count"] == 0


def test_articles_carry_the_public_faqs_figures(
    client: Client, shop: Shop, supervisor: User, analyst: User, agent: User
) -> None:
    article_id = call(client, "post", "/articles", supervisor, RETURNS).json()["id"]
    article = Article.objects.get(pk=article_id)
    for i, helpful in enumerate([True, True, False]):
        ArticleFeedback.objects.create(article=article, visitor=f"v{i:015d}", helpful=helpful)
    for i in range(4):
        ArticleView.objects.create(article=article, shop=shop, visitor=f"v{i:015d}")
    listed = call(client, "get", "/articles", analyst).json()["items"]
    assert [(a["views"], a["helpful"], a["not_helpful"]) for a in listed] == [(4, 2, 1)]
    figures = call(client, "get", f"/articles/deflection?shop={shop.pk}", analyst)
    assert figures.status_code == 200, figures.content
    # Visitors the FAQ cannot tie to a buyer are counted apart, not in the rate.
    assert (figures.json()["unknown"], figures.json()["rate"]) == (4, None)
    assert call(client, "get", f"/articles/deflection?shop={shop.pk}", agent).status_code == 403


def test_another_teams_agent_reads_the_knowledge_base_too(
    client: Client, channel: Channel, supervisor: User, outsider: User, other_team: Team
) -> None:
    """Articles are not a team's: every active user reads them (they answer buyers with them)."""
    call(client, "post", "/articles", supervisor, RETURNS)
    assert call(client, "get", "/articles", outsider).json()["count"] == 1
