"""Two-factor sign-in, login throttling and lockout, session expiry and "log out everywhere",
through the pages as a browser would use them (the test client), in English and French."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from comptoir.accounts import login_guard, two_factor
from comptoir.accounts.models import APIToken, LoginFailure, RecoveryCode, Role, User

PASSWORD = "a-long-pass-phrase-42"
CODE = re.compile(r"<code>([A-Z2-9]{5}-[A-Z2-9]{5})</code>")


def code_for(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code the app would show `steps_ahead` time steps from now (a code is accepted once,
    and one step either side)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def boss(db: None) -> User:
    return User.objects.create_user("boss", "boss@example.com", PASSWORD, role=Role.ADMIN)


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("owner", "owner@example.com", PASSWORD, role=Role.OWNER)


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post("/login/", {"username": username, "password": password}, **extra)


def enrol(client: Client, user: User) -> list[str]:
    """Sign in and turn two-factor sign-in on through the pages; the recovery codes shown."""
    assert sign_in(client, user.username).status_code == 302
    page = client.get("/account/security/").content.decode()
    assert "<svg" in page
    assert 'class="segno"' in page
    device = TOTPDevice.objects.get(user=user)
    response = client.post("/account/security/confirm", {"code": code_for(device)})
    assert response.status_code == 200
    return CODE.findall(response.content.decode())


def test_enrolment_then_a_sign_in_needs_the_code_from_the_app(client: Client, boss: User) -> None:
    codes = enrol(client, boss)
    assert len(codes) == 10
    # Hashed at rest: no code is stored as it was shown.
    stored = set(RecoveryCode.objects.values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not stored & {c.replace("-", "") for c in codes}
    assert not stored & set(codes)

    client.post("/logout/")
    response = sign_in(client, "boss")
    assert response.status_code == 302
    assert response["Location"] == "/login/verify/"
    # The password alone opened nothing.
    assert client.get("/inbox/").status_code == 302
    wrong = client.post("/login/verify/", {"code": "000000"})
    assert wrong.status_code == 400
    assert b"This code is not valid" in wrong.content

    device = TOTPDevice.objects.get(user=boss)
    device.throttling_failure_count = 0  # django-otp's own back-off after the wrong code
    device.save()
    # One code, kept: computed again, it could fall in the next time step and be another.
    code = code_for(device, 1)
    done = client.post("/login/verify/", {"code": code})
    assert done.status_code == 302
    assert done["Location"] == "/inbox/"
    assert client.get("/inbox/").status_code == 200
    # A code is good once: replayed, it fails.
    client.post("/logout/")
    sign_in(client, "boss")
    assert client.post("/login/verify/", {"code": code}).status_code == 400


def test_a_recovery_code_signs_in_once(client: Client, boss: User) -> None:
    codes = enrol(client, boss)
    client.post("/logout/")
    sign_in(client, "boss")
    # Typed in lower case with spaces: still the code.
    typed = codes[3].lower().replace("-", " ")
    assert client.post("/login/verify/", {"code": typed})["Location"] == "/inbox/"
    assert two_factor.remaining_recovery_codes(boss) == 9

    client.post("/logout/")
    sign_in(client, "boss")
    again = client.post("/login/verify/", {"code": codes[3]})
    assert again.status_code == 400
    assert client.get("/inbox/").status_code == 302

    # New codes replace the old ones, which stop working.
    client.post("/login/verify/", {"code": codes[4]})
    fresh = CODE.findall(client.post("/account/security/recovery-codes").content.decode())
    assert len(fresh) == 10
    assert two_factor.verify_second_factor(boss, codes[5]) is None
    assert two_factor.verify_second_factor(boss, fresh[0]) == "recovery"


@override_settings(LOGIN_MAX_FAILURES=3, LOGIN_IP_MAX_FAILURES=50)
def test_the_account_locks_after_n_failures_even_for_the_right_password(
    client: Client, boss: User
) -> None:
    for _ in range(2):
        assert sign_in(client, "boss", "guess").status_code == 400
    third = sign_in(client, "BOSS", "guess")  # another case is the same account
    assert third.status_code == 429
    assert b"This account is locked after too many failed sign-ins" in third.content

    right = sign_in(client, "boss")
    assert right.status_code == 429
    assert b"Try again in 15 minutes" in right.content
    assert client.get("/inbox/").status_code == 302
    # A locked attempt is not counted again: the lock lifts when the window has passed.
    assert LoginFailure.objects.count() == 3
    LoginFailure.objects.update(created_at=timezone.now() - timedelta(minutes=16))
    assert sign_in(client, "boss")["Location"] == "/inbox/"
    assert not LoginFailure.objects.filter(username="boss").exists()


@override_settings(LOGIN_MAX_FAILURES=2, LOGIN_IP_MAX_FAILURES=50)
def test_wrong_codes_at_the_second_step_lock_the_account_too(client: Client, boss: User) -> None:
    enrol(client, boss)
    client.post("/logout/")
    sign_in(client, "boss")
    assert client.post("/login/verify/", {"code": "111111"}).status_code == 400
    locked = client.post("/login/verify/", {"code": "222222"})
    assert locked.status_code == 429
    assert b"This account is locked" in locked.content
    # Back to the password, which is refused while locked.
    assert client.get("/login/verify/")["Location"].startswith("/login/")
    assert sign_in(client, "boss").status_code == 429


@override_settings(LOGIN_IP_MAX_FAILURES=4, LOGIN_MAX_FAILURES=10, PROXY_COUNT=1)
def test_an_address_is_throttled_across_usernames_behind_the_proxy(boss: User) -> None:
    attacker = Client(HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7")
    for name in ("alice", "bob", "carol", "dave"):
        sign_in(attacker, name, "guess")
    refused = sign_in(attacker, "boss")
    assert refused.status_code == 429
    assert b"Too many failed sign-ins from your network" in refused.content
    # The forged left-hand entry does not change who is counted...
    forged = Client(HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7")
    assert sign_in(forged, "boss").status_code == 429
    # ...and someone else, behind the same proxy, signs in.
    other = Client(HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert sign_in(other, "boss")["Location"] == "/inbox/"


def test_an_ipv6_address_is_counted_by_its_64() -> None:
    assert login_guard.network_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert login_guard.network_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert login_guard.network_of("::ffff:203.0.113.7") == "203.0.113.7"
    assert login_guard.network_of("203.0.113.7") == "203.0.113.7"


def test_an_idle_session_expires_and_says_so(client: Client, boss: User) -> None:
    sign_in(client, "boss")
    assert client.get("/inbox/").status_code == 200
    session = client.session
    session[login_guard.SEEN_AT] -= settings.SESSION_IDLE_MINUTES * 60 + 5
    session.save()
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?why=expired"
    assert b"Your session expired" in client.get(response["Location"]).content
    assert client.get("/inbox/").status_code == 302  # and it stays ended


def test_a_session_ends_at_its_absolute_limit_even_when_used(client: Client, boss: User) -> None:
    sign_in(client, "boss")
    session = client.session
    session[login_guard.LOGIN_AT] -= settings.SESSION_DAYS * 86400 + 5
    session.save()
    assert client.get("/inbox/")["Location"] == "/login/?why=expired"
    # htmx is told to load the login page rather than swap it into a fragment.
    sign_in(client, "boss")
    session = client.session
    session[login_guard.LOGIN_AT] -= settings.SESSION_DAYS * 86400 + 5
    session.save()
    fragment = client.get("/inbox/", headers={"HX-Request": "true"})
    assert fragment.status_code == 204
    assert fragment["HX-Redirect"] == "/login/?why=expired"


def test_log_out_everywhere_ends_every_session_and_keeps_api_tokens(boss: User) -> None:
    laptop, phone = Client(), Client()
    sign_in(laptop, "boss")
    sign_in(phone, "boss")
    _, raw = APIToken.issue(boss, "ERP sync")
    page = laptop.get("/account/security/").content.decode()
    assert "API tokens stay as they are" in page

    response = laptop.post("/account/security/logout-everywhere")
    assert response["Location"] == "/login/?why=everywhere"
    assert laptop.get("/inbox/").status_code == 302
    assert phone.get("/inbox/").status_code == 302
    # Nothing else changed: the token still works, the password still signs in.
    api = Client().get("/api/v1/conversations", headers={"Authorization": f"Bearer {raw}"})
    assert api.status_code == 200
    assert sign_in(phone, "boss")["Location"] == "/inbox/"
    assert phone.get("/inbox/").status_code == 200


def test_a_session_opened_by_another_door_owes_the_second_step(client: Client, boss: User) -> None:
    enrol(client, boss)
    boss.refresh_from_db()  # enrolling ended the other sessions (a new generation)
    other = Client()
    other.force_login(boss)  # as the admin site's own form would
    response = other.get("/inbox/")
    assert response["Location"] == "/login/?why=second-step"
    assert other.get("/inbox/").status_code == 302
    assert Client().get("/admin/login/?next=/admin/")["Location"] == "/login/?next=/admin/"


def test_sessions_from_before_the_generation_field_stay_valid(boss: User) -> None:
    from django.contrib.auth.base_user import AbstractBaseUser

    assert boss.get_session_auth_hash() == AbstractBaseUser.get_session_auth_hash(boss)
    login_guard.log_out_everywhere(boss)
    assert boss.get_session_auth_hash() != AbstractBaseUser.get_session_auth_hash(boss)
