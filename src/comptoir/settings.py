"""Comptoir settings: everything comes from the environment (see .env.example).

Bad values stop the start with a message naming the variable.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.utils.csp import CSP

from comptoir.lib import hosting
from comptoir.lib.env import (
    EnvError,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent


def _fail(message: str) -> None:
    sys.stderr.write(f"comptoir: configuration error: {message}\n")
    raise SystemExit(2)


try:
    DATA_DIR = Path(env_str("COMPTOIR_DATA_DIR", str(PROJECT_DIR / "var"))).resolve()
    DEBUG = env_bool("COMPTOIR_DEBUG", False)
    ALLOWED_HOSTS = env_list("COMPTOIR_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    SITE_URL = env_str("COMPTOIR_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
    # Behind a reverse proxy (Caddy, nginx, a load balancer): how many proxies stand between
    # the browser and Comptoir. With 1 or more, the scheme comes from X-Forwarded-Proto and the
    # client's address from X-Forwarded-For (the entry that many hops from the right, which
    # our own proxies wrote: anything left of it the client may have forged).
    PROXY_COUNT = env_int("COMPTOIR_PROXY_COUNT", 0, minimum=0, maximum=10)
    PROXY_SSL_HEADER = env_bool("COMPTOIR_PROXY_SSL_HEADER", PROXY_COUNT > 0)
    # Secure cookies by default whenever the site is served over HTTPS.
    _HTTPS_SITE = SITE_URL.startswith("https://")
    SECURE_COOKIES = env_bool("COMPTOIR_SECURE_COOKIES", _HTTPS_SITE)
    SSL_REDIRECT = env_bool("COMPTOIR_SSL_REDIRECT", False)
    # HSTS is off until set: once a browser has seen it, the site cannot go back to HTTP for
    # that long (start with an hour, then a year: 31536000).
    HSTS_SECONDS = env_int("COMPTOIR_HSTS_SECONDS", 0, minimum=0)
    HSTS_INCLUDE_SUBDOMAINS = env_bool("COMPTOIR_HSTS_INCLUDE_SUBDOMAINS", False)
    HSTS_PRELOAD = env_bool("COMPTOIR_HSTS_PRELOAD", False)
    _EXTRA_ORIGINS = env_list("COMPTOIR_CSRF_TRUSTED_ORIGINS", "")
    TASKS_BACKEND = env_choice("COMPTOIR_TASKS_BACKEND", "db", ("db", "rq", "immediate"))
    REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
    MAX_ATTACHMENT_BYTES = env_int("COMPTOIR_MAX_ATTACHMENT_BYTES", 25 * 1024 * 1024, minimum=1024)
    MAX_MESSAGE_CHARS = env_int("COMPTOIR_MAX_MESSAGE_CHARS", 1_000_000, minimum=1000)
    # The largest body `POST /api/v1/inbound` keeps (a message and its base64 attachments);
    # beyond it, 413 and nothing kept. Django's own 2.5 MB cap still guards every other form.
    INBOUND_MAX_BYTES = env_int("COMPTOIR_INBOUND_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
    INBOUND_RETENTION_DAYS = env_int("COMPTOIR_INBOUND_RETENTION_DAYS", 30, minimum=1)
    DELETED_RETENTION_DAYS = env_int("COMPTOIR_DELETED_RETENTION_DAYS", 30, minimum=0)
    # Housekeeping (jobs.housekeeping, hourly): finished task results (about 14,000 a day with
    # six channels), failed ones kept longer to be looked at, and the periodic jobs' history.
    TASK_RESULT_RETENTION_DAYS = env_int("COMPTOIR_TASK_RESULT_RETENTION_DAYS", 7, minimum=1)
    FAILED_TASK_RETENTION_DAYS = env_int("COMPTOIR_FAILED_TASK_RETENTION_DAYS", 30, minimum=1)
    JOB_RUN_RETENTION_DAYS = env_int("COMPTOIR_JOB_RUN_RETENTION_DAYS", 30, minimum=1)
    # A session lasts this long after sign-in; expired ones are deleted by housekeeping.
    SESSION_DAYS = env_int("COMPTOIR_SESSION_DAYS", 14, minimum=1)
    # A session unused for this long ends (0: only the absolute limit above).
    SESSION_IDLE_MINUTES = env_int("COMPTOIR_SESSION_IDLE_MINUTES", 480, minimum=0)
    # Two-factor sign-in required of owners and admins: the default until an admin sets it on
    # the Security settings page (stored in the database, which then wins).
    REQUIRE_2FA = env_bool("COMPTOIR_REQUIRE_2FA", False)
    # Failed logins: an account is locked after this many within the window, an address (an
    # IPv6 /64) throttled after that many, both until the window has passed.
    LOGIN_MAX_FAILURES = env_int("COMPTOIR_LOGIN_MAX_FAILURES", 5, minimum=1)
    LOGIN_IP_MAX_FAILURES = env_int("COMPTOIR_LOGIN_IP_MAX_FAILURES", 20, minimum=1)
    LOGIN_LOCKOUT_MINUTES = env_int("COMPTOIR_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
    # Requests per minute (0: no limit) on the API per token and per address, and on the
    # public pages (survey, public FAQ) per address; past it, 429 (web.ratelimit).
    RATE_LIMIT_API_TOKEN = env_int("COMPTOIR_RATE_LIMIT_API_TOKEN", 600, minimum=0)
    RATE_LIMIT_API_IP = env_int("COMPTOIR_RATE_LIMIT_API_IP", 1200, minimum=0)
    RATE_LIMIT_PUBLIC_IP = env_int("COMPTOIR_RATE_LIMIT_PUBLIC_IP", 120, minimum=0)
    # The live chat widget's endpoints (/chat/), per visitor address and per shop key.
    RATE_LIMIT_CHAT_IP = env_int("COMPTOIR_RATE_LIMIT_CHAT_IP", 120, minimum=0)
    RATE_LIMIT_CHAT_KEY = env_int("COMPTOIR_RATE_LIMIT_CHAT_KEY", 3000, minimum=0)
    # Rules: at most one automatic reply per customer in this many hours (0: no limit).
    AUTO_REPLY_MIN_HOURS = env_int("COMPTOIR_AUTO_REPLY_MIN_HOURS", 24, minimum=0)
    # The FAQ list: the smallest cluster it shows unless asked (?min=1 shows single questions).
    FAQ_MIN_CLUSTER_SIZE = env_int("COMPTOIR_FAQ_MIN_CLUSTER_SIZE", 2, minimum=1)
    # An article not reviewed for this many months (of 30 days) is flagged (docs/kb.md).
    KB_REVIEW_MONTHS = env_int("COMPTOIR_KB_REVIEW_MONTHS", 6, minimum=1)
    # Proactive care (docs/care.md): a shipped parcel whose tracking has not changed for this
    # many days is at risk.
    CARE_TRACKING_STALL_DAYS = env_int(
        "COMPTOIR_CARE_TRACKING_STALL_DAYS", 4, minimum=1, maximum=60
    )
    SECRET_KEY_FROM_ENV = env_secret("COMPTOIR_SECRET_KEY")
    ENCRYPTION_KEY_FROM_ENV = env_secret("COMPTOIR_ENCRYPTION_KEY")
    # Keys for secrets at rest, comma- or newline-separated: the first encrypts, all decrypt
    # (rotation: put a new key first, run `comptoir rotate-keys`, then drop the old one).
    _ENCRYPTION_KEYS_RAW = env_secret("COMPTOIR_ENCRYPTION_KEYS") or ""
    # The audit log's entries are deleted after this many days (0: kept for ever).
    AUDIT_RETENTION_DAYS = env_int("COMPTOIR_AUDIT_RETENTION_DAYS", 365, minimum=0)
    # Conversations whose last message is older than this many days are anonymised (or
    # deleted) by the daily retention job, unless a shop sets its own (0: kept for ever).
    CONVERSATION_RETENTION_DAYS = env_int("COMPTOIR_CONVERSATION_RETENTION_DAYS", 0, minimum=0)
    CONVERSATION_RETENTION_MODE = env_choice(
        "COMPTOIR_CONVERSATION_RETENTION_MODE", "anonymise", ("anonymise", "delete")
    )
    DATABASE_URL = env_secret("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'comptoir.sqlite3'}"
    # Observability: `/metrics` and the details of `/readyz` for whoever presents this token
    # (Authorization: Bearer ...), besides signed-in staff. Unset: staff only.
    METRICS_TOKEN = env_secret("COMPTOIR_METRICS_TOKEN")
    # `/readyz` says "degraded" when no worker's scheduler ticked for this long.
    READY_MAX_TICK_SECONDS = env_int("COMPTOIR_READY_MAX_TICK_SECONDS", 300, minimum=10)
    # plain (for a terminal) or json (one object per line, for a log collector).
    LOG_FORMAT = env_choice("COMPTOIR_LOG_FORMAT", "plain", ("plain", "json"))
    # Errors to Sentry (or a compatible service) when set; needs the `sentry` extra.
    SENTRY_DSN = env_secret("SENTRY_DSN")
    SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "production")
    SENTRY_TRACES_SAMPLE_RATE = env_int("SENTRY_TRACES_PERCENT", 0, minimum=0, maximum=100) / 100
    LOG_LEVEL = env_choice(
        "COMPTOIR_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    )
    # Comptoir's own mail to its users (alerts, password resets), not the channels' mail.
    _SMTP_HOST = env_str("COMPTOIR_SMTP_HOST", "")
    _SMTP_OPTIONS = {
        "host": _SMTP_HOST,
        "port": env_int("COMPTOIR_SMTP_PORT", 587, minimum=1),
        "username": env_str("COMPTOIR_SMTP_USER", ""),
        "password": env_secret("COMPTOIR_SMTP_PASSWORD") or "",
        "use_tls": env_bool("COMPTOIR_SMTP_STARTTLS", True),
        "timeout": 30,
    }
    DEFAULT_FROM_EMAIL = env_str("COMPTOIR_EMAIL_FROM", "comptoir@localhost")
    # Without a mail server: a directory to write mail to, one file per message (the demo's
    # choice), instead of the log.
    EMAIL_DIR = env_str("COMPTOIR_EMAIL_DIR", "")
    # Past this many notifications for one user within the window, the next ones wait for the
    # digest (one mail per window).
    NOTIFY_FLOOD_LIMIT = env_int("COMPTOIR_NOTIFY_FLOOD_LIMIT", 10, minimum=1)
    NOTIFY_DIGEST_MINUTES = env_int("COMPTOIR_NOTIFY_DIGEST_MINUTES", 30, minimum=1)
    # An open case whose marketplace deadline comes within this many hours warns its assignee
    # (or the team's supervisors), once per deadline.
    CASE_DEADLINE_WARNING_HOURS = env_int("COMPTOIR_CASE_DEADLINE_WARNING_HOURS", 24, minimum=1)
    # Account health: a metric warns once it reaches this share (percent) of its marketplace's
    # threshold, before it crosses it.
    HEALTH_WARNING_PERCENT = env_int("COMPTOIR_HEALTH_WARNING_PERCENT", 80, minimum=1, maximum=99)
    # Outbound requests (marketplaces, webhooks) may reach loopback, private and link-local
    # addresses: for the simulators, the tests and the demo, or a marketplace on the seller's
    # own network. Off, such URLs are refused when saved and when connecting.
    OUTBOUND_ALLOW_PRIVATE = env_bool("COMPTOIR_OUTBOUND_ALLOW_PRIVATE", False)
    # Mailboxes by OAuth 2 (XOAUTH2 for IMAP and SMTP): the application this server registered
    # with Microsoft (Entra ID) and Google; redirect URI COMPTOIR_SITE_URL +
    # /settings/channels/oauth/callback. Endpoints and scopes default to the published ones.
    OAUTH_MICROSOFT_CLIENT_ID = env_str("COMPTOIR_OAUTH_MICROSOFT_CLIENT_ID", "")
    OAUTH_MICROSOFT_CLIENT_SECRET = env_secret("COMPTOIR_OAUTH_MICROSOFT_CLIENT_SECRET") or ""
    OAUTH_MICROSOFT_AUTHORIZE_URL = env_str(
        "COMPTOIR_OAUTH_MICROSOFT_AUTHORIZE_URL",
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    )
    OAUTH_MICROSOFT_TOKEN_URL = env_str(
        "COMPTOIR_OAUTH_MICROSOFT_TOKEN_URL",
        "https://login.microsoftonline.com/common/oauth2/v2.0/token",
    )
    OAUTH_MICROSOFT_SCOPES = env_str(
        "COMPTOIR_OAUTH_MICROSOFT_SCOPES",
        "https://outlook.office.com/IMAP.AccessAsUser.All "
        "https://outlook.office.com/SMTP.Send offline_access",
    )
    OAUTH_GOOGLE_CLIENT_ID = env_str("COMPTOIR_OAUTH_GOOGLE_CLIENT_ID", "")
    OAUTH_GOOGLE_CLIENT_SECRET = env_secret("COMPTOIR_OAUTH_GOOGLE_CLIENT_SECRET") or ""
    OAUTH_GOOGLE_AUTHORIZE_URL = env_str(
        "COMPTOIR_OAUTH_GOOGLE_AUTHORIZE_URL", "https://accounts.google.com/o/oauth2/v2/auth"
    )
    OAUTH_GOOGLE_TOKEN_URL = env_str(
        "COMPTOIR_OAUTH_GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token"
    )
    OAUTH_GOOGLE_SCOPES = env_str("COMPTOIR_OAUTH_GOOGLE_SCOPES", "https://mail.google.com/")
except EnvError as exc:
    _fail(str(exc))


def _site_origin(url: str) -> tuple[str, str]:
    """COMPTOIR_SITE_URL's origin (scheme://host[:port]) and host, or a configuration error."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _fail(f"COMPTOIR_SITE_URL={url!r} is not an http(s) URL such as https://desk.example.com")
    return f"{parts.scheme}://{parts.netloc}", parts.hostname or ""


