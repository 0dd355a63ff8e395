"""Big mail: a mailbox of N mails of ~14 MB (a large attachment each), polled by a worker.

    .venv/bin/python bench/email_big.py [-n 100] [--megabytes 14]

Starts a private dovecot (as the tests do; needs root and Debian's dovecot-imapd), writes N
mails straight into one maildir, then runs the real poll (`poll_channel`: IMAP fetch, MIME
parsing, ingest) in a child process on a fresh SQLite database, and prints:

- the child's peak RSS (VmHWM), against the target of < 300 MB;
- the bytes stored on disk (content-addressed files and database) against the mail's bytes;
- when the first message became visible (a second connection sees it in the database) against
  when the last mail was fetched from the server: the first must come before the last.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_RSS_MB = 300


def big_mail(i: int, megabytes: float) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Buyer {i} <buyer{i}@example.fr>"
    msg["To"] = "contact@maison-lumiere.fr"
    msg["Subject"] = f"Photos du colis abîmé, commande {1000 + i}"
    msg["Date"] = format_datetime(__import__("datetime").datetime.now().astimezone())
    msg["Message-ID"] = make_msgid(idstring=str(i), domain="example.fr")
    msg.set_content("Bonjour,\n\nvoici les photos du colis arrivé abîmé.\n\nCordialement")
    # Base64 makes 4 characters of 3 bytes: the attachment that makes a mail of this size.
    size = int(megabytes * 1_000_000 * 3 / 4)
    msg.add_attachment(os.urandom(size), maintype="video", subtype="mp4", filename="colis.mp4")
    return msg.as_bytes()


def fill_maildir(maildir: Path, n: int, megabytes: float) -> int:
    """Straight into the maildir, one mail at a time (never all in memory); returns the bytes."""
    new = maildir / "new"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(n):
        raw = big_mail(i, megabytes)
        (new / f"{1_700_000_000 + i}.M{i}P1.bench").write_bytes(raw)
        total += len(raw)
    subprocess.run(["chown", "-R", "dovecot:dovecot", str(maildir)], check=True)
    return total


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def child(host: str, port: int, user: str) -> None:
    """The poll, in a process of its own so that its peak RSS is the poll's."""
    import django

    django.setup()
    import imapclient
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from comptoir.inbox.models import Channel, Message, Shop
    from comptoir.inbox.tasks import poll_channel

    call_command("migrate", verbosity=0)
    shop = Shop.objects.create(name="Bench", slug="bench")
    channel = Channel(shop=shop, kind="email", marketplace="shop", name="bench")
    channel.set_settings(
        {
            "imap_host": host,
            "imap_port": port,
            "imap_security": "none",
            "username": user,
            "password": "secret",
            "idle": False,
            "max_attachment_bytes": 100_000_000,
        }
    )
    channel.save()
    before = disk_bytes(settings.DATA_DIR)

    fetched_at: list[float] = []
    real_fetch = imapclient.IMAPClient.fetch

    def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = real_fetch(self, *args, **kwargs)
        if any(b"BODY[]" in data for data in answer.values()):
            fetched_at.append(time.perf_counter())
        return answer

    imapclient.IMAPClient.fetch = fetch  # type: ignore[method-assign]

    visible_at: list[float] = []
    done = threading.Event()

    def watch() -> None:
        # Another connection, as an agent's browser would read: what is committed.
        try:
            while not done.wait(0.05):
                if Message.objects.exists():
                    visible_at.append(time.perf_counter())
                    return
        finally:
            connections.close_all()

    watcher = threading.Thread(target=watch)
    watcher.start()
    t0 = time.perf_counter()
    poll_channel.call(channel.pk)
    elapsed = time.perf_counter() - t0
    done.set()
    watcher.join()
    stored = Message.objects.count()
    channel.refresh_from_db()
    hwm_kb = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm_kb = int(line.split()[1])
    connections.close_all()
    print(
        json.dumps(
            {
                "stored": stored,
                "error": channel.last_error,
                "seconds": elapsed,
                "peak_rss_mb": hwm_kb / 1024,
                "disk_bytes": disk_bytes(settings.DATA_DIR) - before,
                "first_visible": (visible_at[0] - t0) if visible_at else None,
                "last_fetched": (fetched_at[-1] - t0) if fetched_at else None,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="mails (100)")
    parser.add_argument("--megabytes", type=float, default=14.0, help="size of each (14)")
    parser.add_argument(
        "--child", nargs=3, metavar=("HOST", "PORT", "USER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT))
    if args.child:
        host, port, user = args.child
        child(host, int(port), user)
        return
    from tests.mailservers import Dovecot, dovecot_missing

    if why := dovecot_missing():
        raise SystemExit(f"cannot run: {why}")
    data = Path(tempfile.mkdtemp(prefix="comptoir-bench-"))
    server = Dovecot(Path(tempfile.mkdtemp(prefix="comptoir-dovecot-")))
    server.start()
    try:
        mail_bytes = fill_maildir(server.tmp / "mail" / "bench", args.n, args.megabytes)
        env = {
            **os.environ,
            "COMPTOIR_DATA_DIR": str(data),
            "DATABASE_URL": "",
            "COMPTOIR_TASKS_BACKEND": "immediate",
            "COMPTOIR_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "comptoir.settings",
            "COMPTOIR_MAX_ATTACHMENT_BYTES": str(100_000_000),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        }
        proc = subprocess.run(
            [sys.executable, __file__, "--child", server.host, str(server.port), "bench"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"the poll failed:\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
        shutil.rmtree(server.tmp, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    n = args.n
    print(f"big mail benchmark: {n} mails of {args.megabytes:g} MB ({mail_bytes / 1e6:,.0f} MB)")
    print(f"stored {result['stored']} of {n} in {result['seconds']:.1f} s {result['error']}")
    rss = result["peak_rss_mb"]
    verdict = "target met" if rss < TARGET_RSS_MB else "over target"
    print(f"peak RSS of the polling process: {rss:,.0f} MB (target < {TARGET_RSS_MB}: {verdict})")
    disk = result["disk_bytes"]
    print(f"stored on disk: {disk / 1e6:,.0f} MB, {disk / mail_bytes:.2f}x the mail's bytes")
    first, last = result["first_visible"], result["last_fetched"]
    print(
        f"first message visible after {first:.1f} s, last mail fetched after {last:.1f} s: "
        + ("first visible before the last fetched" if first < last else "NOT before")
        if first is not None and last is not None
        else f"first visible: {first}, last fetched: {last}"
    )


if __name__ == "__main__":
    main()
