"""Shared fixtures: a shop with channels, and the personas (agent, supervisor, outsider...)."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError, connection, connections
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils import timezone

from comptoir.accounts.models import Role, Team, User
from comptoir.connectors.base import InboundMessage
from comptoir.connectors.chat import stream as chat_stream
from comptoir.inbox import live as inbox_live
from comptoir.inbox.models import Channel, Shop
from tests.mailservers import Dovecot, SMTPServer, dovecot_missing

# Fixtures several test files share, each module's own fixture of the same name winning.
pytest_plugins = ["tests.mirakl_support", "tests.chat_support"]

_execute_sql_flush = BaseDatabaseOperations.execute_sql_flush


def _flush_again_after_a_deadlock(self: BaseDatabaseOperations, sql_list: list[str]) -> None:
    """A transactional test's teardown truncates every table while the live server may still
    be answering a browser's last request (a presence beacon, a live stream's read): on
    PostgreSQL the two can deadlock, and the server's request or the flush is ended. The
    request's loss is harmless; a flush that lost is run again rather than failing the test
    and leaving its rows to the next one."""
    for attempt in (1, 2, 3):
        try:
            return _execute_sql_flush(self, sql_list)
        except OperationalError as exc:
            if "deadlock detected" not in str(exc) or attempt == 3:
                raise


BaseDatabaseOperations.execute_sql_flush = _flush_again_after_a_deadlock  # type: ignore[method-assign]


def _current_test() -> str:
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]


def _opener() -> str:
    """The test that opens a connection now, in at most the 63 bytes PostgreSQL keeps (the
    test id's end). From another thread than the main one: that thread's name and the test
    that started it, which a server or worker thread outlives."""
    thread = threading.current_thread()
    test = _current_test()
    if thread is threading.main_thread():
        return test[-63:]
    tag = f"[{thread.name[:28]}] "
    return tag + (getattr(thread, "started_during", "") or test)[-(63 - len(tag)) :]


def _named_by_the_test(get_params: Callable[[Any], dict[str, Any]]) -> Callable[[Any], Any]:
    """A PostgreSQL session opened during a test carries the test's name (application_name,
    which pg_stat_activity shows): a session left open names who opened it (see
    `django_db_setup` below). A connection parameter: no query more."""

    def params(self: Any) -> dict[str, Any]:
        found = get_params(self)
        if _current_test():
            found["application_name"] = _opener()
        return found

    return params


def _noting_the_test(start: Callable[[threading.Thread], None]) -> Callable[..., None]:
    def noted(self: threading.Thread) -> None:
        self.started_during = _current_test()  # type: ignore[attr-defined]
        start(self)

    return noted


if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    from django.db.backends.postgresql.base import DatabaseWrapper as _Postgres

    _Postgres.get_connection_params = _named_by_the_test(_Postgres.get_connection_params)  # type: ignore[method-assign]
    threading.Thread.start = _noting_the_test(threading.Thread.start)  # type: ignore[method-assign]

# The marketplace simulators and the tests' webhook receivers listen on 127.0.0.1: outbound
# requests may go there (child processes inherit the variable). tests/test_ssrf.py turns it
# off to check the refusals.
os.environ["COMPTOIR_OUTBOUND_ALLOW_PRIVATE"] = "true"
settings.OUTBOUND_ALLOW_PRIVATE = True

REQUIRE_SERVICES = os.environ.get("COMPTOIR_REQUIRE_SERVICES") == "1"
# CI has the marketplaces' specs: there a missing spec is a failure, not a skip.
REQUIRE_SPECS = REQUIRE_SERVICES or os.environ.get("CI", "").lower() == "true"
SPECS_SKIP = "contract check skipped"


def require_or_skip(available: bool, what: str) -> None:
    """Skip locally when a server is missing; in CI (COMPTOIR_REQUIRE_SERVICES=1) fail."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} is not available on this machine")


