"""Users' role, activity and teams through the API, with the users page's rules: owners and
admins only (403 for an agent), an admin never makes an owner, nobody changes their own role,
404 for a user that is not there; a refused change changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from comptoir.accounts.models import Role, Team, TokenScope, User
from tests.test_api_tags import bearer, call

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("admin-users", "a@x.fr", "x", role=Role.ADMIN)


def test_an_admin_changes_an_agents_role_and_teams(
    client: Client, admin: User, agent: User, team: Team
) -> None:
    body = {"role": "supervisor", "teams": [team.pk]}
    answer = call(client, "patch", f"/users/{agent.pk}", bearer(admin, TokenScope.ADMIN), body)
    assert answer.status_code == 200, answer.content
    agent.refresh_from_db()
    assert agent.role == Role.SUPERVISOR
    assert list(agent.teams.all()) == [team]
    listed = call(client, "get", "/users", bearer(admin)).json()
    assert {"supervisor"} <= {u["role"] for u in listed}


def test_the_pages_rules_hold(client: Client, admin: User, agent: User) -> None:
    assert call(client, "get", "/users", bearer(agent)).status_code == 403
    own = call(client, "patch", f"/users/{agent.pk}", bearer(agent), {"role": "admin"})
    assert own.status_code == 403
    # A write-scope token does not hand out roles: that takes the admin scope.
    write = call(client, "patch", f"/users/{agent.pk}", bearer(admin), {"role": "supervisor"})
    assert write.status_code == 403
    admin_token = bearer(admin, TokenScope.ADMIN)
    owner = call(client, "patch", f"/users/{agent.pk}", admin_token, {"role": "owner"})
    assert owner.status_code == 403
    self_change = call(client, "patch", f"/users/{admin.pk}", admin_token, {"role": "agent"})
    assert 400 <= self_change.status_code < 500
    assert call(client, "patch", "/users/9999", admin_token, {"role": "agent"}).status_code == 404
    agent.refresh_from_db()
    admin.refresh_from_db()
    assert (agent.role, admin.role) == (Role.AGENT, Role.ADMIN)
