"""HTTPS behind a reverse proxy, configured from the environment (deploy/production.env)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from comptoir.accounts.models import User
from comptoir.lib.proxy import client_address
from comptoir.web.proxy import ForwardedForMiddleware

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = ROOT / "deploy" / "production.env"


def production_env(tmp_path: Path) -> dict[str, str]:
    """deploy/production.env as documented, its secret files written under tmp_path."""
    env: dict[str, str] = {}
    for line in PRODUCTION_ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    for name, value in list(env.items()):
        if name.endswith("_FILE"):
            secret = tmp_path / Path(value).name
            secret.write_text("s3cret-" + "x" * 60)
            env[name] = str(secret)
    return env


def _run(code: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    base.pop("DATABASE_URL", None)
    # Set by the browser tests' fixture; `check --deploy` rightly refuses it.
    base.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    base["COMPTOIR_DATA_DIR"] = str(tmp_path / "data")
    base["PYTHONPATH"] = str(ROOT / "src")
    return subprocess.run(
        [sys.executable, *code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_the_documented_production_environment(
    tmp_path: Path,
) -> None:
    proc = _run(
        ["-m", "comptoir.cli", "check", "--deploy", "--fail-level", "WARNING"],
        production_env(tmp_path),
        tmp_path,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout
    assert not re.search(r"\b(ERROR|WARNING)S?:", proc.stdout + proc.stderr)


def test_check_deploy_without_that_environment_names_what_is_missing(tmp_path: Path) -> None:
    # The same check fails on a development start: the test above proves something.
    proc = _run(
        ["-m", "comptoir.cli", "check", "--deploy", "--fail-level", "WARNING"], {}, tmp_path
    )

    assert proc.returncode != 0
    assert "SECURE_HSTS_SECONDS" in proc.stderr + proc.stdout


_PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({n: getattr(s, n, None) for n in (
    "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "PROXY_COUNT")}))
"""


def _settings(env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    proc = _run(
        ["-c", _PRINT_SETTINGS], {"DJANGO_SETTINGS_MODULE": "comptoir.settings", **env}, tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_the_site_url_gives_the_allowed_host_and_the_trusted_origin(tmp_path: Path) -> None:
    values = _settings(production_env(tmp_path), tmp_path)

    assert "desk.example.com" in values["ALLOWED_HOSTS"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://desk.example.com"]
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is values["SECURE_HSTS_PRELOAD"] is True
    assert values["PROXY_COUNT"] == 1


def test_a_plain_http_start_trusts_no_proxy_and_keeps_cookies_usable(tmp_path: Path) -> None:
    values = _settings({"COMPTOIR_SITE_URL": "http://10.0.0.5:8000"}, tmp_path)

    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["CSRF_TRUSTED_ORIGINS"] == ["http://10.0.0.5:8000"]
    assert "10.0.0.5" in values["ALLOWED_HOSTS"]


def test_extra_trusted_origins_and_a_bad_site_url(tmp_path: Path) -> None:
    values = _settings(
        {
            "COMPTOIR_SITE_URL": "https://desk.example.com/",
            "COMPTOIR_CSRF_TRUSTED_ORIGINS": "https://help.example.com,https://*.example.org",
        },
        tmp_path,
    )
    bad = _run(["-m", "comptoir.cli", "check"], {"COMPTOIR_SITE_URL": "desk.example.com"}, tmp_path)

    assert values["CSRF_TRUSTED_ORIGINS"] == [
        "https://desk.example.com",
        "https://help.example.com",
        "https://*.example.org",
    ]
    assert bad.returncode == 2
    assert "COMPTOIR_SITE_URL" in bad.stderr


@pytest.fixture
def behind_proxy(settings: Any) -> None:
    """What deploy/production.env sets, as the settings module derives it."""
    settings.ALLOWED_HOSTS = ["desk.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://desk.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.PROXY_COUNT = 1


PROXY_HEADERS = {
    "HTTP_HOST": "desk.example.com",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_FOR": "203.0.113.9",
    "HTTP_ORIGIN": "https://desk.example.com",
    "HTTP_REFERER": "https://desk.example.com/login/",
}


def test_a_login_post_behind_an_https_proxy_is_accepted(behind_proxy: None, agent: User) -> None:
    client = Client(enforce_csrf_checks=True)
    form = client.get("/login/", **PROXY_HEADERS)  # type: ignore[arg-type]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode())
    assert form.status_code == 200
    assert token is not None
    assert form.cookies["csrftoken"]["secure"]
    assert form.headers["Strict-Transport-Security"].startswith("max-age=31536000")

    response = client.post(
        "/login/",
        {"username": "marie", "password": "pw", "csrfmiddlewaretoken": token.group(1)},
        **PROXY_HEADERS,  # type: ignore[arg-type]
    )

    assert response.status_code == 302, response.content[:300]
    assert response["Location"] == "/inbox/"
    assert response.cookies["sessionid"]["secure"]


def test_a_post_from_another_origin_is_still_refused(behind_proxy: None, agent: User) -> None:
    client = Client(enforce_csrf_checks=True)
    form = client.get("/login/", **PROXY_HEADERS)  # type: ignore[arg-type]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode())
    assert token is not None

    response = client.post(
        "/login/",
        {"username": "marie", "password": "pw", "csrfmiddlewaretoken": token.group(1)},
        **{**PROXY_HEADERS, "HTTP_ORIGIN": "https://evil.example.net"},  # type: ignore[arg-type]
    )

    assert response.status_code == 403


def test_plain_http_through_the_proxy_is_redirected_but_probes_are_not(
    behind_proxy: None, db: None
) -> None:
    client = Client()
    plain = {**PROXY_HEADERS, "HTTP_X_FORWARDED_PROTO": "http"}

    assert client.get("/login/", **plain).status_code == 301  # type: ignore[arg-type]
    assert client.get("/healthz", **plain).status_code == 200  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("remote", "forwarded", "count", "expected"),
    [
        ("10.0.0.2", "203.0.113.9", 1, "203.0.113.9"),
        # The client forged an entry; our one proxy appended the real address.
        ("10.0.0.2", "1.2.3.4, 203.0.113.9", 1, "203.0.113.9"),
        ("10.0.0.3", "203.0.113.9, 10.0.0.2", 2, "203.0.113.9"),
        # Shorter than the proxies we have: it skipped one, trust nothing.
        ("10.0.0.3", "203.0.113.9", 2, "10.0.0.3"),
        ("10.0.0.2", "not-an-ip", 1, "10.0.0.2"),
        ("10.0.0.2", "203.0.113.9", 0, "10.0.0.2"),
    ],
)
def test_the_client_address_is_read_that_many_proxies_from_the_right(
    remote: str, forwarded: str, count: int, expected: str
) -> None:
    assert client_address(remote, forwarded, count) == expected


def test_the_middleware_gives_the_views_the_clients_address(settings: Any) -> None:
    settings.PROXY_COUNT = 1
    seen: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request.META["REMOTE_ADDR"])
        return HttpResponse()

    middleware = ForwardedForMiddleware(view)
    middleware(RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4"))

    assert seen == ["1.2.3.4"]
