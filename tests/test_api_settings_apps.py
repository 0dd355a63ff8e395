"""The pre-send checks, retention, triage and survey settings through the API, with their pages'
rules: 403 for a role the page refuses, 404 for what is not there or not seen, 422 with the
reason for a refused value (nothing changed then); the drafting key is write-only."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import Role, TokenScope, User
from comptoir.audit.models import AuditEvent
from comptoir.automation.checks import levels_for
from comptoir.automation.models import CheckSetting
from comptoir.inbox.models import Channel, Shop
from comptoir.privacy.models import ChannelRetention, RetentionPolicy
from comptoir.surveys.models import SurveySettings
from comptoir.triage import registry
from comptoir.triage.models import IntentModel, TriageSettings
from tests.test_api_tags import bearer, call

pytestmark = pytest.mark.django_db

KEY = "sk-drafting-Zq7-never-shown"


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("admin-apps", "a@x.fr", "x", role=Role.ADMIN)


# -- pre-send checks ----------------------------------------------------------------------------


def test_a_supervisor_sets_check_levels_everywhere_and_on_one_channel(
    client: Client, supervisor: User, channel: Channel
) -> None:
    body = [
        {"check": "link", "level": "warn"},
        {"check": "link", "channel_id": channel.pk, "level": "block"},
        {"check": "empty", "level": None},
    ]
    answer = call(client, "put", "/checks", bearer(supervisor), body)
    assert answer.status_code == 200, answer.content
    link = next(c for c in answer.json() if c["check"] == "link")
    assert link["level"] == "warn"
    assert link["channels"] == [{"channel_id": channel.pk, "level": "block", "effective": "block"}]
    assert levels_for(channel)["link"] == "block"
    listed = call(client, "get", "/checks", bearer(supervisor)).json()
    assert listed == answer.json()


def test_check_levels_follow_the_pages_rules(
    client: Client, agent: User, supervisor: User, outsider: User, channel: Channel
) -> None:
    assert call(client, "get", "/checks", bearer(agent)).status_code == 403
    one = [{"check": "link", "level": "warn"}]
    assert call(client, "put", "/checks", bearer(agent), one).status_code == 403
    hidden = Channel.objects.create(
        shop=channel.shop, kind="api", marketplace="shop", name="Own", team=outsider.teams.get()
    )
    # A supervisor sees every channel; a channel that is not there is 404.
    there = [{"check": "link", "channel_id": hidden.pk, "level": "warn"}]
    assert call(client, "put", "/checks", bearer(supervisor), there).status_code == 200
    gone = [{"check": "link", "channel_id": 99999, "level": "warn"}]
    assert call(client, "put", "/checks", bearer(supervisor), gone).status_code == 404
    # One unknown check refuses the whole change.
    wrong = [{"check": "link", "level": "block"}, {"check": "telepathy", "level": "warn"}]
    refused = call(client, "put", "/checks", bearer(supervisor), wrong)
    assert (refused.status_code, refused.json()["detail"]) == (422, "no check named telepathy")
    assert not CheckSetting.objects.filter(code="link", channel=None, level="block").exists()
    level = call(client, "put", "/checks", bearer(supervisor), [{"check": "link", "level": "x"}])
    assert level.status_code == 422


# -- retention ----------------------------------------------------------------------------------


def test_an_admin_sets_a_shops_and_a_channels_retention(
    client: Client, admin: User, shop: Shop, channel: Channel
) -> None:
    token = bearer(admin, TokenScope.ADMIN)
    body = {"days": 365, "mode": "delete"}
    answer = call(client, "put", f"/privacy/retention/shops/{shop.pk}", token, body)
    assert answer.json() == body
    assert RetentionPolicy.objects.get(shop=shop).days == 365
    own = call(client, "put", f"/privacy/retention/channels/{channel.pk}", token, {"days": 30})
    assert own.json() == {"days": 30, "mode": "anonymise"}
    back = call(client, "put", f"/privacy/retention/channels/{channel.pk}", token, {"days": None})
    assert back.json() == {"days": None, "mode": None}
    assert not ChannelRetention.objects.filter(channel=channel).exists()
    assert AuditEvent.objects.filter(action="retention.changed").count() == 3


def test_retention_follows_the_pages_rules(
    client: Client, admin: User, agent: User, shop: Shop
) -> None:
    body = {"days": 30, "mode": "delete"}
    url = f"/privacy/retention/shops/{shop.pk}"
    assert call(client, "put", url, bearer(agent), body).status_code == 403
    assert call(client, "put", url, bearer(admin), body).status_code == 403  # not an admin token
    token = bearer(admin, TokenScope.ADMIN)
    assert call(client, "put", "/privacy/retention/shops/99999", token, body).status_code == 404
    assert call(client, "put", url, token, {"days": -1, "mode": "delete"}).status_code == 422
    assert call(client, "put", url, token, {"days": 3, "mode": "shred"}).status_code == 422
    assert not RetentionPolicy.objects.exists()


# -- triage -------------------------------------------------------------------------------------


def test_an_admin_switches_the_model_and_saves_the_settings(client: Client, admin: User) -> None:
    IntentModel.objects.create(version=1, artifact=b"", metrics={"macro_f1": 0.8})
    used = call(client, "post", "/triage/activate", bearer(admin), {"version": 1})
    assert used.status_code == 200, used.content
    assert used.json()["active_version"] == 1
    assert used.json()["versions"] == [
        {"version": 1, "source": "seller", "is_active": True, "macro_f1": 0.8}
    ]
    rolled_back = call(client, "post", "/triage/activate", bearer(admin), {"version": 0})
    assert rolled_back.json()["active_version"] == registry.BASE_VERSION
    missing = call(client, "post", "/triage/activate", bearer(admin), {"version": 7})
    assert missing.json()["detail"] == "there is no intent model version 7"
    thanks = call(client, "put", "/triage/settings", bearer(admin), {"no_reply_for_thanks": True})
    assert thanks.json()["no_reply_for_thanks"] is True
    assert TriageSettings.get().no_reply_for_thanks
    queued = call(client, "post", "/triage/train", bearer(admin))
    assert queued.status_code == 202
    (task,) = DBTaskResult.objects.filter(task_path="comptoir.triage.tasks.train_model")
    assert str(task.id) == queued.json()["task_id"]
    assert task.args_kwargs["args"] == [admin.pk]


def test_the_drafting_key_is_write_only(client: Client, admin: User) -> None:
    token = bearer(admin, TokenScope.ADMIN)
    body = {"enabled": True, "url": "http://127.0.0.1:9/v1", "model": "m", "local": True}
    saved = call(client, "put", "/triage/drafting", token, {**body, "api_key": KEY})
    assert saved.status_code == 200, saved.content
    assert saved.json()["has_api_key"] is True
    assert KEY not in saved.content.decode()
    assert KEY not in call(client, "get", "/triage", bearer(admin)).content.decode()
    kept = call(client, "put", "/triage/drafting", token, {**body, "model": "m2"})
    assert (kept.json()["llm_model"], TriageSettings.get().llm_api_key) == ("m2", KEY)
    cleared = call(client, "put", "/triage/drafting", token, {**body, "api_key": ""})
    assert cleared.json()["has_api_key"] is False
    wrong = call(client, "put", "/triage/drafting", token, {**body, "timeout_seconds": 500})
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == "The timeout is between 1 and 120 seconds."


def test_triage_follows_the_pages_rules(
    client: Client, admin: User, supervisor: User, analyst: User
) -> None:
    for user in (supervisor, analyst):
        assert call(client, "get", "/triage", bearer(user)).status_code == 403
        assert call(client, "post", "/triage/train", bearer(user)).status_code == 403
        flag = {"no_reply_for_thanks": True}
        assert call(client, "put", "/triage/settings", bearer(user), flag).status_code == 403
    body = {"enabled": False}
    # The drafting endpoint gets conversations' text: an admin-scope token.
    assert call(client, "put", "/triage/drafting", bearer(admin), body).status_code == 403
    assert not DBTaskResult.objects.exists()
    assert not TriageSettings.get().no_reply_for_thanks


# -- surveys ------------------------------------------------------------------------------------


def test_an_admin_turns_the_survey_on(client: Client, admin: User, channel: Channel) -> None:
    body = {
        "enabled": True,
        "kind": "nps",
        "delay_hours": 48,
        "min_days_between": 60,
        "excluded_channel_ids": [channel.pk],
        "excluded_tags": ["vip", " "],
        "message_marketplaces": [],
    }
    answer = call(client, "put", "/surveys/settings", bearer(admin), body)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {**body, "excluded_tags": ["vip"]}
    found = SurveySettings.get()
    assert (found.enabled, found.kind, found.excluded_channel_ids) == (True, "nps", [channel.pk])
    assert call(client, "get", "/surveys/settings", bearer(admin)).json() == answer.json()


def test_surveys_follow_the_pages_rules(client: Client, admin: User, supervisor: User) -> None:
    body = {"enabled": True, "kind": "csat", "delay_hours": 24, "min_days_between": 30}
    assert call(client, "get", "/surveys/settings", bearer(supervisor)).status_code == 403
    assert call(client, "put", "/surveys/settings", bearer(supervisor), body).status_code == 403
    on_amazon = {**body, "message_marketplaces": ["amazon"]}
    refused = call(client, "put", "/surveys/settings", bearer(admin), on_amazon)
    assert refused.status_code == 422
    assert refused.json()["detail"] == "surveys may not go by message on amazon"
    late = call(client, "put", "/surveys/settings", bearer(admin), {**body, "delay_hours": 9999})
    assert late.status_code == 422
    assert not SurveySettings.get().enabled
