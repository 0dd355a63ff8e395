"""The seller's two-factor requirement for owners and admins (a setting stored in the database,
defaulting to the environment's), the admin's view of who has it, turning it off, and the
pages in French."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import translation

from comptoir.accounts import login_guard, two_factor
from comptoir.accounts.models import LoginFailure, Role, SecuritySettings, User
from tests.test_two_factor import PASSWORD, enrol, sign_in


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("owner", "owner@example.com", PASSWORD, role=Role.OWNER)


@pytest.fixture
def boss(db: None) -> User:
    return User.objects.create_user("boss", "boss@example.com", PASSWORD, role=Role.ADMIN)


def test_the_setting_follows_the_environment_until_an_admin_saves_it(owner: User) -> None:
    with override_settings(REQUIRE_2FA=True):
        assert two_factor.two_factor_required(owner)
        two_factor.set_two_factor_requirement(actor=owner, required=False)
        assert not two_factor.two_factor_required(owner)
    assert SecuritySettings.objects.get().require_two_factor is False


def test_when_required_owners_and_admins_enrol_before_anything_else(
    owner: User, boss: User, agent: User
) -> None:
    owners = Client()
    sign_in(owners, "owner")
    saved = owners.post("/settings/security/", {"require_two_factor": "on"})
    assert saved["Location"] == "/settings/security/"

    admins = Client()
    sign_in(admins, "boss")
    assert admins.get("/inbox/")["Location"] == "/account/security/"
    assert admins.get("/settings/users/")["Location"] == "/account/security/"
    page = admins.get("/account/security/").content.decode()
    assert "Your role requires two-factor sign-in" in page
    # The API, reached with the session, is refused too.
    assert admins.get("/api/v1/conversations").status_code == 403
    # Agents are not concerned.
    agent.set_password(PASSWORD)
    agent.save()
    agents = Client()
    sign_in(agents, "marie")
    assert agents.get("/inbox/").status_code == 200

    admins.logout()
    enrol(admins, boss)
    assert admins.get("/inbox/").status_code == 200
    # Required: it cannot be turned off, even with the password.
    refused = admins.post("/account/security/disable", {"password": PASSWORD})
    assert refused.status_code == 400
    assert two_factor.has_two_factor(boss)


def test_no_api_token_for_someone_who_owes_enrolment(owner: User, boss: User) -> None:
    two_factor.set_two_factor_requirement(actor=owner, required=True)
    with pytest.raises(CommandError, match="must set up two-factor sign-in first"):
        call_command("token", "create", "boss", "ERP", stdout=io.StringIO())
    client = Client()
    enrol(client, User.objects.get(pk=boss.pk))
    out = io.StringIO()
    call_command("token", "create", "boss", "ERP", stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("cpt_")


def test_turning_it_off_takes_the_password(client: Client, boss: User) -> None:
    enrol(client, boss)
    wrong = client.post("/account/security/disable", {"password": "nope"})
    assert wrong.status_code == 400
    assert b"Wrong password" in wrong.content
    assert two_factor.has_two_factor(boss)
    done = client.post("/account/security/disable", {"password": PASSWORD})
    assert done["Location"] == "/account/security/?disabled=1"
    assert not two_factor.has_two_factor(boss)
    assert client.get("/inbox/").status_code == 200
    client.post("/logout/")
    assert sign_in(client, "boss")["Location"] == "/inbox/"


@override_settings(LOGIN_MAX_FAILURES=2)
def test_the_admin_sees_who_has_it_resets_and_unlocks(owner: User, boss: User, agent: User) -> None:
    enrol(Client(), boss)
    for _ in range(2):
        sign_in(Client(), "marie", "guess")
    owners = Client()
    sign_in(owners, "owner")
    page = owners.get("/settings/security/").content.decode()
    row = page.split('muted">boss</span>')[1].split("</tr>")[0]
    assert "On since" in row
    assert ">10<" in row
    assert "locked for 15 minutes" in page

    owners.post(f"/settings/security/{boss.pk}/reset")
    assert not two_factor.has_two_factor(boss)
    owners.post(f"/settings/security/{agent.pk}/unlock")
    assert not LoginFailure.objects.filter(username="marie").exists()
    assert login_guard.account_locked_for("marie") is None

    # An admin does not reset an owner's; an agent opens nothing here.
    enrol(Client(), owner)
    admins = Client()
    sign_in(admins, "boss")
    assert admins.post(f"/settings/security/{owner.pk}/reset").status_code == 403
    assert two_factor.has_two_factor(owner)
    agent.set_password(PASSWORD)
    agent.save()
    agents = Client()
    sign_in(agents, "marie")
    assert agents.get("/settings/security/").status_code == 403
    assert agents.post(f"/settings/security/{boss.pk}/unlock").status_code == 403


def test_the_sign_in_and_security_pages_in_french(boss: User) -> None:
    client = Client(headers={"Accept-Language": "fr"})
    with translation.override("fr"):
        wrong = sign_in(client, "boss", "guess").content.decode()
        assert "Identifiant ou mot de passe incorrect." in wrong
        enrol(client, boss)
        page = client.get("/account/security/").content.decode()
        assert "Connexion en deux étapes" in page
        assert "Se déconnecter partout" in page
        client.post("/logout/")
        sign_in(client, "boss")
        second = client.get("/login/verify/").content.decode()
        assert "Saisissez le code à 6 chiffres" in second


@override_settings(LOGIN_MAX_FAILURES=1)
def test_the_operator_unlocks_and_resets_from_the_command_line(client: Client, boss: User) -> None:
    enrol(client, boss)
    sign_in(Client(), "boss", "guess")
    assert login_guard.account_locked_for("boss") is not None
    out = io.StringIO()
    call_command("unlock", "boss", "--reset-2fa", stdout=out)
    assert "1 failed sign-in(s) forgotten" in out.getvalue()
    assert login_guard.account_locked_for("boss") is None
    assert not two_factor.has_two_factor(boss)
    with pytest.raises(CommandError, match="no user named"):
        call_command("unlock", "nobody", stdout=io.StringIO())