SITE_ORIGIN, _SITE_HOST = _site_origin(SITE_URL)
# The site's own host is always allowed, and a form posted from its origin always trusted:
# behind a proxy that rewrites Host, Django would otherwise refuse every login (CSRF 403).
if _SITE_HOST not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_SITE_HOST)
CSRF_TRUSTED_ORIGINS = [SITE_ORIGIN, *(o.rstrip("/") for o in _EXTRA_ORIGINS)]
if PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
SECURE_SSL_REDIRECT = SSL_REDIRECT
# Probes (load balancer, compose, systemd) call these over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS = HSTS_INCLUDE_SUBDOMAINS
SECURE_HSTS_PRELOAD = HSTS_PRELOAD

FILES_DIR = DATA_DIR / "files"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Without a mail server, system mail goes to the log rather than failing.
MAILERS: dict[str, dict[str, Any]] = {
    "default": (
        {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": _SMTP_OPTIONS}
        if _SMTP_HOST
        else {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": EMAIL_DIR},
        }
        if EMAIL_DIR
        else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    )
}


def _secret_key() -> str:
    """The configured secret, else one generated once and kept in the data directory."""
    if SECRET_KEY_FROM_ENV:
        if len(SECRET_KEY_FROM_ENV) < 32:
            _fail("COMPTOIR_SECRET_KEY must be at least 32 characters")
        return SECRET_KEY_FROM_ENV
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # O_EXCL: two processes starting at once keep the same key.
    try:
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(key)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    return key


SECRET_KEY = _secret_key()


def _encryption_keys() -> tuple[str, ...]:
    keys = tuple(k.strip() for k in _ENCRYPTION_KEYS_RAW.replace("\n", ",").split(",") if k.strip())
    if not keys:
        # Before dedicated keys: the single key, else the secret key (`check --deploy` warns).
        return (ENCRYPTION_KEY_FROM_ENV or SECRET_KEY,)
    if any(len(k) < 32 for k in keys):
        _fail("COMPTOIR_ENCRYPTION_KEYS: each key must be at least 32 characters")
    return keys


ENCRYPTION_KEYS = _encryption_keys()
# Whether the keys were set on purpose rather than falling back to the secret key.
ENCRYPTION_KEYS_DEDICATED = bool(_ENCRYPTION_KEYS_RAW.strip() or ENCRYPTION_KEY_FROM_ENV)
# The name older callers use: the same keys (lib.crypto takes one key or the list).
ENCRYPTION_KEY = ENCRYPTION_KEYS

try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
except Exception as exc:  # dj_database_url raises several kinds
    _fail(f"DATABASE_URL={DATABASE_URL!r} cannot be used: {exc}")
if _db["ENGINE"] == "django.db.backends.sqlite3":
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=20000; PRAGMA cache_size=-65536; "
            "PRAGMA temp_store=MEMORY; PRAGMA mmap_size=268435456;"
        ),
    }
    # A file (not :memory:) so that worker processes started by tests share it.
    _db["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["CONN_HEALTH_CHECKS"] = True
    # Server-side binding lets psycopg prepare the statements ingest repeats, and is what
    # pipeline mode (fewer round trips, see inbox/fastsql.py) needs.
    _db["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 2}
else:
    _fail(f"DATABASE_URL: engine {_db['ENGINE']} is not supported (use sqlite or postgres)")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    # First: its templates (registration/ pages) win over the admin's.
    "comptoir.web",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    # One-time passwords (TOTP devices): the second step of sign-in (docs/security.md).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "comptoir.accounts",
    "comptoir.audit",
    "comptoir.inbox",
    "comptoir.orders",
    "comptoir.connectors",
    "comptoir.connectors.chat",
    "comptoir.jobs",
    "comptoir.sla",
    "comptoir.automation",
    "comptoir.notifications",
    "comptoir.triage",
    "comptoir.faq",
    "comptoir.knowledge",
    "comptoir.cases",
    "comptoir.care",
    "comptoir.surveys",
    "comptoir.analytics",
    "comptoir.health",
    "comptoir.privacy",
    "django_htmx",
    # Only for its templates and static files: the API docs page then loads Swagger UI from
    # /static/ (without it, ninja links a CDN, which the CSP blocks: a blank page).
    "ninja",
]
if TASKS_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks"]

MIDDLEWARE = [
    # First: every later step sees the client's address, not the proxy's.
    "comptoir.web.proxy.ForwardedForMiddleware",
    # Then where the request came from, for the audit log: before the session guard, so that
    # a sign-out for an expired session is recorded with its address too.
    "comptoir.audit.log.AuditContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # The API and the public pages past their rate (429), before any database work.
    "comptoir.web.ratelimit.RateLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, with the signed-in user read by a query compiled once per process.
    "comptoir.web.auth.AuthenticationMiddleware",
    # Expired sessions, and sessions without the second step that their user owes.
    "comptoir.accounts.middleware.SessionGuardMiddleware",
    "comptoir.accounts.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# No inline script or style anywhere: what runs is served from /static/.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    # Message HTML may show inline (cid:, data:) images; remote ones only once allowed.
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

ROOT_URLCONF = "comptoir.urls"
ASGI_APPLICATION = "comptoir.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/inbox/"
LOGOUT_REDIRECT_URL = "/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "comptoir.inbox.toasts.pending_toasts",
            ]
        },
    }
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("COMPTOIR_TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every start otherwise
try:
    # Several hosts: files in a bucket, one Redis cache, a connection pool (lib/hosting.py).
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
        "files": hosting.files_storage(DATA_DIR),
    }
    CACHES = hosting.caches()
    SESSION_ENGINE = hosting.session_engine(CACHES)
    _POOL = hosting.postgres_pool()
