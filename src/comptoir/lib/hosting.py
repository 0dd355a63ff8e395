"""What changes when Comptoir runs on several hosts: where files go, which cache the processes
share, and how web processes hold their PostgreSQL connections. Read from the environment by
settings; plain dictionaries in Django's own shapes, so each can be tested without Django.

One host needs none of it: files on local disk, a cache per process, a connection per request.
Several hosts need the files where every host reads them (an S3-compatible bucket), one cache
(Redis: throttles, presence and cached pages agree across hosts) and a pool per process (a new
PostgreSQL connection per request costs a few milliseconds and a server process each).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from comptoir.lib.env import EnvError, env_choice, env_int, env_secret, env_str

# The local storage writes each file atomically (a temporary file, then a rename): a reader
# never sees half a file, and two writers of the same bytes end with the same file.
LOCAL_FILES_BACKEND = "comptoir.inbox.storage.AtomicFileSystemStorage"
S3_FILES_BACKEND = "storages.backends.s3.S3Storage"


def files_storage(data_dir: Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The `files` entry of STORAGES: messages' originals (.eml) and attachments.

    COMPTOIR_FILES_STORAGE=local (default) keeps them under COMPTOIR_DATA_DIR/files;
    =s3 in a bucket (AWS S3, MinIO, Garage, Scaleway, OVH...) through django-storages, which
    the `s3` extra installs."""
    kind = env_choice("COMPTOIR_FILES_STORAGE", "local", ("local", "s3"), environ)
    if kind == "local":
        return {"BACKEND": LOCAL_FILES_BACKEND, "OPTIONS": {"location": str(data_dir / "files")}}
    bucket = env_str("COMPTOIR_S3_BUCKET", "", environ)
    if not bucket:
        raise EnvError("COMPTOIR_FILES_STORAGE=s3 needs COMPTOIR_S3_BUCKET")
    options: dict[str, Any] = {
        "bucket_name": bucket,
        # Files are private: they are served by Comptoir after its permission checks, never
        # by a public URL to the bucket.
        "default_acl": None,
        "querystring_auth": True,
        "file_overwrite": True,  # content-addressed: the same name is the same bytes
        "location": env_str("COMPTOIR_S3_PREFIX", "", environ).strip("/"),
    }
    endpoint = env_str("COMPTOIR_S3_ENDPOINT_URL", "", environ)
    if endpoint:
        if urlsplit(endpoint).scheme not in ("http", "https"):
            raise EnvError(f"COMPTOIR_S3_ENDPOINT_URL={endpoint!r} is not an http(s) URL")
        options["endpoint_url"] = endpoint
    region = env_str("COMPTOIR_S3_REGION", "", environ)
    if region:
        options["region_name"] = region
    key_id = env_secret("COMPTOIR_S3_ACCESS_KEY_ID", environ)
    secret = env_secret("COMPTOIR_S3_SECRET_ACCESS_KEY", environ)
    if key_id and secret:  # otherwise boto3's own chain: instance role, ~/.aws, AWS_* variables
        options["access_key"] = key_id
        options["secret_key"] = secret
    return {"BACKEND": S3_FILES_BACKEND, "OPTIONS": options}


def caches(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """CACHES: COMPTOIR_CACHE_URL=redis://host:6379/1 shares one Redis cache between every
    process and host; unset, each process keeps its own in memory (enough on one host)."""
    url = env_str("COMPTOIR_CACHE_URL", "", environ)
    if not url:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise EnvError(f"COMPTOIR_CACHE_URL={url!r} is not a redis:// or rediss:// URL")
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "comptoir",
        }
    }


def session_engine(caches: Mapping[str, Any]) -> str:
    """Sessions read from the shared cache and written through to the database when the cache is
    Redis (one query less per request); not with a per-process cache, where one host would go on
    honouring a session that another has ended. Otherwise Django's database sessions, read by
    a statement built once per process (`comptoir.web.auth`)."""
    if caches["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        return "django.contrib.sessions.backends.cached_db"
    return "comptoir.web.auth"


def postgres_pool(environ: Mapping[str, str] | None = None) -> dict[str, int] | None:
    """The psycopg pool options for PostgreSQL, or None: no pool.

    COMPTOIR_DB_POOL_SIZE=N keeps up to N connections open per process (web processes under
    load); 0 (default): each request thread of `comptoir serve` keeps its own (comptoir/asgi.py),
    one per thread in flight, which suits a single host and the workers."""
    size = env_int("COMPTOIR_DB_POOL_SIZE", 0, minimum=0, maximum=100, environ=environ)
    if not size:
        return None
    return {"min_size": 1, "max_size": size, "timeout": 10}
