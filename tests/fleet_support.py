"""Plumbing of tests/test_several_hosts.py: web and worker processes over one PostgreSQL, one
Redis and one S3 server, and the simulated passing of time they need (never a wait).

Every process gets a data directory of its own, so that nothing one of them keeps on its disk
can be read by another: what they share goes through the database, Redis or the bucket.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from comptoir.inbox.models import DeliveryState, Message
from comptoir.jobs.models import PeriodicJob
from tests import redis_support
from tests.conftest import database_url_for_subprocess, require_or_skip

REPO = Path(__file__).resolve().parent.parent
_script = Path(sys.executable).with_name("comptoir")
COMPTOIR = [str(_script)] if _script.exists() else [sys.executable, "-m", "comptoir.cli"]
BUCKET = "comptoir-fleet"
# A bound on every wait for a condition: a guard against a hang, not a speed figure.
DEADLINE = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], Any],
    what: str,
    timeout: float = DEADLINE,
    explain: Callable[[], str] = str,
) -> Any:
    """Poll `condition` until it is truthy (returned), failing after `timeout` seconds with
    what `explain` says."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{explain()}")
        time.sleep(0.1)  # the polling step of a wait on a condition, not a wait for time


# -- the shared servers ------------------------------------------------------------------------


def s3_server() -> Iterator[str]:
    """moto's S3 server on this machine, with the bucket made."""
    try:
        import boto3  # noqa: F401  (s3_client's, checked here for the skip)
        from moto.server import ThreadedMotoServer
    except ImportError:
        require_or_skip(False, "an S3 server (moto[server] and boto3)")
        raise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3_client(endpoint).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    try:
        yield endpoint
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-3",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def own_redis_database() -> Iterator[tuple[str, Any]]:
    return redis_support.own_redis_database("the fleet")


def share_triage_models(redis_url: str) -> None:
    """A host that has run for a while shares its triage models: the fleet's new hosts read
    them rather than each training them (minutes of CPU here, which the test cannot spend)."""
    from django.test import override_settings

    from comptoir.lib import hosting
    from comptoir.triage import training

    with override_settings(CACHES=hosting.caches(environ={"COMPTOIR_CACHE_URL": redis_url})):
        training._base.clear()
        training._mood.clear()
        training.mood_models()


# -- the processes -----------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)


