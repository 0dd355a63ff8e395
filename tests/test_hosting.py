"""Several hosts: files in an S3-compatible bucket, one Redis cache, a PostgreSQL pool.

The bucket is a real S3 server speaking the S3 protocol over HTTP on this machine (moto's
server, started once per session); the cache is the machine's Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from comptoir.inbox import files
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Attachment
from comptoir.lib import hosting
from comptoir.lib.env import EnvError

from .conftest import require_or_skip

BUCKET = "comptoir-files"

# -- the environment read --------------------------------------------------------------------


def test_files_stay_on_local_disk_by_default(tmp_path: Path) -> None:
    conf = hosting.files_storage(tmp_path, environ={})
    assert conf["BACKEND"] == hosting.LOCAL_FILES_BACKEND
    assert conf["OPTIONS"]["location"] == str(tmp_path / "files")


def test_a_bucket_is_named_and_its_keys_read_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "s3-secret"
    secret.write_text("s3cr3t\n")
    conf = hosting.files_storage(
        tmp_path,
        environ={
            "COMPTOIR_FILES_STORAGE": "s3",
            "COMPTOIR_S3_BUCKET": "desk",
            "COMPTOIR_S3_ENDPOINT_URL": "https://s3.example.net",
            "COMPTOIR_S3_REGION": "fr-par",
            "COMPTOIR_S3_PREFIX": "/prod/",
            "COMPTOIR_S3_ACCESS_KEY_ID": "AKIA1",
            "COMPTOIR_S3_SECRET_ACCESS_KEY_FILE": str(secret),
        },
    )
    options = conf["OPTIONS"]
    assert conf["BACKEND"] == hosting.S3_FILES_BACKEND
    assert options["bucket_name"] == "desk"
    assert options["endpoint_url"] == "https://s3.example.net"
    assert options["region_name"] == "fr-par"
    assert options["location"] == "prod"
    assert (options["access_key"], options["secret_key"]) == ("AKIA1", "s3cr3t")
    # Private objects: served by Comptoir after its checks, never by a public URL.
    assert options["default_acl"] is None
    assert options["querystring_auth"] is True


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"COMPTOIR_FILES_STORAGE": "s3"}, "COMPTOIR_S3_BUCKET"),
        ({"COMPTOIR_FILES_STORAGE": "ftp"}, "COMPTOIR_FILES_STORAGE"),
        (
            {
                "COMPTOIR_FILES_STORAGE": "s3",
                "COMPTOIR_S3_BUCKET": "b",
                "COMPTOIR_S3_ENDPOINT_URL": "s3.example.net",
            },
            "COMPTOIR_S3_ENDPOINT_URL",
        ),
    ],
)
def test_a_bad_storage_setting_names_the_variable(
    tmp_path: Path, environ: dict[str, str], named: str
) -> None:
    with pytest.raises(EnvError, match=named):
        hosting.files_storage(tmp_path, environ=environ)


def test_the_cache_is_shared_through_redis_when_named() -> None:
    assert hosting.caches(environ={})["default"]["BACKEND"].endswith("LocMemCache")
    shared = hosting.caches(environ={"COMPTOIR_CACHE_URL": "redis://cache:6379/1"})["default"]
    assert shared["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert shared["LOCATION"] == "redis://cache:6379/1"
    with pytest.raises(EnvError, match="COMPTOIR_CACHE_URL"):
        hosting.caches(environ={"COMPTOIR_CACHE_URL": "memcached://cache:11211"})


def test_sessions_are_read_from_the_cache_only_when_it_is_shared() -> None:
    local = hosting.caches(environ={})
    shared = hosting.caches(environ={"COMPTOIR_CACHE_URL": "redis://cache:6379/1"})
    assert hosting.session_engine(local) == "comptoir.web.auth"
    assert hosting.session_engine(shared) == "django.contrib.sessions.backends.cached_db"


def test_the_pool_is_off_unless_sized() -> None:
    assert hosting.postgres_pool(environ={}) is None
    assert hosting.postgres_pool(environ={"COMPTOIR_DB_POOL_SIZE": "0"}) is None
    assert hosting.postgres_pool(environ={"COMPTOIR_DB_POOL_SIZE": "8"}) == {
        "min_size": 1,
        "max_size": 8,
        "timeout": 10,
    }
    with pytest.raises(EnvError, match="COMPTOIR_DB_POOL_SIZE"):
        hosting.postgres_pool(environ={"COMPTOIR_DB_POOL_SIZE": "many"})


# -- files in a bucket -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 server on this machine, with the bucket made (once per test process)."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        require_or_skip(False, "an S3 server (moto[server] and boto3)")
        raise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-3",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    yield endpoint
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, settings: Any) -> Iterator[Any]:
    """The `files` storage pointed at the bucket, as COMPTOIR_FILES_STORAGE=s3 would."""
    import boto3

    conf = hosting.files_storage(
        Path("/unused"),
        environ={
            "COMPTOIR_FILES_STORAGE": "s3",
            "COMPTOIR_S3_BUCKET": BUCKET,
            "COMPTOIR_S3_ENDPOINT_URL": s3_endpoint,
            "COMPTOIR_S3_REGION": "eu-west-3",
            "COMPTOIR_S3_PREFIX": f"t{os.getpid()}",
            "COMPTOIR_S3_ACCESS_KEY_ID": "test",
            "COMPTOIR_S3_SECRET_ACCESS_KEY": "test",
        },
    )
    with override_settings(STORAGES={**settings.STORAGES, "files": conf}):
        yield boto3.resource(
            "s3",
            endpoint_url=s3_endpoint,
            region_name="eu-west-3",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).Bucket(BUCKET)


def _keys(bucket: Any) -> set[str]:
    return {obj.key for obj in bucket.objects.filter(Prefix=f"t{os.getpid()}/")}


def test_files_go_to_the_bucket_once_and_come_back(bucket: Any) -> None:
    assert files.storage().__class__.__name__ == "S3Storage"
    digest = files.store_bytes(b"%PDF-1.7 invoice")
    key = f"t{os.getpid()}/{files.name_for(digest)}"
    assert key in _keys(bucket)
    assert files.exists(digest)
    assert files.read_bytes(digest) == b"%PDF-1.7 invoice"
    # The same bytes again: not written again while fresh (the object keeps its time).
    first = bucket.Object(key).last_modified
    assert files.store_bytes(b"%PDF-1.7 invoice") == digest
    assert bucket.Object(key).last_modified == first
    assert not files.exists("0" * 64)


def test_the_purge_removes_from_the_bucket_what_nothing_names(
    bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = files.store_bytes(b"logo in every mail")
    gone = files.store_bytes(b"only attachment of a deleted message")
    # Within the grace a file may be about to be named again: kept.
    assert files.discard({kept, gone}, still_used=lambda d: {kept}) == 0
    monkeypatch.setattr(files, "DISCARD_GRACE", 0.0)
    assert files.discard({kept, gone, "f" * 64}, still_used=lambda d: {kept}) == 1
    assert files.exists(kept)
    assert not files.exists(gone)


def test_an_attachment_received_is_stored_in_the_bucket_and_downloaded(
    bucket: Any, make_inbound: Callable[..., Any], agent: Any
) -> None:
    photo = f"\x89PNG photo of the broken lamp {uuid.uuid4()}".encode()
    result = ingest(
        make_inbound(
            thread_id=f"s3-{uuid.uuid4()}",
            attachments=[{"filename": "lampe.png", "data": photo}],
        )
    )
    assert result.conversation_id is not None, result.error
    attachment = Attachment.objects.get(message__conversation_id=result.conversation_id)
    assert f"t{os.getpid()}/{files.name_for(attachment.sha256)}" in _keys(bucket)
    client = Client()
    client.force_login(agent)
    response = client.get(reverse("inbox:attachment", args=[attachment.pk]))
    assert response.status_code == 200
    assert response.content == photo


# -- one cache for every process ---------------------------------------------------------------


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def test_two_processes_share_the_redis_cache() -> None:
    require_or_skip(_redis_up(), "Redis")
    url = f"redis://127.0.0.1:6379/{int(os.environ.get('COMPTOIR_TEST_REDIS_DB', '9'))}"
    conf = hosting.caches(environ={"COMPTOIR_CACHE_URL": url})
    key = f"shared-{os.getpid()}"
    with override_settings(CACHES=conf):
        caches["default"].set(key, "seen by the other host", 60)
        code = (
            "import django, os; django.setup(); from django.core.cache import cache; "
            f"print(cache.get({key!r}))"
        )
        env = {
            **os.environ,
            "COMPTOIR_CACHE_URL": url,
            "DJANGO_SETTINGS_MODULE": "comptoir.settings",
        }
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
        caches["default"].delete(key)
    assert out.strip() == "seen by the other host"


# -- a pool per process ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_pooled_process_reuses_its_connections() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    from tests.conftest import database_url_for_subprocess

    code = (
        "import django; django.setup(); from django.db import connection\n"
        "pids = set()\n"
        "for _ in range(5):\n"
        "    with connection.cursor() as c:\n"
        "        c.execute('select pg_backend_pid()'); pids.add(c.fetchone()[0])\n"
        "    connection.close()\n"
        "print(getattr(connection, 'pool', None) is not None, len(pids))\n"
    )

    def distinct_server_processes(pool_size: str) -> tuple[str, int]:
        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_subprocess(),
            "COMPTOIR_DB_POOL_SIZE": pool_size,
            "DJANGO_SETTINGS_MODULE": "comptoir.settings",
        }
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        return out[0], int(out[1])

    # Five "requests", each closing its connection: without a pool, five server processes;
    # with a pool of two, at most two, reused.
    assert distinct_server_processes("0") == ("False", 5)
    pooled, processes = distinct_server_processes("2")
    assert pooled == "True"
    assert processes <= 2