except EnvError as exc:
    _fail(str(exc))
if _POOL is not None and _db["ENGINE"] == "django.db.backends.postgresql":
    _db["OPTIONS"]["pool"] = _POOL
elif env_bool("COMPTOIR_WEB_PROCESS"):  # set by `comptoir serve` for its processes (cli.py)
    # The web server's kept request threads keep their connections (comptoir/asgi.py), closed
    # under Django's rules. Not with a pool, which keeps its own: Django refuses both. Other
    # processes (commands, workers) open and close theirs as before.
    _db["CONN_MAX_AGE"] = 600
WHITENOISE_USE_FINDERS = True

TASKS: dict[str, dict[str, Any]]
if TASKS_BACKEND == "db":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASKS_BACKEND == "rq":
    # "background": order look-ups, read by workers after "default" (see jobs.queues).
    TASKS = {
        "default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default", "background"]}
    }
    RQ_QUEUES = {"default": {"URL": REDIS_URL}, "background": {"URL": REDIS_URL}}
else:
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}

SESSION_COOKIE_AGE = SESSION_DAYS * 24 * 3600
SESSION_COOKIE_HTTPONLY = True
# The name an authenticator app shows beside the account.
OTP_TOTP_ISSUER = "Comptoir"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "comptoir.lib.jsonlog.JSONFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "loggers": {
        "comptoir": {"handlers": ["console"], "level": LOG_LEVEL},
        "django.tasks": {"handlers": ["console"], "level": "WARNING"},
        # Django's own (a request that failed with a 500...) in the same format, not only
        # under DEBUG.
        "django": {"handlers": ["console"], "level": "WARNING"},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]


def _init_sentry(dsn: str) -> None:
    """Only when SENTRY_DSN is set, and only then is sentry-sdk imported (an optional extra).
    No personal data is sent: buyers' messages and addresses stay here."""
    try:
        import sentry_sdk
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError:
        _fail("SENTRY_DSN is set but sentry-sdk is not installed: pip install 'comptoir[sentry]'")
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration()],
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
        send_default_pii=False,
    )


if SENTRY_DSN:
    _init_sentry(SENTRY_DSN)
