"""Mailboxes on localhost for the demo: buyers' mail lands in an IMAP server, answers leave by
an SMTP server, and the email connector talks to both as it would to a real provider.

The IMAP server is pymap's in-memory backend, run in this process on its own event loop; the
SMTP server is aiosmtpd. A mailbox can stand for a shop's own address or for a marketplace's
relay (Amazon's Buyer-Seller Messaging: anonymised buyer aliases, the order in the subject).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import socket
import threading
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from imapclient import IMAPClient

START_TIMEOUT = 30.0

# The demo's mail servers come with the `demo` extra, not with Comptoir itself.
DEMO_PACKAGES = ("pymap", "aiosmtpd")
INSTALL_HINT = "install them with: pip install 'comptoir[demo]' (`make demo` does)"


def missing_demo_packages() -> list[str]:
    return [name for name in DEMO_PACKAGES if importlib.util.find_spec(name) is None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MailboxSimulator:
    name = "mailbox"

    def __init__(self, *, user: str = "boutique", password: str = "demo-password") -> None:
        self.user = user
        self.password = password
        self.host = "127.0.0.1"
        self.imap_port = _free_port()
        self.smtp_port = _free_port()
        self.received: list[tuple[str, list[str], bytes]] = []  # what the SMTP server took
        self.violations: list[str] = []  # the simulators' common surface (nothing to check)
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._smtp: Any = None

    @property
    def url(self) -> str:
        return f"imap://{self.host}:{self.imap_port}"

    def start(self) -> MailboxSimulator:
        missing = missing_demo_packages()
        if missing:
            raise RuntimeError(f"the demo mailboxes need {' and '.join(missing)}: {INSTALL_HINT}")
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve_imap()), name="sim-imap", daemon=True
        )
        self._thread.start()
        # Set by the server thread once it listens (or failed): no polling of the port.
        if not self._ready.wait(START_TIMEOUT) or self._failed is not None:
            raise RuntimeError(f"the demo IMAP server did not start: {self._failed}")
        from aiosmtpd.controller import Controller

        self._smtp = Controller(self, hostname=self.host, port=self.smtp_port)
        self._smtp.start()  # returns once the server answers
        return self

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _serve_imap(self) -> None:
        from pymap.imap import IMAPService

        # pymap leaves a connection's tasks referenced only by one another: the first garbage
        # collection during an IDLE destroys them ("Task was destroyed but it is pending!",
        # then a traceback) and the watching client hears nothing more. Hold every task until
        # it is done.
        loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Future[Any]] = set()

        def keep(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
            task = asyncio.Task(coro, loop=loop, **kwargs)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return task

        loop.set_task_factory(keep)
        try:
            args = _pymap_args(self.host, self.imap_port, self.user, self.password)
            backend, config = await args.backend_type.init(args)
            config.apply_context()
            service = IMAPService(backend, config)
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            async with AsyncExitStack() as stack:
                await backend.start(stack)
                await service.start(stack)
                self._ready.set()
                await self._stop.wait()
                # Connections still open (a worker's IDLE) end here, not half-way through
                # the loop's own shutdown, which would print their tracebacks.
                others = [
                    task for task in asyncio.all_tasks() if task is not asyncio.current_task()
                ]
                for task in others:
                    task.cancel()
                await asyncio.gather(*others, return_exceptions=True)
        except BaseException as exc:  # reported by start(), in the caller's thread
            self._failed = exc
            self._ready.set()

    # aiosmtpd handler: keep what the connector sends.
    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"

    def deliver(self, raw: bytes) -> None:
        """Put one message in the mailbox, as the provider's mail server would."""
        with IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10) as client:
            client.login(self.user, self.password)
            client.append("INBOX", raw)


