"""Webhooks and test receivers through the API, with the notifications page's rules: owners and
admins with an admin-scope token (403 otherwise), 404 for a webhook that is not there, 422 with
the reason for a refused URL or kind; the signing secret is returned once, at creation."""

from __future__ import annotations

import pytest
from django.test import Client

from comptoir.accounts.models import Role, TokenScope, User
from comptoir.notifications.models import TestReceiver, Webhook, WebhookDelivery
from tests.test_api_tags import bearer, call

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("admin-hooks", "a@x.fr", "x", role=Role.ADMIN)


@pytest.fixture
def token(admin: User) -> dict[str, str]:
    return bearer(admin, TokenScope.ADMIN)


def test_an_admin_adds_tests_turns_off_and_deletes_a_webhook(
    client: Client, token: dict[str, str], agent: User
) -> None:
    body = {"name": "Slack", "url": "http://127.0.0.1:9/", "format": "slack"}
    made = call(client, "post", "/webhooks", token, {**body, "user_id": agent.pk})
    assert made.status_code == 201, made.content
    hook = Webhook.objects.get(pk=made.json()["id"])
    assert made.json()["secret"] == hook.secret != ""
    assert hook.user == agent
    listed = call(client, "get", "/webhooks", token)
    assert [h["name"] for h in listed.json()] == ["Slack"]
    assert hook.secret not in listed.content.decode()  # only at creation
    assert listed.json()[0]["signed"] is True
    tested = call(client, "post", f"/webhooks/{hook.pk}/test", token)
    assert tested.status_code == 202
    assert WebhookDelivery.objects.get(pk=tested.json()["id"]).webhook == hook
    off = call(client, "post", f"/webhooks/{hook.pk}/active", token, {"active": False})
    assert off.json()["is_active"] is False
    assert not Webhook.objects.get(pk=hook.pk).is_active
    assert call(client, "delete", f"/webhooks/{hook.pk}", token).status_code == 204
    assert not Webhook.objects.filter(pk=hook.pk).exists()


def test_a_test_receiver_with_a_webhook_to_it(client: Client, token: dict[str, str]) -> None:
    made = call(client, "post", "/webhooks/receivers", token, {"name": "Try", "with_webhook": True})
    assert made.status_code == 201, made.content
    receiver = TestReceiver.objects.get(pk=made.json()["id"])
    assert made.json()["url"].endswith(f"/hooks/test/{receiver.token}/")
    assert made.json()["webhook"]["url"] == made.json()["url"]
    alone = call(client, "post", "/webhooks/receivers", token, {"name": "Alone"})
    assert alone.json()["webhook"] is None
    assert Webhook.objects.count() == 1


def test_webhooks_follow_the_pages_rules(
    client: Client, admin: User, token: dict[str, str], supervisor: User
) -> None:
    hook = Webhook.objects.create(name="H", url="http://127.0.0.1:9/", format="json")
    body = {"url": "http://127.0.0.1:9/"}
    for headers in (bearer(supervisor), bearer(admin)):  # a role, then a scope, that may not
        assert call(client, "get", "/webhooks", headers).status_code == 403
        assert call(client, "post", "/webhooks", headers, body).status_code == 403
        assert call(client, "post", f"/webhooks/{hook.pk}/test", headers).status_code == 403
        assert call(client, "delete", f"/webhooks/{hook.pk}", headers).status_code == 403
        assert call(client, "post", "/webhooks/receivers", headers, {}).status_code == 403
    assert call(client, "delete", "/webhooks/99999", token).status_code == 404
    off = {"active": False}
    assert call(client, "post", "/webhooks/99999/active", token, off).status_code == 404
    metadata = call(client, "post", "/webhooks", token, {"url": "http://169.254.169.254/"})
    assert metadata.status_code == 422
    assert metadata.json()["detail"].startswith("webhook URL: ")
    kinds = call(client, "post", "/webhooks", token, {**body, "kinds": ["gossip"]})
    assert kinds.json()["detail"] == "unknown notification kinds: gossip"
    nobody = call(client, "post", "/webhooks", token, {**body, "user_id": 99999})
    assert nobody.status_code == 404
    assert list(Webhook.objects.all()) == [hook]
    assert not TestReceiver.objects.exists()
    assert not WebhookDelivery.objects.exists()
