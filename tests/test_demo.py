"""`comptoir demo`: deterministic, realistic, loaded through the real pipeline, safe to rerun."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from io import StringIO
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count
from imapclient import IMAPClient

from comptoir.accounts.models import Role, Team, User
from comptoir.care.models import AtRisk
from comptoir.connectors.email.simulator import MailboxSimulator
from comptoir.demo.generate import reference_now
from comptoir.demo.processes import run_together
from comptoir.demo.world import DEMO_PASSWORD
from comptoir.inbox.models import (
    Channel,
    Conversation,
    Customer,
    DeliveryState,
    Direction,
    Event,
    InboundRecord,
    Message,
    Shop,
    Status,
    Tag,
)
from comptoir.lib.meta_window import META_KINDS
from comptoir.notifications.models import Webhook
from comptoir.orders.models import Order
from comptoir.surveys.models import Survey

SMALL = ["--conversations", "60", "--days", "30"]


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    # Every load hashes the demo password; the real hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run_demo(*args: str) -> str:
    out = StringIO()
    # The live weeks alone, unless a test asks for the year before them (test_demo_year).
    scale = [] if "--scale" in args else ["--scale", "0"]
    call_command("demo", *args, *scale, stdout=out)
    return out.getvalue()


def digest() -> str:
    """Subjects, buyers, statuses and every text, independent of database ids."""
    rows = []
    convs = Conversation.objects.select_related("customer", "channel", "order")
    for conv in convs.prefetch_related("messages"):
        messages = sorted(conv.messages.all(), key=lambda m: (m.created_at, m.pk))
        rows.append(
            "\x1f".join(
                [
                    conv.channel.name,
                    conv.subject,
                    conv.customer.name if conv.customer else "",
                    conv.order.external_id if conv.order else "",
                    conv.status,
                    conv.language,
                    *(f"{m.direction}:{m.created_at.isoformat()}:{m.text}" for m in messages),
                ]
            )
        )
    return hashlib.sha256("\x1e".join(sorted(rows)).encode()).hexdigest()


def wipe() -> None:
    # Messages and orders protect their channel: delete from the leaves up.
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    Order.objects.all().delete()
    Customer.objects.all().delete()
    InboundRecord.objects.all().delete()
    Channel.objects.all().delete()
    Shop.objects.all().delete()
    Team.objects.all().delete()
    Tag.objects.all().delete()
    User.objects.all().delete()


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_data_and_another_seed_does_not() -> None:
    run_demo("--seed", "7", *SMALL)
    first = digest()
    wipe()
    run_demo("--seed", "7", *SMALL)
    assert digest() == first
    wipe()
    run_demo("--seed", "8", *SMALL)
    assert digest() != first


@pytest.mark.django_db
def test_loads_the_conversations_asked_for_each_with_a_buyer_message() -> None:
    out = run_demo("--seed", "3", *SMALL)
    # The buyers' conversations, as many as asked; proactive care opens a few more itself
    # (the seller writing first about a late order), holding its message only.
    by_seller = set(
        Conversation.objects.exclude(messages__direction=Direction.IN).values_list("pk", flat=True)
    )
    proactive = AtRisk.objects.exclude(message=None).values_list("message__conversation_id")
    assert by_seller <= {pk for (pk,) in proactive}
    assert Conversation.objects.count() - len(by_seller) == 60
    assert f"{Conversation.objects.count()} conversations" in out
    counted = Conversation.objects.annotate(n=Count("messages"))
    assert all(c.n == c.message_count >= 1 for c in counted)
    # Follow-ups were threaded by the pipeline into their conversation, not opened apart.
    assert Conversation.objects.filter(message_count__gte=3).exists()


@pytest.mark.django_db
def test_languages_statuses_and_channels_are_mixed() -> None:
    run_demo("--seed", "5", "--conversations", "150", "--days", "60")
    languages = Counter(Conversation.objects.values_list("language", flat=True))
    assert languages.most_common(1)[0][0] == "fr"
    assert len(languages) >= 4
    statuses = Counter(Conversation.objects.values_list("status", flat=True))
    assert statuses.most_common(1)[0][0] == Status.RESOLVED
    assert statuses[Status.PENDING] > 0
    assert Conversation.objects.filter(status=Status.OPEN, needs_reply=True).exists()
    assert Conversation.objects.filter(needs_reply=True, respond_by__isnull=False).exists()
    # Buyers write on every channel but Amazon's SP-API (it reads orders and carries the
    # seller's proactive messages; buyers write to the Amazon mailbox) and Spartoo's web
    # services (orders and returns; buyers write by Spartoo's mail).
    buyers = Conversation.objects.filter(messages__direction=Direction.IN).values("channel_id")
    silent = Channel.objects.exclude(pk__in=buyers)
    # Meta's channels and the live chat have no invented history: their buyers write live
    # (`comptoir simulate`, the demo shop's page).
    assert sorted(silent.values_list("kind", flat=True)) == sorted(
        ["amazon", "chat", "spartoo", *META_KINDS]
    )
    amazon = Conversation.objects.filter(channel__marketplace="amazon").exclude(order_number="")
    assert all(
        re.fullmatch(r"\d{3}-\d{7}-\d{7}", n) for n in amazon.values_list("order_number", flat=True)
    )
    # Conversations about an order are linked to it, and the order to the buyer.
    linked = Conversation.objects.exclude(order_number="").select_related("order")
    assert all(c.order and c.order.external_id == c.order_number for c in linked)
    assert all(c.order.customer_id == c.customer_id for c in linked if c.order)


@pytest.mark.django_db
def test_history_is_in_the_past_and_replies_look_sent() -> None:
    run_demo("--seed", "9", *SMALL)
    today = reference_now()
    replies = Message.objects.filter(direction=Direction.OUT)
    assert replies.exists()
    assert not replies.exclude(delivery_state=DeliveryState.SENT).exists()
    assert not Message.objects.filter(created_at__gte=today).exists()
    assert not Event.objects.filter(created_at__gte=today).exists()
    assert not Conversation.objects.filter(last_message_at__gte=today).exists()
    resolved = Conversation.objects.filter(status=Status.RESOLVED)
    assert not resolved.filter(resolved_at__isnull=True).exists()
    assert not resolved.filter(needs_reply=True).exists()


@pytest.mark.django_db
def test_resolved_conversations_have_their_surveys_dated_after_resolution() -> None:
    run_demo("--seed", "9", "--conversations", "150", "--days", "30")
    surveys = list(Survey.objects.select_related("conversation__channel"))
    assert surveys
    assert all(s.sent_at > (s.conversation.resolved_at or s.sent_at) for s in surveys)
    # Only where the marketplace's rules allow it: the shop's mailbox and eBay.
    assert {s.conversation.channel.marketplace for s in surveys} <= {"shop", "ebay"}
    answered = [s for s in surveys if s.answered_at is not None]
    assert all(s.answered_at > s.sent_at for s in answered)
    assert all(s.comment for s in answered if s.score is not None and s.score <= 2)


@pytest.mark.django_db
def test_demo_users_can_log_in_with_their_roles() -> None:
    run_demo("--seed", "1", "--conversations", "5")
    roles = {
        "supervisor": Role.SUPERVISOR,
        "agent1": Role.AGENT,
        "agent2": Role.AGENT,
        "agent3": Role.AGENT,
        "agent4": Role.AGENT,
        "analyst": Role.ANALYST,
        "admin": Role.OWNER,
    }
    for username, role in roles.items():
        user = User.objects.get(username=username)
        assert user.check_password(DEMO_PASSWORD), username
        assert user.role == role
    admin = User.objects.get(username="admin")
    assert admin.is_staff
    assert admin.is_superuser
    assert all(User.objects.get(username=f"agent{i}").teams.exists() for i in range(1, 5))


@pytest.mark.django_db
def test_if_empty_is_a_noop_the_second_time_and_a_refusal_without_it() -> None:
    run_demo("--seed", "2", "--conversations", "10", "--if-empty")
    before = (Conversation.objects.count(), Message.objects.count(), User.objects.count())
    out = run_demo("--seed", "2", "--conversations", "10", "--if-empty")
    assert "already holds data" in out
    assert (Conversation.objects.count(), Message.objects.count(), User.objects.count()) == before
    with pytest.raises(CommandError, match="already holds data"):
        run_demo("--seed", "2", "--conversations", "10")


# -- --serve: running and stopping two processes -----------------------------------------------

PAUSE = [sys.executable, "-c", "import signal; signal.pause()"]


def test_when_one_process_exits_the_other_is_stopped() -> None:
    ended = run_together([("sleeper", PAUSE), ("quitter", [sys.executable, "-c", "exit(3)"])])
    assert ended == ("quitter", 3)


def test_sigterm_stops_both_processes_and_exits_cleanly() -> None:
    # The children share the parent's stdout: each writes its pid once it runs. One write()
    # per line: print() makes two when unbuffered, and the three processes' lines would mix.
    child = "import os, signal; os.write(1, b'%d\\n' % os.getpid()); signal.pause()"
    script = textwrap.dedent(
        f"""
        import os, sys
        from comptoir.demo.processes import run_together
        cmds = [(n, [sys.executable, "-c", {child!r}]) for n in ("serve", "worker")]
        ended = run_together(cmds, on_started=lambda: os.write(1, b"started\\n"))
        sys.exit(0 if ended is None else 1)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a failed test can then take the three processes down at once
    )
    try:
        assert parent.stdout is not None
        lines = [parent.stdout.readline().strip() for _ in range(3)]
        assert "" not in lines, f"output ended early: {lines}"
        assert "started" in lines
        pids = [int(line) for line in lines if line != "started"]
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=120) == 0  # a hang guard
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
        parent.communicate()