def _pymap_args(host: str, port: int, user: str, password: str) -> argparse.Namespace:
    """pymap's own command-line parser, so its backend gets every option it expects."""
    from pymap.backend import backends
    from pymap.service import services

    parser = argparse.ArgumentParser(prog="pymap")
    parser.add_argument("--debug", action="store_true")
    subparsers = parser.add_subparsers(dest="backend", required=True)
    for name, backend_type in backends.items():
        subparser = backend_type.add_subparser(name, subparsers)
        subparser.set_defaults(backend_type=backend_type)
    for service_type in services.values():
        service_type.add_arguments(parser)
    parser.set_defaults(skip_services=[], passlib_cfg=None, set_uid=None, set_gid=None)
    options = ["--host", host, "--port", str(port), "--no-tls"]
    return parser.parse_args([*options, "dict", "--demo-user", user, "--demo-password", password])


class _Demo:
    """A shop mailbox, or Amazon's relay to one, where buyers keep writing."""

    def __init__(self, channel: Any, seed: int) -> None:
        self.channel = channel
        self.amazon = channel.marketplace == "amazon"
        self.spartoo = channel.marketplace == "spartoo"
        self.simulator = MailboxSimulator()
        self.last_id: dict[str, str] = {}  # order -> the buyer's latest Message-ID
        self.aliases: dict[str, str] = {}

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "imap_host": sim.host,
            "imap_port": sim.imap_port,
            "imap_security": "none",
            "username": sim.user,
            "password": sim.password,
            "smtp_host": sim.host,
            "smtp_port": sim.smtp_port,
            "smtp_security": "none",
            "from_address": "contact@boutique.example",
            "from_name": self.channel.shop.name,
        }

    def adopt(self, threads: list[Any]) -> None:
        """Nothing to know: a reply by mail goes to the buyer's address, whatever the mailbox
        holds."""

    def buyer_writes(self, written: Any) -> None:
        msg = EmailMessage()
        digest = hashlib.sha256(written.customer_id.encode()).hexdigest()
        if self.amazon:
            alias = self.aliases.setdefault(written.customer_id, digest[:16])
            number = int(digest[16:30], 16)
            order = f"40{number % 10}-{number % 10**7:07d}-{number // 10**7 % 10**7:07d}"
            msg["From"] = f"{written.customer_name} - Amazon <{alias}@marketplace.amazon.fr>"
            subject = f"Demande de renseignements de la part du client (Commande : {order})"
        elif self.spartoo:  # Spartoo's mail about the buyer's message (spartoo_mail.py)
            order = str(10**7 + int(digest[:12], 16) % (9 * 10**7))
            msg["From"] = "Spartoo Marketplace <marketplace@spartoo.com>"
            msg["Reply-To"] = f"{written.customer_name} <msg-{digest[:10]}@messagerie.spartoo.fr>"
            subject = (
                f"Nouveau message de {written.customer_name} concernant la commande n° {order}"
            )
            text = (
                f"Bonjour,\n\nVous avez reçu un nouveau message de {written.customer_name} "
                f"concernant la commande n° {order}.\n\nMessage du client :\n{'-' * 40}\n"
                f"{written.text}\n{'-' * 40}\n\nPour répondre à ce client, répondez directement "
                "à cet e-mail.\n\nL'équipe Spartoo Marketplace\n"
            )
        else:
            first, _, last = written.customer_name.lower().partition(" ")
            msg["From"] = f"{written.customer_name} <{first}.{last.replace(' ', '')}@example.fr>"
            subject = written.subject
        msg["To"] = "contact@boutique.example"
        msg["Subject"] = f"Re: {subject}" if written.follow_up else subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(domain="example.fr")
        earlier = self.last_id.get(written.order_id)
        if written.follow_up and earlier:
            msg["In-Reply-To"] = earlier
            msg["References"] = earlier
        self.last_id[written.order_id] = msg["Message-ID"]
        msg.set_content(text if self.spartoo else written.text)
        for filename, content_type, data in written.attachments:
            maintype, _, subtype = content_type.partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        self.simulator.deliver(msg.as_bytes())


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
