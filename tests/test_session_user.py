"""Each request's session and user, read by compiled statements (`comptoir.web.auth`): the
same answers as Django's own reads, for a session that is valid, expired, tampered with, of a
user since deactivated or whose password has changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.utils import timezone

from comptoir.accounts.models import User


@pytest.fixture
def signed_in(agent: User) -> Client:
    client = Client()
    assert client.login(username="marie", password="pw")
    return client


def _signed_in(client: Client) -> bool:
    """The inbox answers (200) rather than sending to the login page."""
    response = client.get("/inbox/")
    return response.status_code == 200


@pytest.mark.django_db
def test_the_engine_and_middleware_in_use_are_the_compiled_ones() -> None:
    assert settings.SESSION_ENGINE == "comptoir.web.auth"
    assert "comptoir.web.auth.AuthenticationMiddleware" in settings.MIDDLEWARE
    assert "django.contrib.auth.middleware.AuthenticationMiddleware" not in settings.MIDDLEWARE


def test_a_valid_session_signs_its_user_in(signed_in: Client, agent: User) -> None:
    response = signed_in.get("/inbox/")
    assert response.status_code == 200
    assert response.wsgi_request.user.pk == agent.pk


def test_an_expired_session_signs_no_one_in(signed_in: Client) -> None:
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert not _signed_in(signed_in)


def test_an_unknown_session_key_signs_no_one_in(signed_in: Client) -> None:
    signed_in.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    assert not _signed_in(signed_in)
    signed_in.cookies[settings.SESSION_COOKIE_NAME] = "bad"  # too short: not even looked up
    assert not _signed_in(signed_in)


def test_a_deactivated_user_is_signed_out(signed_in: Client, agent: User) -> None:
    assert _signed_in(signed_in)
    User.objects.filter(pk=agent.pk).update(is_active=False)
    assert not _signed_in(signed_in)


def test_a_changed_password_ends_the_other_sessions(signed_in: Client, agent: User) -> None:
    assert _signed_in(signed_in)
    agent.set_password("another one")
    agent.save()
    assert not _signed_in(signed_in)
    # The session is flushed, as Django's get_user does: gone from the table.
    assert not Session.objects.exists()


def test_a_deleted_user_signs_no_one_in(signed_in: Client, agent: User) -> None:
    User.objects.filter(pk=agent.pk).delete()
    assert not _signed_in(signed_in)


def test_sessions_in_a_shared_cache_sign_in_the_same(agent: User) -> None:
    """Several hosts read sessions from Redis (`cached_db`): the user is read the same way."""
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.cached_db"):
        client = Client()
        assert client.login(username="marie", password="pw")
        assert _signed_in(client)
        agent.set_password("another one")
        agent.save()
        assert not _signed_in(client)