# -- the demo as a user starts it ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_served_demo_is_quiet_and_prints_its_logins_last_and_on_demand(
    subprocess_env: dict[str, str], tmp_path: Any
) -> None:
    port = _free_port()
    env = {**subprocess_env, "COMPTOIR_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("COMPTOIR_SITE_URL", None)
    env.pop("COMPTOIR_LOG_LEVEL", None)
    argv = [sys.executable, "-m", "comptoir.cli", "demo", "--serve", "--port", str(port)]
    demo = subprocess.Popen(
        [*argv, "--conversations", "30", "--days", "10", "--scale", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(300, os.killpg, args=(demo.pid, signal.SIGKILL))
    watchdog.start()
    try:
        assert demo.stdout is not None
        before: list[str] = []
        for line in demo.stdout:
            before.append(line)
            if "Ctrl-C stops the demo" in line:
                break
        banner = "".join(before)
        assert f"Comptoir demo on http://127.0.0.1:{port}/" in banner, banner
        assert "supervisor" in banner
        assert DEMO_PASSWORD in banner
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
        again = subprocess.run(
            [*argv[:4], "--logins"], env=env, capture_output=True, text=True, timeout=120
        )
        demo.send_signal(signal.SIGTERM)
        rest, _ = demo.communicate(timeout=120)
    finally:
        watchdog.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
    out = banner + rest
    assert demo.returncode == 0, out
    assert "Traceback" not in out
    assert "Task was destroyed" not in out
    # Quiet by default: the load's summary, the logins, and the stop; no request or task log.
    assert len(out.splitlines()) < 20, out
    assert f"http://127.0.0.1:{port}/" in again.stdout
    assert "agent1" in again.stdout
    # The demo's webhooks post to this server, not to port 8000.
    urls = set(Webhook.objects.values_list("url", flat=True))
    assert urls
    assert all(url.startswith(f"http://127.0.0.1:{port}/") for url in urls)


def _idle_until(client: IMAPClient, wanted: tuple[int, bytes]) -> list[Any]:
    """The untagged responses until `wanted` (flag updates may come first), or until the
    server says nothing for 30 s."""
    seen: list[Any] = []
    while wanted not in seen:
        got = client.idle_check(timeout=30)
        if not got:
            break
        seen += got
    return seen


def test_the_demo_mailbox_keeps_watching_through_a_garbage_collection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = MailboxSimulator().start()
    try:
        with IMAPClient(sim.host, port=sim.imap_port, ssl=False, timeout=30) as client:
            client.login(sim.user, sim.password)
            client.select_folder("INBOX", readonly=True)
            client.idle()
            # One turn of the server's loop: it has set up its IDLE tasks (right after the
            # "+ idling" the client just read).
            assert sim._loop is not None
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), sim._loop).result(timeout=30)
            gc.collect()  # what happens sooner or later in a long-running demo
            sim.deliver(b"From: a@example.fr\r\nSubject: Bonjour\r\n\r\nBonjour\r\n")
            seen = _idle_until(client, (1, b"EXISTS"))
            client.idle_done()
    finally:
        sim.stop()
    assert (1, b"EXISTS") in seen
    assert "Task was destroyed" not in caplog.text


# -- the simulated marketplaces know what the demo loaded ---------------------------------------


@pytest.mark.django_db
def test_a_reply_to_a_seeded_conversation_is_sent_through_each_marketplace_simulator(
    sleeps: list[float],
) -> None:
    from comptoir.connectors.management.commands.simulate import simulate_channel
    from comptoir.inbox import actions
    from comptoir.inbox.tasks import poll_channel, send_message

    run_demo("--seed", "4", "--conversations", "150", "--days", "20")
    supervisor = User.objects.get(username="supervisor")
    outcomes: dict[str, tuple[str, str]] = {}
    markets = []
    try:
        # Amazon's SP-API and Spartoo's web services read orders: buyers write by mail. (Meta's
        # channels and the live chat have no seeded thread: tests/test_meta.py and
        # tests/test_chat_browser.py cover their demo.)
        others = Channel.objects.exclude(
            kind__in=["email", "amazon", "spartoo", "chat", *META_KINDS]
        )
        for channel in others.order_by("pk"):
            market = simulate_channel(channel, seed=1)
            assert market is not None, channel.kind
            markets.append(market)
            threads = Conversation.objects.filter(channel=channel).exclude(external_thread_id="")
            newest = ("-last_message_at", "-pk")
            # One about an order, and one without (a question before buying) where there is.
            seeded = [
                threads.exclude(order_number="").order_by(*newest).first(),
                threads.filter(order_number="").order_by(*newest).first(),
            ]
            assert seeded[0] is not None, channel.name
            for conv in filter(None, seeded):
                reply = actions.reply(conv, actor=supervisor, text="Merci, nous regardons cela.")
                send_message.call(reply.pk)
                reply.refresh_from_db()
                state = (reply.delivery_state, reply.delivery_error)
                outcomes[channel.kind] = outcomes.get(channel.kind, state)
                if state[0] != DeliveryState.SENT:
                    outcomes[channel.kind] = state
            # The history the simulator learnt comes back on the next poll: stored once.
            before = Message.objects.filter(channel=channel).count()
            poll_channel.call(channel.pk)
            channel.refresh_from_db()
            assert channel.is_healthy, (channel.name, channel.last_error)
            assert Message.objects.filter(channel=channel).count() == before, channel.name
            assert [v for m in markets for v in m.simulator.violations] == []
    finally:
        for market in markets:
            market.simulator.stop()
    assert set(outcomes) == {"cdiscount", "fnac", "mirakl", "ebay", "rakuten"}
    assert outcomes == dict.fromkeys(outcomes, (DeliveryState.SENT, ""))


@pytest.mark.django_db
def test_a_live_amazon_conversation_gets_its_order_through_the_sp_api_channel(
    sleeps: list[float],
) -> None:
    from comptoir.connectors.management.commands.simulate import simulate_channel
    from comptoir.demo.buyers import Buyers
    from comptoir.inbox.tasks import poll_channel
    from comptoir.orders.tasks import order_channel, sync_order

    run_demo("--seed", "4", "--conversations", "20", "--days", "10")
    mailbox = Channel.objects.get(kind="email", marketplace="amazon")
    api = Channel.objects.get(kind="amazon", marketplace="amazon")
    markets = [simulate_channel(mailbox, seed=1), simulate_channel(api, seed=1)]
    try:
        assert markets[0] is not None
        before = set(Conversation.objects.values_list("pk", flat=True))
        markets[0].buyer_writes(Buyers("AMA", 3).write())
        poll_channel.call(mailbox.pk)
        (conv,) = Conversation.objects.exclude(pk__in=before)
        assert re.fullmatch(r"\d{3}-\d{7}-\d{7}", conv.order_number)
        reader = order_channel(mailbox)
        assert reader is not None
        assert reader.pk == api.pk
        assert sync_order.call(reader.pk, conv.order_number) == "stored"
    finally:
        for market in markets:
            if market is not None:
                market.simulator.stop()
    conv.refresh_from_db()
    assert conv.order is not None
    assert conv.order.external_id == conv.order_number
    assert conv.order.items


def test_new_fnac_demo_messages_are_dated_now_not_weeks_ago() -> None:
    from datetime import UTC, datetime, timedelta

    from comptoir.connectors.fnac.simulator import demo as fnac_demo
    from comptoir.demo.buyers import Buyers

    market = fnac_demo(None, 1)
    market.adopt([])  # as `comptoir simulate` does before starting it
    before = datetime.now(UTC)
    market.buyer_writes(Buyers("FNA", 1).write())

    (message,) = market.simulator.messages
    # Dated when written (the simulator's clock keeps a second of margin), not 20 days back.
    assert message.created_at >= before - timedelta(seconds=1)


@pytest.mark.django_db
def test_the_demo_has_photos_of_damaged_parcels_and_pdf_invoices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime

    from comptoir.demo import generate
    from comptoir.inbox import files
    from comptoir.inbox.models import Attachment

    # One day's demo: the demo's "now" is today's midnight, and each day's draw differs (the
    # 7 December 2026 one: 11 of 13 invoices with a conversation triage read as an invoice
    # request; the 8th's: 13 of 17, under the share below), where the shares need one sample.
    monkeypatch.setattr(generate, "reference_now", lambda: datetime(2026, 12, 6, 23, tzinfo=UTC))
    run_demo("--seed", "6", "--conversations", "200", "--days", "30")

    photos = Attachment.objects.filter(content_type="image/png", message__direction=Direction.IN)
    invoices = Attachment.objects.filter(
        content_type="application/pdf", message__direction=Direction.OUT
    )
    assert photos.exists()
    assert invoices.exists()
    # The intents are triage's reading of the buyers' words, no longer the demo's own: the
    # photos come with damaged parcels, the invoices with requests for one.
    damaged = photos.filter(message__intent="damaged_or_defective").count()
    assert damaged >= 0.8 * photos.count()
    asked = invoices.filter(message__conversation__intent="invoice").count()
    assert asked >= 0.8 * invoices.count()
    png = files.read_bytes(photos.first().sha256)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pdf = files.read_bytes(invoices.first().sha256)
    assert pdf.startswith(b"%PDF-1.4")
    # Each cross-reference entry points at its object, as a PDF reader looks them up.
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    entries = pdf[xref:].split(b"\n")[3:8]
    for number, entry in enumerate(entries, 1):
        assert pdf[int(entry[:10]) :].startswith(b"%d 0 obj" % number)
    assert invoices.first().filename.startswith("facture-")


@pytest.mark.django_db
def test_a_live_buyer_writing_about_a_damaged_parcel_sends_its_photo() -> None:
    from comptoir.connectors.management.commands.simulate import simulate_channel
    from comptoir.demo.buyers import Buyers
    from comptoir.inbox.models import Attachment
    from comptoir.inbox.tasks import poll_channel

    run_demo("--seed", "4", "--conversations", "10", "--days", "10")
    buyers = Buyers("SHO", 5)
    written = next(w for w in (buyers.write() for _ in range(500)) if w.attachments)
    mailbox = Channel.objects.get(kind="email", marketplace="shop")
    market = simulate_channel(mailbox, seed=1)
    assert market is not None
    stored = set(Message.objects.values_list("pk", flat=True))
    try:
        market.buyer_writes(written)
        poll_channel.call(mailbox.pk)
    finally:
        market.simulator.stop()

    (new,) = Message.objects.exclude(pk__in=stored)
    (photo,) = Attachment.objects.filter(message=new)
    assert photo.content_type == "image/png"
    assert photo.filename == "photo_colis.png"