def require_specs(*relative: str) -> None:
    """Skip a contract check when the marketplaces' specs are not on this machine (a clone on its
    own has none: they are read from COMPTOIR_SPECS_DIR or ../shared/specs); in CI, fail."""
    from comptoir.connectors import contract

    missing = [name for name in relative if not (contract.specs_dir() / name).is_file()]
    if not missing:
        return
    where = contract.specs_dir() / missing[0]
    if REQUIRE_SPECS:
        pytest.fail(f"the marketplace spec {where} is required in CI but is missing")
    pytest.skip(f"{SPECS_SKIP}: {where} is not on this machine")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line, even under -q and xdist (the skip reports reach the controller), when the
    contract checks were skipped for want of the specs."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple) and SPECS_SKIP in str(report.longrepr[2])
    ]
    if skipped:
        from comptoir.connectors import contract

        terminalreporter.write_line(
            f"{len(skipped)} contract checks skipped: the marketplace specs are not in "
            f"{contract.specs_dir()} (set COMPTOIR_SPECS_DIR to where they are)",
            yellow=True,
        )


@pytest.fixture(scope="session")
def django_db_setup(
    django_db_setup: None, django_db_blocker: Any, request: pytest.FixtureRequest
) -> Iterator[None]:
    """pytest-django's, plus a check just before it drops the test database: on PostgreSQL a
    session some test left open makes the drop fail ("being accessed by other users"), and
    the warning names only the database. This one names the session: the test that opened it
    (its application_name, see `_named_by_the_test`) and its last query. A warning, never a
    failure (one query per worker)."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, state, backend_start, state_change, query "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        others = cursor.fetchall()
    for pid, app, state, started, changed, query in others:
        request.node.warn(
            pytest.PytestWarning(
                f"a session left open on the test database: pid {pid}, application "
                f"{app!r}, {state} since {changed}, started {started}, last query: {query}"
            )
        )


class _StreamClock:
    """The live streams' clock in this process: real time, moved a day on when a test that
    used the live server ends. A closed page's stream is noticed by its server thread only
    at a write (up to 30 s); until then it read the database every second, during the next
    tests and the test database's drop. Moved on, it ends at its next check (its thread's
    connection closed with the request). Streams read the clock they started with."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


_STREAM_CLOCK = _StreamClock()
inbox_live.monotonic = _STREAM_CLOCK.monotonic
chat_stream.monotonic = _STREAM_CLOCK.monotonic


