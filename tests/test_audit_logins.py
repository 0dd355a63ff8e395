"""Sign-ins in the audit log: each success, failure, lockout, unlock and sign-out, and each
change of the second factor, with the client's address (behind the proxy, not a forged one)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client, override_settings
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from comptoir.accounts import login_guard, two_factor
from comptoir.accounts.models import Role, User
from comptoir.audit.models import AuditEvent

PASSWORD = "a-long-pass-phrase-42"
FORWARDED = "192.0.2.99, 203.0.113.7"


@pytest.fixture
def boss(db: None) -> User:
    return User.objects.create_user("boss", "boss@example.com", PASSWORD, role=Role.ADMIN)


def log() -> list[tuple[str, str, str | None, str]]:
    return [
        (e.action, e.actor_label, e.ip, e.object_label)
        for e in AuditEvent.objects.order_by("pk")
        if e.action.startswith(("login.", "2fa."))
    ]


def sign_in(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post("/login/", {"username": username, "password": password})


def code_for(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


@override_settings(PROXY_COUNT=1, LOGIN_MAX_FAILURES=2)
def test_failures_the_lockout_and_the_unlock_are_logged_with_the_address(boss: User) -> None:
    client = Client(HTTP_X_FORWARDED_FOR=FORWARDED)
    assert sign_in(client, "boss", "guess").status_code == 400
    assert sign_in(client, "nobody", "guess").status_code == 400
    assert sign_in(client, "boss", "guess").status_code == 429
    # Refused while locked: not logged again (the lockout is, once).
    assert sign_in(client, "boss").status_code == 429
    login_guard.unlock_account(boss, actor=None)
    assert sign_in(client, "boss").status_code == 302
    assert client.post("/logout/").status_code == 302

    ip = "203.0.113.7"  # the proxy's view of the client, never the forged left-hand entry
    assert log() == [
        ("login.failed", "web", ip, "boss"),
        ("login.failed", "web", ip, "nobody"),
        ("login.failed", "web", ip, "boss"),
        ("login.locked_out", "web", ip, "boss"),
        ("login.unlocked", "system", None, "boss"),
        ("login.succeeded", "boss", ip, "boss"),
        ("login.logged_out", "boss", ip, "boss"),
    ]
    failed = AuditEvent.objects.filter(action="login.failed")
    assert [e.object_id for e in failed] == [str(boss.pk), "", str(boss.pk)]
    locked = AuditEvent.objects.get(action="login.locked_out")
    assert locked.changes == {"what": "account", "minutes": 15}
    # The password tried is never in the log.
    assert not AuditEvent.objects.filter(changes__icontains="guess").exists()


def test_two_factor_enrol_use_disable_and_reset_are_logged(client: Client, boss: User) -> None:
    assert sign_in(client, "boss").status_code == 302
    client.get("/account/security/")
    device = TOTPDevice.objects.get(user=boss)
    assert client.post("/account/security/confirm", {"code": code_for(device)}).status_code == 200
    codes = two_factor.regenerate_recovery_codes(boss)
    client.post("/logout/")
    sign_in(client, "boss")
    assert client.post("/login/verify/", {"code": codes[0]}).status_code == 302
    response = client.post("/account/security/disable", {"password": PASSWORD})
    assert response.status_code == 302
    owner = User.objects.create_user("olivia", "o@example.com", PASSWORD, role=Role.OWNER)
    two_factor.reset_two_factor(boss, actor=owner)
    two_factor.set_two_factor_requirement(actor=owner, required=True)
    two_factor.set_two_factor_requirement(actor=owner, required=True)  # unchanged: no entry

    assert [(a, who) for a, who, _, _ in log()] == [
        ("login.succeeded", "boss"),
        ("2fa.enabled", "boss"),
        ("login.logged_out_everywhere", "boss"),  # enrolling ends the other sessions
        ("2fa.recovery_codes_renewed", "boss"),
        ("login.logged_out", "boss"),
        ("2fa.recovery_code_used", "boss"),
        ("login.succeeded", "boss"),
        ("2fa.disabled", "boss"),
        ("2fa.reset", "olivia"),
        ("2fa.requirement_changed", "olivia"),
    ]
    assert all(ip == "127.0.0.1" for a, _, ip, _ in log() if not a.startswith("2fa.re"))
    change = AuditEvent.objects.get(action="2fa.requirement_changed")
    assert change.changes == {"required": [False, True]}


def test_log_out_everywhere_is_logged(client: Client, boss: User) -> None:
    sign_in(client, "boss")
    assert client.post("/account/security/logout-everywhere").status_code == 302
    assert [a for a, *_ in log()] == [
        "login.succeeded",
        "login.logged_out_everywhere",
        "login.logged_out",
    ]