@dataclass
class Fleet:
    webs: list[Proc]
    workers: list[Proc]
    redis: Any
    s3_endpoint: str
    prefix: str
    data_dirs: list[Path]
    # Every moment the test moved a periodic job's due time to now (time passing), by job.
    warped: dict[str, list[datetime]] = field(default_factory=dict)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()}" for p in [*self.webs, *self.workers])

    def queues(self) -> str:
        """The rq queues, registries and workers, for a failure's message."""
        from rq.worker import Worker

        lines = [
            f"{w.name}: {w.get_state()} {w.get_current_job_id()}"
            for w in Worker.all(connection=self.redis)
        ]
        for key in sorted(k.decode() for k in self.redis.keys("rq:*")):
            kind = self.redis.type(key).decode()
            size = {"list": self.redis.llen, "zset": self.redis.zcard, "set": self.redis.scard}
            if kind in size:
                lines.append(f"{key} {kind} {size[kind](key)}")
        return "\n".join(lines) + "\n"

    def busy_worker_but_the_schedulers(self) -> Proc | None:
        """A live worker busy with a task, other than the one running rq's scheduler."""
        from rq.worker import Worker

        holders = set()
        for queue in ("default", "background"):
            name = self.redis.get(f"rq:scheduler-lock:{queue}")
            pid = self.redis.hget(f"rq:scheduler:{name.decode()}", "pid") if name else None
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    holders.add(os.getpgid(int(pid)))  # the worker's group (it forked it)
        busy = {w.name for w in Worker.all(connection=self.redis) if w.get_state() == "busy"}
        return next(
            (
                w
                for w in self.workers
                if w.name in busy and w.popen.poll() is None and w.popen.pid not in holders
            ),
            None,
        )

    def bucket_keys(self) -> set[str]:
        listed = s3_client(self.s3_endpoint).list_objects_v2(Bucket=BUCKET, Prefix=self.prefix)
        return {obj["Key"] for obj in listed.get("Contents", [])}

    def make_due(self, job: str) -> bool:
        """The job's period has passed: due now (a conditional update, as a claim is)."""
        row = PeriodicJob.objects.filter(name=job).first()
        now = timezone.now()
        if row is None or row.next_run_at <= now:
            return False  # due already: a worker will take it
        moved = PeriodicJob.objects.filter(name=job, next_run_at=row.next_run_at).update(
            next_run_at=now
        )
        if moved:
            self.warped.setdefault(job, []).append(now)
        return bool(moved)

    def deferred_tasks_due(self) -> None:
        """Retries and look-agains deferred by the send path are due now (rq's scheduler, in
        whichever worker holds its lock, moves them to their queue)."""
        now = time.time()
        for name in ("default", "background"):  # settings.RQ_QUEUES of the workers
            key = f"rq:scheduled:{name}"
            for job_id, score in self.redis.zrange(key, 0, -1, withscores=True):
                if score > now:
                    self.redis.zadd(key, {job_id: now}, xx=True)

    def stuck_sends_age(self, claimed_before: datetime) -> int:
        """Replies a killed worker left "sending" look stuck to the sweep (15 minutes on)."""
        return Message.objects.filter(
            delivery_state=DeliveryState.SENDING, delivery_claimed_at__lt=claimed_before
        ).update(delivery_claimed_at=F("delivery_claimed_at") - timedelta(hours=1))

    def stop(self) -> None:
        for proc in [*self.webs, *self.workers]:
            proc.kill()


def fleet_env(tmp: Path, redis_url: str, s3_endpoint: str, prefix: str) -> dict[str, str]:
    """What every host of the fleet shares: the database, Redis, the bucket and the keys."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "comptoir.settings",
        "DATABASE_URL": database_url_for_subprocess(),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "COMPTOIR_SECRET_KEY": settings.SECRET_KEY,
        "COMPTOIR_ENCRYPTION_KEYS": ",".join(settings.ENCRYPTION_KEYS),
        "COMPTOIR_TASKS_BACKEND": "rq",
        "REDIS_URL": redis_url,
        "COMPTOIR_CACHE_URL": redis_url,
        "COMPTOIR_FILES_STORAGE": "s3",
        "COMPTOIR_S3_BUCKET": BUCKET,
        "COMPTOIR_S3_ENDPOINT_URL": s3_endpoint,
        "COMPTOIR_S3_REGION": "eu-west-3",
        "COMPTOIR_S3_PREFIX": prefix,
        "COMPTOIR_S3_ACCESS_KEY_ID": "test",
        "COMPTOIR_S3_SECRET_ACCESS_KEY": "test",
        "COMPTOIR_OUTBOUND_ALLOW_PRIVATE": "true",
        "COMPTOIR_LOG_LEVEL": "WARNING",
    }
    env.pop("COMPTOIR_SECRET_KEY_FILE", None)
    return env


def start(name: str, argv: list[str], env: dict[str, str], tmp: Path) -> Proc:
    data = tmp / name
    data.mkdir()
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv,
            env={**env, "COMPTOIR_DATA_DIR": str(data)},
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # killed as a group: rq forks its scheduler process
        )
    return Proc(name, popen, log)


def start_web(name: str, env: dict[str, str], tmp: Path) -> Proc:
    port = free_port()
    argv = [*COMPTOIR, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    proc = start(name, argv, {**env, "COMPTOIR_DB_POOL_SIZE": "2"}, tmp)
    proc.url = f"http://127.0.0.1:{port}"
    return proc


def start_worker(name: str, env: dict[str, str], tmp: Path) -> Proc:
    argv = [*COMPTOIR, "worker", "--worker-id", name, "--interval", "0.3", "-v", "1"]
    return start(name, argv, env, tmp)
