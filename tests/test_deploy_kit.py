"""The deploy kit without containers: the image's entrypoint run here (migrate, collectstatic,
serve, a login through an HTTPS proxy), backup and restore, the compose file and the docs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation, Message
from tests.test_deploy_settings import production_env

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _entrypoint_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    env.pop("DATABASE_URL", None)  # a fresh SQLite database in the data directory
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the browser tests' fixture sets it
    env.update(production_env(tmp_path))
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT / "src"),
        PYTHONUNBUFFERED="1",
        COMPTOIR_DATA_DIR=str(tmp_path / "data"),
        COMPTOIR_HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        COMPTOIR_ACCESS_LOG="info",  # uvicorn then says when it listens
        COMPTOIR_LOG_FORMAT="plain",
    )
    return env


@pytest.fixture
def fresh_database_url() -> Iterator[str]:
    """On a PostgreSQL run, an empty database of its own (the entrypoint migrates it from
    nothing, as on a first start); on SQLite, none: a new file in the data directory."""
    conf = settings.DATABASES["default"]
    if conf["ENGINE"] != "django.db.backends.postgresql":
        yield ""
        return
    import psycopg

    name = f"{conf['NAME']}_entrypoint"
    params = {"host": conf.get("HOST") or "127.0.0.1", "port": conf.get("PORT") or 5432}
    params |= {"user": conf.get("USER") or "postgres", "password": conf.get("PASSWORD") or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    auth = params["user"] + (f":{params['password']}" if params["password"] else "")
    yield f"postgres://{auth}@{params['host']}:{params['port']}/{name}"
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def served(
    tmp_path: Path, fresh_database_url: str
) -> Iterator[tuple[str, dict[str, str], list[str]]]:
    """deploy/entrypoint.sh web, as the image runs it, until uvicorn listens."""
    port = _free_port()
    env = _entrypoint_env(tmp_path, port)
    if fresh_database_url:
        env["DATABASE_URL"] = fresh_database_url
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "web"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(240, os.killpg, args=(proc.pid, signal.SIGKILL))
    watchdog.start()
    output: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if "Uvicorn running on" in line:
                break
        assert proc.poll() is None, "".join(output)
        yield f"http://127.0.0.1:{port}", env, output
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
        watchdog.cancel()


def test_the_entrypoint_migrates_collects_static_files_and_serves(
    served: tuple[str, dict[str, str], list[str]], tmp_path: Path
) -> None:
    url, env, output = served

    health = httpx.get(f"{url}/healthz", timeout=30)  # over plain HTTP: probes are exempt
    css = httpx.get(
        f"{url}/static/ninja/swagger-ui.css",
        headers={"Host": "desk.example.com", "X-Forwarded-Proto": "https"},
        timeout=30,
    )

    # The worker's path: the database answers, the web has migrated, then it works (here: the
    # tasks due now, then exit).
    worker = subprocess.run(
        ["sh", str(ENTRYPOINT), "worker", "--batch", "--no-scheduler"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert health.status_code == 200, "".join(output)
    assert health.json()["status"] == "ok"
    if env.get("DATABASE_URL"):  # migrated on the fresh PostgreSQL database
        import psycopg

        with psycopg.connect(env["DATABASE_URL"]) as pg:
            row = pg.execute("SELECT COUNT(*) FROM django_migrations").fetchone()
        assert row is not None
        assert row[0] > 20
    assert "Applying accounts.0001" in "".join(output)  # migrated on start
    assert (tmp_path / "data" / "static" / "ninja" / "swagger-ui.css").is_file()
    assert css.status_code == 200


def test_a_login_through_the_https_proxy_succeeds_on_the_served_instance(
    served: tuple[str, dict[str, str], list[str]],
) -> None:
    url, env, _ = served
    created = subprocess.run(
        ["sh", str(ENTRYPOINT), "createuser", "boss", "--role", "owner"],
        env={**env, "COMPTOIR_NEW_PASSWORD": "a-long-pass-phrase-42"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    proxy = {
        "Host": "desk.example.com",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.9",
    }
    # Cookies by hand: they are Secure, and this hop is plain HTTP (the proxy's side).
    with httpx.Client(base_url=url, timeout=30) as client:
        form = client.get("/login/", headers=proxy)
        csrf_cookie = form.cookies["csrftoken"]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token is not None
        client.cookies.clear()
        response = client.post(
            "/login/",
            data={
                "username": "boss",
                "password": "a-long-pass-phrase-42",
                "csrfmiddlewaretoken": token.group(1),
            },
            headers={
                **proxy,
                "Origin": "https://desk.example.com",
                "Referer": "https://desk.example.com/login/",
                "Cookie": f"csrftoken={csrf_cookie}",
            },
        )
        plain = client.get("/login/", headers={**proxy, "X-Forwarded-Proto": "http"})

    assert form.status_code == 200
    assert "Secure" in form.headers["set-cookie"]
    assert response.status_code == 302, response.text[:500]
    assert response.headers["location"] == "/inbox/"
    assert "sessionid=" in response.headers["set-cookie"]
    assert plain.status_code == 301
    assert plain.headers["location"].startswith("https://desk.example.com/")


def _counts() -> dict[str, int]:
    tables = connection.introspection.table_names()
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def test_a_backup_restored_gives_back_the_same_rows(
    transactional_db: None, make_inbound: Any, tmp_path: Path
) -> None:
    for n in range(3):
        ingest(make_inbound(sender={"identity_value": f"buyer{n}@example.com"}))
    before = _counts()
    backup = tmp_path / "backups" / "comptoir.backup"

    call_command("backup", str(backup))
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    assert Conversation.objects.count() == 0
    call_command("restore", str(backup), "--yes")

    assert backup.stat().st_size > 10_000
    assert before["inbox_conversation"] == 3
    assert _counts() == before


def test_restore_asks_for_confirmation(db: None, tmp_path: Path) -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--yes"):
        call_command("restore", str(tmp_path / "x"))


# -- the files that cannot run here: consistent with one another and with the docs ----------


def _documented() -> str:
    return (ROOT / "docs" / "deploy.md").read_text()


def test_the_compose_file_parses_and_runs_the_documented_services() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    docs = _documented()

    assert set(services) == {"web", "worker", "db", "redis", "caddy"}
    assert services["web"]["command"] == ["web"]
    assert services["worker"]["command"][0] == "worker"
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name in services:
        assert f"`{name}`" in docs, f"docs/deploy.md does not name the {name} service"
    for service in ("web", "worker"):
        env = services[service]["environment"]
        for variable in env:
            assert variable in docs, f"{variable} (compose.yaml) is not in docs/deploy.md"


def test_every_setting_is_documented() -> None:
    settings_source = (ROOT / "src" / "comptoir" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', settings_source))
    docs = _documented()
    example = (ROOT / ".env.example").read_text()

    assert len(read) > 30
    assert not {v for v in read if v not in docs}, "missing from docs/deploy.md"
    assert not {v for v in read if v not in example}, "missing from .env.example"


def test_the_dockerfile_builds_the_wheel_once_and_runs_as_a_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert dockerfile.count("FROM ") >= 2
    assert "-slim" in dockerfile
    assert "constraints.txt" in dockerfile
    assert re.search(r"^USER comptoir", dockerfile, re.M)
    assert "deploy/entrypoint.sh" in dockerfile
    for unit in ("comptoir-web.service", "comptoir-worker@.service"):
        text = (ROOT / "deploy" / "systemd" / unit).read_text()
        assert "User=comptoir" in text
        assert "EnvironmentFile=/etc/comptoir/comptoir.env" in text
