"""A user's notification preferences through the API, as on the settings page: their own only,
the kinds named changed and the others kept, one bad value refusing the whole change."""

from __future__ import annotations

import pytest
from django.test import Client

from comptoir.accounts.models import User
from comptoir.notifications import actions
from tests.test_api_tags import bearer, call

pytestmark = pytest.mark.django_db
URL = "/notifications/preferences"


def test_a_user_reads_and_changes_their_own_preferences(
    client: Client, agent: User, supervisor: User
) -> None:
    rows = call(client, "get", URL, bearer(agent)).json()
    assert {"kind": "sla_breached", "email": "now", "webhook": True} in rows
    body = [{"kind": "sla_breached", "email": "digest", "webhook": False}]
    answer = call(client, "put", URL, bearer(agent), body)
    assert answer.status_code == 200, answer.content
    assert actions.preferences_of(agent)["sla_breached"] == ("digest", False)
    assert actions.preferences_of(agent)["sla_at_risk"] == ("now", True)  # kept
    assert actions.preferences_of(supervisor)["sla_breached"] == ("now", True)  # not theirs


def test_one_unknown_value_refuses_the_whole_change(client: Client, agent: User) -> None:
    body = [
        {"kind": "sla_breached", "email": "off", "webhook": False},
        {"kind": "sla_at_risk", "email": "pigeon", "webhook": False},
    ]
    answer = call(client, "put", URL, bearer(agent), body)
    assert 400 <= answer.status_code < 500
    assert "pigeon" in answer.content.decode()
    assert actions.preferences_of(agent)["sla_breached"] == ("now", True)
    wrong_kind = [{"kind": "weather", "email": "off", "webhook": False}]
    assert 400 <= call(client, "put", URL, bearer(agent), wrong_kind).status_code < 500
