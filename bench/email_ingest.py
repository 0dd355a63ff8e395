"""Email ingest end to end: messages in a real dovecot mailbox, polled, parsed and stored.

    .venv/bin/python bench/email_ingest.py [-n 10000]

Starts a private dovecot (as the tests do; needs root and Debian's dovecot-imapd), fills one
mailbox with N realistic messages (a third of them replies, some HTML, 5 % with a photo or a
PDF), then times `poll_channel` (IMAP fetch, MIME parsing, ingest in batches) on a fresh SQLite
database. Target on this 2-core machine: >= 200 messages/s.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 200

PHRASES = [
    "Bonjour, je n'ai toujours pas reçu ma commande, pouvez-vous me donner le suivi ?",
    "Hello, the item arrived damaged, the box was crushed. What can you do?",
    "Guten Tag, ich möchte den Artikel zurücksenden. Wie funktioniert das?",
    "Hola, ¿pueden enviarme la factura de mi pedido, por favor?",
    "Buongiorno, vorrei annullare l'ordine se non è ancora stato spedito.",
]


def messages(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=20)
    ids: list[str] = []
    out = []
    for i in range(n):
        msg = EmailMessage()
        buyer = rng.randrange(max(1, n // 3))
        msg["From"] = f"Buyer {buyer} <buyer{buyer}@example.fr>"
        msg["To"] = "contact@maison-lumiere.fr"
        msg["Date"] = format_datetime(start + timedelta(seconds=i * 60))
        msg["Message-ID"] = make_msgid(idstring=str(i), domain="example.fr")
        order = f"{100 + buyer % 900:03d}-{buyer:07d}-{i % 9999999:07d}"
        if ids and rng.random() < 0.33:
            parent = rng.choice(ids[-200:])
            msg["Subject"] = "Re: ma commande"
            msg["In-Reply-To"] = parent
            msg["References"] = parent
        else:
            msg["Subject"] = f"Commande {order}"
        ids.append(msg["Message-ID"])
        body = "\n\n".join(rng.choice(PHRASES) for _ in range(rng.randint(1, 12)))
        msg.set_content(body)
        if rng.random() < 0.4:
            msg.add_alternative(f"<html><body><p>{body}</p></body></html>", subtype="html")
        if rng.random() < 0.05:
            kind = rng.choice(
                [("image", "jpeg", "photo.jpg"), ("application", "pdf", "facture.pdf")]
            )
            msg.add_attachment(
                rng.randbytes(rng.randint(20_000, 400_000)),
                maintype=kind[0],
                subtype=kind[1],
                filename=kind[2],
            )
        out.append(msg.as_bytes())
    return out


def fill_maildir(maildir: Path, raws: list[bytes]) -> None:
    """Straight into the maildir, as a local delivery agent writes it (APPEND is much slower)."""
    new = maildir / "new"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(raws):
        (new / f"{1_700_000_000 + i}.M{i}P1.bench").write_bytes(raw)
    subprocess.run(["chown", "-R", "dovecot:dovecot", str(maildir)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="messages (10000)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT))
    from tests.mailservers import Dovecot, dovecot_missing

    if why := dovecot_missing():
        raise SystemExit(f"cannot run: {why}")
    data = Path(tempfile.mkdtemp(prefix="comptoir-bench-"))
    os.environ.update(
        COMPTOIR_DATA_DIR=str(data / "var"),
        DATABASE_URL="",
        COMPTOIR_TASKS_BACKEND="immediate",
        COMPTOIR_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="comptoir.settings",
    )
    server = Dovecot(Path(tempfile.mkdtemp(prefix="comptoir-dovecot-")))
    server.start()
    try:
        raws = messages(args.n)
        size = sum(map(len, raws))
        fill_maildir(server.tmp / "mail" / "bench", raws)  # the user's INBOX
        import django

        django.setup()
        from django.core.management import call_command

        from comptoir.inbox.models import Channel, Message, Shop
        from comptoir.inbox.tasks import poll_channel

        call_command("migrate", verbosity=0)
        shop = Shop.objects.create(name="Bench", slug="bench")
        channel = Channel(shop=shop, kind="email", marketplace="shop", name="bench")
        channel.set_settings(
            {
                "imap_host": server.host,
                "imap_port": server.port,
                "imap_security": "none",
                "username": "bench",
                "password": "secret",
            }
        )
        channel.save()
        t0 = time.perf_counter()
        poll_channel.call(channel.pk)
        elapsed = time.perf_counter() - t0
        stored = Message.objects.count()
        channel.refresh_from_db()
        assert stored == args.n, (stored, channel.last_error)
    finally:
        server.stop()
        shutil.rmtree(server.tmp, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    rate = args.n / elapsed
    print(f"email ingest benchmark: {args.n} messages ({size / 1e6:.0f} MB) from dovecot, SQLite")
    print(f"{elapsed:.1f} s, {rate:,.0f} messages/s (target >= {TARGET})")
    print("target met" if rate >= TARGET else "below target")


if __name__ == "__main__":
    main()
