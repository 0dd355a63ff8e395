"""Teams through the API, as on the settings page: anyone lists them (the action bar's team
menu does), owners and admins create and change them (403 for an agent, whatever the team;
404 for a team that is not there), a clash of names is refused and nothing changes."""

from __future__ import annotations

import pytest
from django.test import Client

from comptoir.accounts.models import Team, User
from tests.test_api_tags import bearer, call

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("admin-teams", "a@x.fr", "x", role="admin")


def test_an_admin_creates_and_renames_a_team_with_its_members(
    client: Client, admin: User, agent: User
) -> None:
    h = bearer(admin)
    created = call(client, "post", "/teams", h, {"name": "Logistique", "members": [agent.pk]})
    assert created.status_code == 201, created.content
    team = Team.objects.get(name="Logistique")
    assert list(team.members.all()) == [agent]
    changed = call(client, "put", f"/teams/{team.pk}", h, {"name": "Transport"})
    assert changed.status_code == 200
    assert changed.json() == {"id": team.pk, "name": "Transport", "members": [agent.pk]}
    names = [t["name"] for t in call(client, "get", "/teams", bearer(agent)).json()]
    assert "Transport" in names


def test_an_agent_gets_403_a_missing_team_404_and_a_clash_is_refused(
    client: Client, admin: User, agent: User, team: Team
) -> None:
    assert call(client, "post", "/teams", bearer(agent), {"name": "Mine"}).status_code == 403
    put = call(client, "put", f"/teams/{team.pk}", bearer(agent), {"name": "Mine"})
    assert put.status_code == 403
    assert call(client, "put", "/teams/9999", bearer(admin), {"name": "X"}).status_code == 404
    Team.objects.create(name="Retours")
    clash = call(client, "put", f"/teams/{team.pk}", bearer(admin), {"name": "retours"})
    assert 400 <= clash.status_code < 500
    team.refresh_from_db()
    assert team.name != "retours"
    assert not Team.objects.filter(name="Mine").exists()
