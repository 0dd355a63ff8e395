"""/readyz and /metrics (details for staff or the token only), JSON logs, optional Sentry."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import User
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation, InboundRecord, InboundState, Message, SLAState
from comptoir.jobs.models import PeriodicJob
from comptoir.lib.jsonlog import JSONFormatter
from tests.conftest import ago

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def token(settings: Any) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def _ready_task(queue: str = "default") -> None:
    row = DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="comptoir.inbox.tasks.poll_channels",
        backend_name="default",
        queue_name=queue,
        run_after=ago(minutes=2),
    )
    DBTaskResult.objects.filter(pk=row.pk).update(enqueued_at=ago(minutes=2))


def test_readyz_tells_anonymous_callers_the_status_only(db: None, client: Client) -> None:
    never = client.get("/readyz")
    PeriodicJob.objects.create(
        name="sla.sweep", next_run_at=timezone.now(), last_run_at=ago(seconds=5)
    )
    ticking = client.get("/readyz")

    assert never.status_code == ticking.status_code == 200
    assert never.json() == {"status": "degraded"}  # no worker ever ticked
    assert ticking.json() == {"status": "ok"}


def test_readyz_reports_the_workers_tick_and_the_backlog_to_the_token(
    db: None, client: Client, token: str, settings: Any
) -> None:
    settings.READY_MAX_TICK_SECONDS = 60
    PeriodicJob.objects.create(
        name="sla.sweep", next_run_at=timezone.now(), last_run_at=ago(seconds=90)
    )
    _ready_task()
    _ready_task()
    _ready_task("background")

    body = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    wrong = client.get("/readyz", HTTP_AUTHORIZATION="Bearer nope").json()

    assert body["status"] == "degraded"  # the last tick is older than 60 s
    assert 89 <= body["worker"]["seconds_since_tick"] <= 200
    assert body["worker"]["ok"] is False
    assert body["tasks"]["queues"] == {"default": 2, "background": 1}
    assert 119 <= body["tasks"]["oldest_wait_seconds"] <= 300
    assert wrong == {"status": "degraded"}


def test_readyz_shows_details_to_signed_in_staff(db: None, client: Client) -> None:
    admin = User.objects.create_user("root", "r@example.com", "pw", is_staff=True)
    client.force_login(admin)

    body = client.get("/readyz").json()

    assert set(body) == {"status", "database", "worker", "tasks"}


def test_readyz_hides_why_the_database_failed(
    db: None, client: Client, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.web import observability

    class Unreachable:
        vendor = "postgresql"

        def cursor(self) -> Any:
            raise RuntimeError('could not connect to "db.internal" (10.0.0.7)')

    monkeypatch.setattr(observability, "connection", Unreachable())

    response = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 503
    assert response.json() == {"status": "error"}


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_metrics_need_the_token_and_count_ingest_sends_queue_and_breaches(
    client: Client, token: str, make_inbound: Any
) -> None:
    first = ingest(make_inbound())
    ingest(make_inbound(sender={"identity_value": "other@example.com"}))
    InboundRecord.objects.create(raw=b"x", state=InboundState.FAILED)
    InboundRecord.objects.create(raw=b"x", state=InboundState.STORED, received_at=ago(hours=2))
    Message.objects.filter(pk=first.message_id).update(delivery_state="failed")
    Conversation.objects.filter(pk=first.conversation_id).update(sla_state=SLAState.BREACHED)
    _ready_task()

    hidden = client.get("/metrics")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    samples = _samples(response.content.decode())

    assert hidden.status_code == 404
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert samples['comptoir_inbound_last_hour{state="stored"}'] == 2  # not the 2-hour-old one
    assert samples['comptoir_inbound_last_hour{state="failed"}'] == 1
    assert samples["comptoir_inbound_failed"] == 1
    assert samples['comptoir_outbound_messages{state="failed"}'] == 1
    assert samples['comptoir_outbound_messages{state="queued"}'] == 0
    assert samples['comptoir_task_queue_depth{queue="default"}'] == 1
    assert samples['comptoir_sla_conversations{state="breached"}'] == 1
    assert samples["comptoir_worker_seconds_since_tick"] == -1
    assert "# TYPE comptoir_task_queue_depth gauge" in response.content.decode()


def test_metrics_are_off_for_everyone_when_no_token_is_set(db: None, client: Client) -> None:
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_a_json_log_line_holds_the_message_its_extras_and_the_exception() -> None:
    record = logging.LogRecord("comptoir.jobs", logging.ERROR, __file__, 1, "tick %s", ("x",), None)
    record.worker = "host.1"
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()

    entry = json.loads(JSONFormatter().format(record))

    assert entry["message"] == "tick x"
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "comptoir.jobs"
    assert entry["worker"] == "host.1"
    assert "ValueError: boom" in entry["exception"]


def _python(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COMPTOIR_", "SENTRY_"))}
    base.pop("DATABASE_URL", None)
    base.update(
        COMPTOIR_DATA_DIR=str(tmp_path / "data"),
        DJANGO_SETTINGS_MODULE="comptoir.settings",
        PYTHONPATH=str(ROOT / "src"),
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], env=base, capture_output=True, text=True, timeout=120
    )


def test_the_log_format_setting_makes_every_line_json(tmp_path: Path) -> None:
    code = "import django, logging; django.setup(); logging.getLogger('comptoir.x').warning('hi')"

    as_json = _python(code, {"COMPTOIR_LOG_FORMAT": "json"}, tmp_path)
    plain = _python(code, {}, tmp_path)

    assert json.loads(as_json.stderr.strip().splitlines()[-1])["message"] == "hi"
    assert "WARNING comptoir.x: hi" in plain.stderr


SENTRY_STUB = """
import json, os
def init(**kwargs):
    kwargs["integrations"] = [type(i).__name__ for i in kwargs["integrations"]]
    with open(os.environ["SENTRY_STUB_OUT"], "w") as fh:
        json.dump(kwargs, fh)
"""


def test_sentry_starts_when_a_dsn_is_set_without_personal_data(tmp_path: Path) -> None:
    stub = tmp_path / "stub" / "sentry_sdk"
    (stub / "integrations").mkdir(parents=True)
    (stub / "__init__.py").write_text(SENTRY_STUB)
    (stub / "integrations" / "__init__.py").write_text("")
    (stub / "integrations" / "django.py").write_text("class DjangoIntegration: pass\n")
    out = tmp_path / "init.json"
    env = {
        "SENTRY_DSN": "https://key@errors.example.com/1",
        "SENTRY_STUB_OUT": str(out),
        "PYTHONPATH": f"{tmp_path / 'stub'}{os.pathsep}{ROOT / 'src'}",
    }

    proc = _python("import django; django.setup()", env, tmp_path)
    without = _python("import django; django.setup()", {}, tmp_path)

    assert proc.returncode == 0, proc.stderr
    called = json.loads(out.read_text())
    assert called["dsn"] == "https://key@errors.example.com/1"
    assert called["send_default_pii"] is False
    assert called["integrations"] == ["DjangoIntegration"]
    assert without.returncode == 0
    assert out.stat().st_mtime  # written once, by the start that had a DSN


def test_a_dsn_without_sentry_installed_stops_the_start_saying_what_to_install(
    tmp_path: Path,
) -> None:
    try:
        import sentry_sdk  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("sentry-sdk is installed here")

    proc = _python(
        "import django; django.setup()", {"SENTRY_DSN": "https://k@e.example/1"}, tmp_path
    )

    assert proc.returncode == 2
    assert "comptoir[sentry]" in proc.stderr
