"""Several hosts (issue 18): two web processes and three workers, each with a data directory of
its own, over one PostgreSQL database, one Redis (queue and cache) and one S3 server (moto).

The marketplace simulators misbehave at random (500s, 429s, dropped requests, answers lost after
the request was carried out, repeated and shuffled pages); buyers write on two marketplaces, an
agent signed in on one web process answers through both, and one worker is killed (SIGKILL)
while the replies go out. Then: every buyer message stored once, every reply on its marketplace
exactly once, every periodic job ticked once per period, and the files in the bucket, read
through the web process that did not write them.

Time passes by moving due times (a periodic job's, a deferred retry's, a reply's settle time),
never by waiting for it. PostgreSQL only: SQLite is one host's database.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from comptoir.accounts.models import Role, Team, User
from comptoir.connectors.cdiscount.simulator import CdiscountSimulator
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox import files
from comptoir.inbox.models import (
    Attachment,
    Channel,
    Conversation,
    DeliveryState,
    Message,
    Shop,
)
from comptoir.jobs.models import JobRun, PeriodicJob
from comptoir.jobs.periodic import REGISTRY, autodiscover
from tests import fleet_support as fs
from tests.send_support import settle_time_passes

pytestmark = [pytest.mark.redis]

BUYERS_PER_MARKET = 8  # two waves of this many on each marketplace
PASSWORD = "a-long-pass-phrase-42"
# Random faults on every request of the simulators (seeded: a failing run can be replayed).
FAULTS = {
    "error500": 0.05,
    "rate_limit": 0.04,
    "lose_response": 0.04,
    "error500_after": 0.04,
    "timeout": 0.02,
    "duplicate_page": 0.1,
    "reorder_page": 0.1,
}


# -- servers, once per test session ------------------------------------------------------------


@pytest.fixture(scope="session")
def fleet_s3() -> Iterator[str]:
    yield from fs.s3_server()


@pytest.fixture(scope="session")
def fleet_redis() -> Iterator[tuple[str, Any]]:
    yield from fs.own_redis_database()


@pytest.fixture(scope="session")
def markets() -> Iterator[tuple[MiraklSimulator, CdiscountSimulator]]:
    mirakl, cdiscount = MiraklSimulator(seed=18), CdiscountSimulator(seed=18)
    for sim in (mirakl, cdiscount):
        sim.faults.hang_seconds = 0.5
        sim.faults.retry_after = 0.2
        sim.start()
    yield mirakl, cdiscount
    for sim in (mirakl, cdiscount):
        sim.stop()


@pytest.fixture
def fleet(
    transactional_db: None,
    fleet_s3: str,
    fleet_redis: tuple[str, Any],
    tmp_path: Path,
) -> Iterator[fs.Fleet]:
    """Two web processes and three workers on the test database, stopped before its flush."""
    if connection.vendor != "postgresql":
        pytest.skip("several hosts share a PostgreSQL database (runs in the PostgreSQL pass)")
    redis_url, redis = fleet_redis
    prefix = f"fleet-{uuid.uuid4().hex[:8]}"
    env = fs.fleet_env(tmp_path, redis_url, fleet_s3, prefix)
    fs.share_triage_models(redis_url)
    webs = [fs.start_web(name, env, tmp_path) for name in ("web-a", "web-b")]
    workers = [fs.start_worker(name, env, tmp_path) for name in ("w1", "w2", "w3")]
    fleet = fs.Fleet(
        webs=webs,
        workers=workers,
        redis=redis,
        s3_endpoint=fleet_s3,
        prefix=prefix,
        data_dirs=[tmp_path / p.name for p in [*webs, *workers]],
    )
    try:
        for web in webs:
            fs.wait_for(functools.partial(_healthy, web), f"{web.name} to answer /healthz")
        fs.wait_for(
            lambda: {"w1", "w2", "w3"} <= set(_rq_workers(redis)), "the three workers to start"
        )
        yield fleet
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        fleet.stop()
        redis.flushdb()


def _healthy(web: fs.Proc) -> bool:
    assert web.popen.poll() is None, web.output()
    try:
        return httpx.get(f"{web.url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _rq_workers(redis: Any) -> dict[str, str]:
    """The rq workers alive, by name, with their state (busy, idle...)."""
    from rq.worker import Worker

    return {w.name: w.get_state() for w in Worker.all(connection=redis)}


# -- the desk ----------------------------------------------------------------------------------


@pytest.fixture
def desk(
    fleet: fs.Fleet, markets: tuple[MiraklSimulator, CdiscountSimulator]
) -> tuple[User, list[Channel]]:
    mirakl, cdiscount = markets
    shop = Shop.objects.create(name="Maison Lumière", slug="maison-lumiere")
    team = Team.objects.create(name="Marketplaces")
    agent = User.objects.create_user("marie", "marie@example.com", PASSWORD, role=Role.AGENT)
    team.members.add(agent)
    darty = Channel(shop=shop, kind="mirakl", marketplace="darty", name="Darty", team=team)
    darty.set_settings({"base_url": mirakl.url, "api_key": "sim-key", "timeout_seconds": 2})
    darty.save()
    cdisc = Channel(shop=shop, kind="cdiscount", marketplace="cdiscount", name="Cdiscount")
    cdisc.team = team
    cdisc.set_settings(
        {
            "client_id": cdiscount.client_id,
            "client_secret": cdiscount.client_secret,
            "seller_id": cdiscount.seller_id,
            "base_url": f"{cdiscount.url}/seller/v2",
            "auth_url": cdiscount.url,
        }
    )
    cdisc.save()
    for sim in (mirakl, cdiscount):
        sim.faults.clear()
        sim.faults.rates.update(FAULTS)
    return agent, [darty, cdisc]


def buyers_write(
    markets: tuple[MiraklSimulator, CdiscountSimulator], wave: int, photo: bytes
) -> list[str]:
    """A wave of buyers on both marketplaces, each on an order of their own; the first Darty
    buyer sends a photo. Returns the texts (each unique)."""
    mirakl, cdiscount = markets
    texts = []
    for n in range(BUYERS_PER_MARKET):
        text = f"Bonjour, où est ma commande ? [darty-{wave}-{n}]"
        order = f"DRT-{wave}-{n}"
        mirakl.add_order(order, customer_id=f"c-{wave}-{n}", customer_name=f"Buyer {wave}-{n}")
        attachments = [("lampe.png", photo)] if (wave, n) == (1, 0) else None
        mirakl.buyer_writes(
            text, order_id=order, customer_id=f"c-{wave}-{n}", attachments=attachments
        )
        texts.append(text)
        text = f"Colis non reçu [cdiscount-{wave}-{n}]"
        order = f"CD{wave}{n:04d}"
        cdiscount.add_order(order, customer_id=f"cd-{wave}-{n}")
        cdiscount.buyer_writes(order_id=order, text=text, customer_id=f"cd-{wave}-{n}")
        texts.append(text)
    return texts


def stored_once(texts: list[str]) -> bool:
    found = Counter(
        token
        for body in Message.objects.filter(direction="in").values_list("text", flat=True)
        for token in re.findall(r"\[(?:darty|cdiscount)-\d+-\d+\]", body)
    )
    return all(found[re.search(r"\[.*\]", t).group(0)] >= 1 for t in texts)  # type: ignore[union-attr]


def ingest(fleet: fs.Fleet, texts: list[str]) -> None:
    """Minutes pass (the polls are due again) until every text is stored."""

    def all_stored() -> bool:
        if stored_once(texts):
            return True
        fleet.make_due("inbox.poll_channels")
        return False

    fs.wait_for(all_stored, "every buyer message to be stored")


# -- the agent, on both web processes ----------------------------------------------------------


def sign_in(web: fs.Proc) -> httpx.Client:
    client = httpx.Client(timeout=30)
    form = client.get(f"{web.url}/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None, form.text[:500]
    response = client.post(
        f"{web.url}/login/",
        data={"username": "marie", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
    )
    assert response.status_code == 302, response.text[:500]
    return client


def reply_through(
    client: httpx.Client, web: fs.Proc, conv: Conversation, text: str, upload: bytes = b""
) -> None:
    extra = {"files": {"attachments": ("facture.pdf", upload, "application/pdf")}} if upload else {}
    response = client.post(
        f"{web.url}{reverse('inbox:reply', args=[conv.pk])}",
        data={"text": text, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        **extra,  # type: ignore[arg-type]
    )
    assert response.status_code == 302, response.text[:500]
    assert response.headers["location"] == reverse("inbox:conversation", args=[conv.pk])


def arrived(markets: tuple[MiraklSimulator, CdiscountSimulator]) -> Counter[str]:
    """Every reply token as many times as it reached a marketplace."""
    mirakl, cdiscount = markets
    bodies = [m.body for _, m in mirakl.seller_messages()]
    bodies += [m.body for m in cdiscount.seller_messages()]
    return Counter(t for body in bodies for t in re.findall(r"\{reply-\d+\}", body))


# -- the test ----------------------------------------------------------------------------------


def test_two_webs_and_three_workers_lose_nothing_and_duplicate_nothing(
    fleet: fs.Fleet,
    desk: tuple[User, list[Channel]],
    markets: tuple[MiraklSimulator, CdiscountSimulator],
) -> None:
    _, channels = desk
    web_a, web_b = fleet.webs
    photo = f"\x89PNG the broken lamp {uuid.uuid4()}".encode()
    invoice = f"%PDF-1.7 invoice {uuid.uuid4()}".encode()

    # Buyers write, in two waves; the workers poll through the faults.
    texts = buyers_write(markets, 1, photo)
    ingest(fleet, texts)
    texts += buyers_write(markets, 2, photo)
    ingest(fleet, texts)

    # The agent signs in on web A and answers through A and B in turn (one session: both
    # processes know the same secret); the first answer carries an invoice, uploaded to A.
    client = sign_in(web_a)
    convs = list(Conversation.objects.filter(channel__in=channels).order_by("pk"))
    assert len(convs) == len(texts)
    half = len(convs) // 2
    for n, conv in enumerate(convs[:half]):
        reply_through(
            client,
            fleet.webs[n % 2],
            conv,
            f"Nous regardons. {{reply-{n}}}",
            invoice if n == 0 else b"",
        )

    # A worker dies while the replies go out: a busy one, not the one running rq's scheduler
    # (its lock would outlive it by rq's minute before another worker takes over: see
    # test_worker.py's test of the take-over).
    victim = fs.wait_for(lambda: fleet.busy_worker_but_the_schedulers(), "a busy worker to kill")
    os.killpg(victim.popen.pid, signal.SIGKILL)
    killed_at = timezone.now()
    victim.popen.wait(30)
    for n, conv in enumerate(convs[half:], start=half):
        reply_through(client, fleet.webs[n % 2], conv, f"Nous regardons. {{reply-{n}}}")
    replies = Message.objects.filter(direction="out", text__contains="{reply-")
    assert replies.count() == len(convs)

    # Minutes pass until every reply is sent: retries and look-agains come due, the settle
    # time passes, and the replies the killed worker held are found stuck by the sweep.
    def all_sent() -> bool:
        if not replies.exclude(delivery_state=DeliveryState.SENT).exists():
            return True
        settle_time_passes()
        fleet.deferred_tasks_due()
        if fleet.stuck_sends_age(claimed_before=killed_at):
            fleet.make_due("inbox.sweep_stuck_sends")
        return False

    def unsent() -> str:
        rows = (
            Message.objects.filter(direction="out")
            .exclude(delivery_state=DeliveryState.SENT)
            .values_list(
                "pk",
                "channel__kind",
                "delivery_state",
                "delivery_attempts",
                "delivery_error",
                "external_id",
                "text",
            )
        )
        return "\n".join(map(str, rows)) + "\n" + fleet.queues() + fleet.logs()

    fs.wait_for(all_sent, "every reply to be sent", timeout=120, explain=unsent)

    # A minute passes: the survivors poll again (and nothing new is stored twice).
    def polled_after_the_kill() -> bool:
        runs = JobRun.objects.filter(job_id="inbox.poll_channels", created_at__gt=killed_at)
        if runs.exists():
            return True
        fleet.make_due("inbox.poll_channels")
        return False

    fs.wait_for(polled_after_the_kill, "a poll after the kill")
    ended_at = timezone.now()

    # 0 lost, 0 duplicated: every buyer message stored once...
    inbound = Message.objects.filter(direction="in", conversation__channel__in=channels)
    assert inbound.count() == len(texts)
    assert stored_once(texts)
    # ...and every reply on its marketplace exactly once, shown as that copy.
    assert arrived(markets) == Counter({f"{{reply-{n}}}": 1 for n in range(len(convs))})
    assert not replies.filter(external_id="").exists()
    # Nothing else went out or came back as a second copy of a reply (a poll importing a
    # reply whose answer was lost, before the retry found it).
    assert Message.objects.filter(direction="out").count() == len(convs)
    for sim in markets:
        assert sim.violations == []
        assert sum(sim.faults.injected.values()) > 0  # the faults did happen

    # The files are in the bucket, and either web process serves them: the photo a worker
    # stored, the invoice web A stored (and a worker read back to send it).
    photo_att = Attachment.objects.get(filename="lampe.png")
    invoice_att = Attachment.objects.get(filename="facture.pdf")
    keys = fleet.bucket_keys()
    for att in (photo_att, invoice_att):
        assert f"{fleet.prefix}/{files.name_for(att.sha256)}" in keys
    assert (
        client.get(f"{web_b.url}{reverse('inbox:attachment', args=[photo_att.pk])}").content
        == photo
    )
    assert (
        client.get(f"{web_b.url}{reverse('inbox:attachment', args=[invoice_att.pk])}").content
        == invoice
    )
    mirakl, _ = markets
    sent_files = [f for f in mirakl.files.values() if f[1] == invoice]
    assert len(sent_files) == 1
    for data_dir in fleet.data_dirs:
        assert not (data_dir / "files").exists(), f"{data_dir.name} kept files on its disk"

    # Every periodic job ticked once per period, across the three workers.
    ticked_once_per_period(fleet, ended_at)
    after_kill = set(
        JobRun.objects.filter(created_at__gt=killed_at).values_list("claimed_by", flat=True)
    )
    assert after_kill, "no tick after the kill"
    assert victim.name not in after_kill
    assert victim.popen.returncode == -signal.SIGKILL


def ticked_once_per_period(fleet: fs.Fleet, ended_at: Any) -> None:
    autodiscover()
    rows = {job.name: job for job in PeriodicJob.objects.all()}
    # The application's jobs (a test module may have registered one of its own here).
    apps_jobs = {n for n, p in REGISTRY.items() if p.task.func.__module__.startswith("comptoir.")}
    assert set(rows) == apps_jobs, "a periodic job never ticked, or an unknown one did"
    for name, job in rows.items():
        runs = list(JobRun.objects.filter(job_id=name).order_by("scheduled_for"))
        warped = fleet.warped.get(name, [])
        # One run per due time: the first, and each time its period passed (or we moved it).
        assert len(runs) == len({r.scheduled_for for r in runs})
        every = REGISTRY[name].every
        for before, after in itertools.pairwise(runs):
            if after.scheduled_for in warped:
                continue
            assert after.scheduled_for - before.scheduled_for >= every, (name, before, after)
        assert len(runs) <= 1 + len(warped) + (ended_at - runs[0].scheduled_for) // every
        # Not left behind when the worker died: nothing is overdue by more than a few ticks.
        assert job.next_run_at > ended_at - timedelta(seconds=30), name
    claimers = set(JobRun.objects.values_list("claimed_by", flat=True))
    assert claimers <= {"w1", "w2", "w3"}
