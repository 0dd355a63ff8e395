"""Real mail servers for the tests: a private dovecot (IMAP) in a temporary directory.

Started once per test process (one per xdist worker), on a free port; every user logs in with
the password `secret` and gets an empty maildir. Nothing system-wide is touched.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

PASSWORD = "secret"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
# TLS on the imaps port and by STARTTLS, with a self-signed certificate made for the run.
ssl = yes
ssl_cert = <{tmp}/cert.pem
ssl_key = <{tmp}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth_mechanisms}
mail_location = maildir:{tmp}/mail/%u
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 1
# No delay after a failed login (a test checks one), no penalty for the next ones.
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
{oauth_passdb}passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={tmp}/mail/%u
}}
"""


def dovecot_missing() -> str:
    """Why dovecot cannot run here, or '' when it can."""
    if shutil.which("dovecot") is None:
        return "dovecot is not installed (Debian package dovecot-imapd)"
    if os.geteuid() != 0:
        return "dovecot for tests needs root (it runs its processes as the dovecot user)"
    return ""


def self_signed_certificate(cert_path: Path, key_path: Path, host: str = "127.0.0.1") -> None:
    """A certificate no one trusts, for testing TLS both with and without verification."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "comptoir-tests")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# XOAUTH2 logins (dovecot 2.3's oauth2 passdb): the bearer token is checked by RFC 7662
# introspection at the tests' fake authorisation server, and must name the user logging in.
OAUTH_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {tmp}/dovecot-oauth2.conf.ext
}}
"""
OAUTH_CONF = """\
introspection_mode = post
introspection_url = {url}
username_attribute = email
active_attribute = active
active_value = true
"""


class Dovecot:
    def __init__(self, tmp: Path, *, introspection_url: str = "") -> None:
        """`introspection_url`: also accept XOAUTH2 logins, their tokens checked there."""
        self.introspection_url = introspection_url
        self.tmp = tmp
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_port = free_port()

    def start(self) -> None:
        for sub in ("run", "state", "mail"):
            (self.tmp / sub).mkdir(parents=True, exist_ok=True)
        self.tmp.chmod(0o755)
        conf = self.tmp / "dovecot.conf"
        self_signed_certificate(self.tmp / "cert.pem", self.tmp / "key.pem")
        oauth = bool(self.introspection_url)
        if oauth:
            (self.tmp / "dovecot-oauth2.conf.ext").write_text(
                OAUTH_CONF.format(url=self.introspection_url)
            )
        conf.write_text(
            CONFIG.format(
                tmp=self.tmp,
                port=self.port,
                tls_port=self.tls_port,
                password=PASSWORD,
                oauth_mechanisms=" xoauth2 oauthbearer" if oauth else "",
                oauth_passdb=OAUTH_PASSDB.format(tmp=self.tmp) if oauth else "",
            )
        )
        shutil.chown(self.tmp / "mail", "dovecot", "dovecot")
        # Returns once the master has bound its listeners and gone to the background. Its
        # output goes to a file: a pipe would stay open in the daemon and never end.
        with (self.tmp / "start.log").open("wb") as log:
            done = subprocess.run(["dovecot", "-c", str(conf)], stdout=log, stderr=log, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"dovecot did not start: {(self.tmp / 'start.log').read_text()}")

    def stop(self) -> None:
        pid_file = self.tmp / "run" / "master.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, PASSWORD)
        return client

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        """Put one message in a mailbox, as an MTA would."""
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw)


class SMTPServer:
    """A real SMTP server (aiosmtpd) that keeps what it receives, for this test process."""

    def __init__(self, **smtp_options: Any) -> None:
        from aiosmtpd.controller import Controller

        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse: dict[str, str] = {}  # recipient -> SMTP reply, e.g. "550 no such user"
        # recipient -> the IMAP mailbox it lands in, as a real MTA would deliver it
        self.mailboxes: dict[str, tuple[Dovecot, str]] = {}
        self.port = free_port()
        self.tls_port = free_port()  # SMTPS: TLS from the first byte (port 465's way)
        self.host = "127.0.0.1"
        # STARTTLS offered (not required) with a self-signed certificate.
        self.tmp = Path(tempfile.mkdtemp(prefix="comptoir-smtp-"))
        self_signed_certificate(self.tmp / "cert.pem", self.tmp / "key.pem")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.tmp / "cert.pem", self.tmp / "key.pem")
        self.controller = Controller(
            self, hostname=self.host, port=self.port, tls_context=context, **smtp_options
        )
        self.tls_controller = Controller(
            self, hostname=self.host, port=self.tls_port, ssl_context=context, **smtp_options
        )

    async def handle_RCPT(
        self, server: object, session: object, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.mailboxes:
                dovecot, user = self.mailboxes[rcpt]
                dovecot.deliver(user, envelope.original_content)
        return "250 Message accepted"

    def start(self) -> None:
        self.controller.start()
        self.tls_controller.start()

    def stop(self) -> None:
        self.controller.stop()
        self.tls_controller.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class XOAuth2SMTPServer(SMTPServer):
    """An SMTP server that takes mail only after AUTH XOAUTH2 with a bearer token `valid`
    accepts for that user (as Microsoft's and Google's: PLAIN and LOGIN are not offered)."""

    def __init__(self, valid: Callable[[str, str], bool]) -> None:
        self.valid = valid
        self.logins: list[tuple[str, str]] = []  # (user, token) accepted
        self.refused: list[tuple[str, str]] = []
        super().__init__(
            auth_required=True,
            auth_require_tls=False,  # tests talk in clear on 127.0.0.1
            auth_exclude_mechanism=["PLAIN", "LOGIN"],
        )

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        from aiosmtpd.smtp import AuthResult

        if len(args) == 2:
            blob = base64.b64decode(args[1])
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = answer
        fields = dict(part.split("=", 1) for part in blob.decode().split("\x01") if "=" in part)
        user, bearer = fields.get("user", ""), fields.get("auth", "")
        token = bearer.removeprefix("Bearer ")
        if bearer.startswith("Bearer ") and self.valid(user, token):
            self.logins.append((user, token))
            return AuthResult(success=True, auth_data=user)
        self.refused.append((user, token))
        # RFC-style refusal: the error as a challenge, the client's empty answer, then 535.
        error = json.dumps({"status": "401", "schemes": "bearer"})
        await server.challenge_auth(error)
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and token not accepted"
        )
