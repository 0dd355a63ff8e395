"""Every request's session and signed-in user, each read by one query compiled once per process
(`inbox.prepared`): Django built both queries' SQL at every request, 0.8 ms of a page's CPU.

`SessionStore` (SESSION_ENGINE "comptoir.web.auth", sessions in the database as Django's `db`
engine stores them) and `AuthenticationMiddleware` (in place of Django's: the user signed in by
the model backend, the session's hash checked as `django.contrib.auth.get_user` does; any other
backend goes through Django's own function)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import (  # type: ignore[attr-defined]  # Django's own helper
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    _get_user_session_key,
)
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthentication
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.contrib.sessions.models import Session
from django.db import connections, router
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

from comptoir.accounts.models import User
from comptoir.inbox.prepared import Prepared

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _user(user: int) -> QuerySet[User]:
    return User.objects.filter(pk=user)


USER = Prepared(_user, "user")


class SessionStore(DatabaseStore):
    """Django's database sessions, read by a plain SQL statement (its key is a string, which a
    `Prepared` query does not take; the statement is built once per process)."""

    _sql: ClassVar[dict[str, str]] = {}

    def _get_session_from_db(self) -> Session | None:
        key = self.session_key  # None if malformed (Django's validation)
        if key is None:
            self._session_key = None
            return None
        db = router.db_for_read(Session)
        connection = connections[db]
        sql = self._sql.get(db)
        if sql is None:
            table = connection.ops.quote_name(Session._meta.db_table)
            sql = self._sql[db] = (
                f"SELECT session_data, expire_date FROM {table}"
                " WHERE session_key = %s AND expire_date > %s"
            )
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(sql, [key, now])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        # Only the data is read from it (`load`); the expiry as stored, unconverted.
        return Session(session_key=key, session_data=row[0], expire_date=row[1])


def get_user(request: HttpRequest) -> AbstractBaseUser | AnonymousUser:
    """`django.contrib.auth.get_user` with the model backend's user read by a prepared query."""
    session = request.session
    if session.get(BACKEND_SESSION_KEY) != MODEL_BACKEND:
        return auth.get_user(request)  # signed out, or another backend
    if MODEL_BACKEND not in settings.AUTHENTICATION_BACKENDS:
        return AnonymousUser()
    try:
        user_id = _get_user_session_key(request)
    except KeyError:
        return AnonymousUser()
    found = USER.all(user=user_id) if 0 < user_id < 2**63 else []
    # ModelBackend.get_user: an inactive user is no one.
    user: Any = found[0] if found and found[0].is_active else None
    if user is None:
        return AnonymousUser()
    # The session's hash, verified as Django does (a changed password ends other sessions).
    session_hash = session.get(HASH_SESSION_KEY)
    session_auth_hash = user.get_session_auth_hash()
    if session_hash and constant_time_compare(session_hash, session_auth_hash):
        return user  # type: ignore[no-any-return]
    if session_hash and any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    ):
        session.cycle_key()
        session[HASH_SESSION_KEY] = session_auth_hash
        return user  # type: ignore[no-any-return]
    session.flush()
    return AnonymousUser()


def _cached_user(request: HttpRequest) -> Any:
    if not hasattr(request, "_cached_user"):
        request._cached_user = get_user(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined]


class AuthenticationMiddleware(DjangoAuthentication):
    """Django's, with `request.user` from `get_user` above (`request.auser`, for async views,
    stays Django's)."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _cached_user(request))  # type: ignore[assignment]