@pytest.fixture(autouse=True)
def _streams_end_with_their_test(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "live_server" in request.fixturenames:
        _STREAM_CLOCK.offset += 86_400.0


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test ends in the default language: a request in French leaves French active in the
    thread, and a later test's command output would come out in French."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache: cached choices and counts are keyed by ids that the
    next test's fresh database hands out again."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Connector retries and Retry-After waits are recorded, never slept."""
    from comptoir.lib import http

    recorded: list[float] = []
    monkeypatch.setattr(http, "sleep", recorded.append)
    return recorded


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL-only test: runs in the PostgreSQL pass of `make test`")


@pytest.fixture
def shop(db: None) -> Shop:
    return Shop.objects.create(name="Maison Lumière", slug="maison-lumiere")


@pytest.fixture
def team(db: None) -> Team:
    return Team.objects.create(name="Marketplaces")


@pytest.fixture
def other_team(db: None) -> Team:
    return Team.objects.create(name="Own shop")


@pytest.fixture
def channel(shop: Shop, team: Team) -> Channel:
    return Channel.objects.create(
        shop=shop, kind="api", marketplace="amazon", name="Amazon FR (API)", team=team
    )


@pytest.fixture
def agent(team: Team) -> User:
    user = User.objects.create_user("marie", "marie@example.com", "pw", role=Role.AGENT)
    user.first_name = "Marie"
    user.save()
    team.members.add(user)
    return user


@pytest.fixture
def supervisor(team: Team) -> User:
    user = User.objects.create_user("paul", "paul@example.com", "pw", role=Role.SUPERVISOR)
    team.members.add(user)
    return user


@pytest.fixture
def outsider(other_team: Team) -> User:
    user = User.objects.create_user("olga", "olga@example.com", "pw", role=Role.AGENT)
    other_team.members.add(user)
    return user


@pytest.fixture
def analyst(db: None) -> User:
    return User.objects.create_user("ana", "ana@example.com", "pw", role=Role.ANALYST)


_ids = itertools.count(1)


@pytest.fixture
def make_inbound(channel: Channel) -> Callable[..., InboundMessage]:
    """Build a valid InboundMessage for `channel`; keywords override any field."""

    def build(**overrides: Any) -> InboundMessage:
        n = next(_ids)
        data: dict[str, Any] = {
            "channel_id": channel.pk,
            "external_id": f"ext-{n}",
            "sender": {
                "identity_kind": "email",
                "identity_value": "buyer@example.com",
                "email": "buyer@example.com",
                "name": "Jeanne Martin",
            },
            "subject": "Où est ma commande ?",
            "text": "Bonjour, je n'ai pas reçu ma commande.",
            "sent_at": timezone.now() - timedelta(minutes=5),
        }
        data.update(overrides)
        return InboundMessage.model_validate(data)

    return build


def ago(**kwargs: float) -> datetime:
    return timezone.now() - timedelta(**kwargs)


def database_url_for_subprocess() -> str:
    """A DATABASE_URL pointing child processes at this test's database."""
    conf = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{conf['NAME']}"
    user = conf.get("USER") or ""
    password = f":{conf['PASSWORD']}" if conf.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = f"{conf.get('HOST') or '127.0.0.1'}:{conf.get('PORT') or 5432}"
    return f"postgres://{auth}{host}/{conf['NAME']}"


@pytest.fixture
def subprocess_env(transactional_db: None) -> dict[str, str]:
    """Environment for `comptoir` child processes sharing the test database (data committed)."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url_for_subprocess()
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return env


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A real IMAP server for this test process (see tests/mailservers.py)."""
    why = dovecot_missing()
    require_or_skip(not why, why or "dovecot")
    # Not under pytest's temporary directory: its 0700 parents keep the dovecot user out.
    tmp = Path(tempfile.mkdtemp(prefix="comptoir-dovecot-"))
    server = Dovecot(tmp)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server for this test process; tests clear `received` and `refuse`."""
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


_mailboxes = itertools.count()


@pytest.fixture
def mailbox(dovecot: Dovecot) -> str:
    # Every test gets its own IMAP user, hence its own empty mailbox on the shared server.
    return f"shop{next(_mailboxes)}-{timezone.now().timestamp():.0f}"


@pytest.fixture
def email_channel(shop: Shop, team: Team, dovecot: Dovecot, mailbox: str) -> Channel:
    channel = Channel(shop=shop, kind="email", marketplace="shop", name="Shop mailbox", team=team)
    channel.set_settings(
        {
            "imap_host": dovecot.host,
            "imap_port": dovecot.port,
            "imap_security": "none",
            "username": mailbox,
            "password": "secret",
        }
    )
    channel.save()
    return channel


# -- the browser (Debian's chromium driven by Playwright), shared by every browser test -------
# In conftest, not in a test module: a session fixture imported into a second module would be a
# second instance, and a second Playwright in the same worker refuses to start.

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One chromium for the whole run: starting it costs a second."""
    require_or_skip(CHROMIUM.exists(), "chromium (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the tests' own database calls
    # (and the test database's set-up) are still plain synchronous ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            yield launched
            # While Playwright's loop runs in this thread, Django's connections of the thread
            # are kept per asyncio context (asgiref's thread-critical Local), apart from the
            # ones before: the tests since the browser started used a second connection, which
            # nothing closes once the loop is gone. Left open, it kept the test database from
            # being dropped, named by whichever test last reopened it.
            connections.close_all()
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(locale="en-GB")
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    opened.csp_errors = []  # type: ignore[attr-defined]
    opened.on(
        "console",
        lambda msg: "Content Security Policy" in msg.text and opened.csp_errors.append(msg.text),
    )
    yield opened
    close_quietly(context)


def close_quietly(context: Any) -> None:
    """Closing fires the pages' last requests (the "left" presence beacon, a stream reconnect):
    refused here, they cannot reach the server while the test's database is flushed (on
    PostgreSQL that flush deadlocked with a late presence write)."""
    context.route("**/*", lambda route: route.abort())
    context.close()
