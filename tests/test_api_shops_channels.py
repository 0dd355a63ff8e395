"""Shops, channels, failed inbound messages and new users through the API, with their settings
pages' rules: owners and admins only (403 for an agent), 404 for what is not there or not seen,
422 with the reason for a refused value; a channel's credentials go in and never come back; the
changes are audited as the pages' are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import Role, Team, TokenScope, User
from comptoir.audit.models import AuditEvent
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.models import Channel, InboundRecord, InboundState, Message, Shop
from tests.test_api_tags import bearer, call

pytestmark = pytest.mark.django_db

KEY = "mirakl-key-Zq7-never-shown"


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("admin-settings", "a@x.fr", "x", role=Role.ADMIN)


def _admin_token(user: User) -> dict[str, str]:
    return bearer(user, TokenScope.ADMIN)


# -- shops --------------------------------------------------------------------------------------


def test_an_admin_adds_and_changes_a_shop(client: Client, admin: User) -> None:
    body = {"name": "Atelier Nord", "language": "fr", "country": "fr", "timezone": "Europe/Paris"}
    made = call(client, "post", "/shops", bearer(admin), body)
    assert made.status_code == 201, made.content
    shop = Shop.objects.get(pk=made.json()["id"])
    assert (shop.slug, shop.country) == ("atelier-nord", "FR")
    changed = call(client, "put", f"/shops/{shop.pk}", bearer(admin), {**body, "language": "de"})
    assert changed.json()["language"] == "de"
    audited = AuditEvent.objects.filter(object_id=str(shop.pk)).order_by("pk")
    expected = [("shop.created", "api"), ("shop.changed", "api")]
    assert [(e.action, e.via) for e in audited] == expected
    assert [s["name"] for s in call(client, "get", "/shops", bearer(admin)).json()] == [
        "Atelier Nord"
    ]


def test_shops_follow_the_pages_rules(client: Client, admin: User, agent: User, shop: Shop) -> None:
    body = {"name": "X", "language": "fr", "country": "FR", "timezone": "Europe/Paris"}
    assert call(client, "post", "/shops", bearer(agent), body).status_code == 403
    assert call(client, "put", f"/shops/{shop.pk}", bearer(agent), body).status_code == 403
    assert call(client, "put", "/shops/99999", bearer(admin), body).status_code == 404
    wrong = call(client, "put", f"/shops/{shop.pk}", bearer(admin), {**body, "timezone": "Mars"})
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == "unknown timezone 'Mars'"
    assert Shop.objects.get(pk=shop.pk).name == "Maison Lumière"


# -- channels -----------------------------------------------------------------------------------


def _mirakl(shop: Shop, team: Team, **settings: Any) -> dict[str, Any]:
    return {
        "kind": "mirakl",
        "shop_id": shop.pk,
        "marketplace": "darty",
        "name": "Darty",
        "team_id": team.pk,
        "settings": {"base_url": "http://127.0.0.1:9", "api_key": KEY, **settings},
    }


def test_an_admin_adds_a_channel_whose_key_is_never_returned(
    client: Client, admin: User, shop: Shop, team: Team
) -> None:
    made = call(client, "post", "/channels", _admin_token(admin), _mirakl(shop, team))
    assert made.status_code == 201, made.content
    assert KEY not in made.content.decode()
    assert made.json()["secrets_set"] == ["api_key"]
    channel = Channel.objects.get(pk=made.json()["id"])
    assert channel.get_settings()["api_key"] == KEY
    read = call(client, "get", f"/channels/{channel.pk}", bearer(admin))
    assert read.status_code == 200
    assert KEY not in read.content.decode()
    assert read.json()["settings"]["base_url"] == "http://127.0.0.1:9/"
    # A change without the key keeps it; only the names of the settings changed are audited.
    body = {k: v for k, v in _mirakl(shop, team).items() if k != "kind"}
    body["settings"] = {"page_size": 50}
    changed = call(client, "put", f"/channels/{channel.pk}", _admin_token(admin), body)
    assert changed.status_code == 200, changed.content
    channel.refresh_from_db()
    assert (channel.get_settings()["api_key"], channel.get_settings()["page_size"]) == (KEY, 50)
    events = AuditEvent.objects.filter(action__startswith="channel.")
    assert [e.action for e in events.order_by("pk")] == ["channel.created", "channel.changed"]
    assert all(KEY not in str(e.changes) for e in events)
    kinds = {k["kind"]: k for k in call(client, "get", "/channels/kinds", bearer(admin)).json()}
    assert {"name": "api_key", "widget": "password"}.items() <= kinds["mirakl"]["settings"][
        1
    ].items()


def test_an_unknown_shop_or_team_is_refused_alike_by_the_api_and_the_form(
    client: Client, admin: User, shop: Shop, team: Team
) -> None:
    """The check is the action's: both doors say why, and nothing is made."""
    missing = Team.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for body, said in (
        ({**_mirakl(shop, team), "shop_id": shop.pk + 1000}, "There is no shop"),
        ({**_mirakl(shop, team), "team_id": missing + 1000}, "There is no team"),
    ):
        refused = call(client, "post", "/channels", _admin_token(admin), body)
        assert refused.status_code == 422, refused.content
        assert said in refused.content.decode()
    web = Client()
    web.force_login(admin)
    form = {"kind": "mirakl", "name": "Darty", "marketplace": "darty", "is_active": "on",
            "base_url": "http://127.0.0.1:9", "api_key": KEY}  # fmt: skip
    for fields, said in (
        ({"shop": shop.pk + 1000, "team": team.pk}, "There is no shop"),
        ({"shop": shop.pk, "team": missing + 1000}, "There is no team"),
        ({"shop": "", "team": team.pk}, "Choose the shop this channel belongs to."),
    ):
        page = web.post("/settings/channels/new?kind=mirakl", {**form, **fields})
        assert page.status_code == 400, fields
        assert said in page.content.decode()
    assert not Channel.objects.filter(kind="mirakl").exists()


def test_channels_follow_the_pages_rules(
    client: Client, admin: User, agent: User, outsider: User, channel: Channel, team: Team
) -> None:
    body = _mirakl(channel.shop, team)
    assert call(client, "post", "/channels", bearer(agent), body).status_code == 403
    # Changing credentials wants an admin-scope token, as the other owners' endpoints.
    assert call(client, "post", "/channels", bearer(admin), body).status_code == 403
    change = {k: v for k, v in body.items() if k != "kind"} | {"settings": {}}
    url = f"/channels/{channel.pk}"
    assert call(client, "put", url, bearer(agent), change).status_code == 403  # seen, not theirs
    assert call(client, "put", url, bearer(outsider), change).status_code == 404  # not seen
    assert call(client, "get", url, bearer(outsider)).status_code == 404
    assert call(client, "put", "/channels/99999", _admin_token(admin), change).status_code == 404
    metadata = _mirakl(channel.shop, team, base_url="http://169.254.169.254/latest")
    refused = call(client, "post", "/channels", _admin_token(admin), metadata)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("base_url: ")
    unknown = call(client, "post", "/channels", _admin_token(admin), {**body, "kind": "fax"})
    assert unknown.json()["detail"] == "no connector for channels of kind 'fax'"
    typo = _mirakl(channel.shop, team, apikey="x")
    assert (
        "apikey: not a setting"
        in call(client, "post", "/channels", _admin_token(admin), typo).json()["detail"]
    )
    assert Channel.objects.count() == 1


# -- failed inbound messages --------------------------------------------------------------------


def _failed(make_inbound: Callable[..., InboundMessage], channel: Channel) -> InboundRecord:
    raw = make_inbound(thread_id="inbound-api-1").model_dump_json().encode()
    return InboundRecord.objects.create(
        channel=channel, raw=raw, state=InboundState.FAILED, error="database is locked", attempts=1
    )


def test_an_admin_retries_one_failed_message_or_queues_them_all(
    client: Client, admin: User, channel: Channel, make_inbound: Callable[..., InboundMessage]
) -> None:
    record = _failed(make_inbound, channel)
    one = call(client, "post", "/inbound/retry", bearer(admin), {"record_id": record.pk})
    assert one.status_code == 200, one.content
    assert one.json()["outcome"] == "stored"
    assert Message.objects.filter(conversation_id=one.json()["conversation_id"]).exists()
    again = call(client, "post", "/inbound/retry", bearer(admin), {"record_id": record.pk})
    assert again.status_code == 404  # no longer failed
    queued = call(client, "post", "/inbound/retry", bearer(admin), {})
    assert (queued.status_code, queued.json()["outcome"]) == (202, "queued")
    assert DBTaskResult.objects.filter(task_path__endswith="retry_failed_inbound").exists()


def test_agents_may_not_retry_inbound(
    client: Client, agent: User, channel: Channel, make_inbound: Callable[..., InboundMessage]
) -> None:
    record = _failed(make_inbound, channel)
    answer = call(client, "post", "/inbound/retry", bearer(agent), {"record_id": record.pk})
    assert answer.status_code == 403
    assert InboundRecord.objects.get(pk=record.pk).state == InboundState.FAILED
    bad = call(client, "post", "/inbound/retry", bearer(agent), {"record_id": 0})
    assert bad.status_code == 422  # ids start at 1


# -- new users ----------------------------------------------------------------------------------


def test_an_admin_adds_a_user_whose_password_is_never_returned(
    client: Client, admin: User, team: Team
) -> None:
    body = {
        "username": "lea",
        "email": "lea@x.fr",
        "role": "agent",
        "password": "a-long-Passphrase-42",
        "teams": [team.pk],
    }
    made = call(client, "post", "/users", _admin_token(admin), body)
    assert made.status_code == 201, made.content
    assert "Passphrase" not in made.content.decode()
    assert made.json()["teams"] == [team.pk]
    lea = User.objects.get(username="lea")
    assert lea.check_password("a-long-Passphrase-42")
    assert AuditEvent.objects.filter(action="user.created", object_id=str(lea.pk)).exists()


def test_new_users_follow_the_pages_rules(client: Client, admin: User, agent: User) -> None:
    body = {"username": "x1", "role": "agent", "password": "a-long-Passphrase-42"}
    assert call(client, "post", "/users", _admin_token(agent), body).status_code == 403
    assert call(client, "post", "/users", bearer(admin), body).status_code == 403  # write scope
    owner = call(client, "post", "/users", _admin_token(admin), {**body, "role": "owner"})
    assert owner.status_code == 403  # only an owner makes an owner
    taken = call(client, "post", "/users", _admin_token(admin), {**body, "username": "marie"})
    assert (taken.status_code, taken.json()["detail"]) == (422, "the username 'marie' is taken")
    weak = call(client, "post", "/users", _admin_token(admin), {**body, "password": "123"})
    assert weak.status_code == 422
    assert not User.objects.filter(username="x1").exists()
