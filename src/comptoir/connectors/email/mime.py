"""One RFC 5322 message (bytes) → an InboundMessage.

Parsed with the `compat32` policy, which is several times faster than `policy.default`. Only the
headers we use are decoded. Broken input never raises: a wrong charset label falls back to
UTF-8, then to Windows-1252, and a missing or absurd date becomes the time of reception.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email
import hashlib
import html as html_lib
import re
import secrets
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any
from urllib.parse import unquote_to_bytes

import nh3

from comptoir.connectors.base import InboundAttachment, InboundMessage, Party
from comptoir.connectors.email import spartoo_mail, tokens
from comptoir.lib import quotes
from comptoir.lib.order_numbers import AMAZON_ORDER, SHOP_ORDER

# "You have a new message" mail from a marketplace whose messages Comptoir reads by API: the
# message itself is fetched from the API, so the mail only says "poll now".
_NOTIFIER_LOCAL = (
    r"(?:no-?reply|noreply-[\w.-]+|notifications?|ne-?pas-?repondre|messag(?:es?|erie)|ebay)"
)
NOTIFIERS = [
    (name, re.compile(rf"^{_NOTIFIER_LOCAL}@(?:[\w-]+\.)*{domain}$"))
    for name, domain in [
        ("darty", r"darty\.com"),
        ("boulanger", r"boulanger\.(?:com|fr)"),
        ("conforama", r"conforama\.fr"),
        ("leroymerlin", r"leroymerlin\.fr"),
        ("carrefour", r"carrefour\.(?:fr|com)"),
        ("fnac", r"fnac\.com"),
        ("cdiscount", r"(?:cdiscount|octopia)\.com"),
        ("rakuten", r"rakuten\.(?:fr|com)"),
        ("ebay", r"ebay\.(?:com|fr|de|it|es|co\.uk)"),
        ("mirakl", r"mirakl\.(?:net|com)"),
    ]
]
# Marketplaces that relay buyer mail through an address of their own, one alias per buyer.
RELAYS = [
    (
        "amazon",
        re.compile(
            r"@marketplace\.amazon\.(?:com|ca|com\.mx|com\.br|co\.uk|fr|de|it|es|nl|se|pl"
            r"|com\.be|com\.tr|ae|sa|eg|in|co\.jp|sg|com\.au|ie)$"
        ),
    ),
    ("cdiscount", re.compile(r"@(?:[a-z0-9-]+\.)?(?:cdiscount|octopia)\.com$")),
]
_MSG_ID = re.compile(r"<[^<>\s]+>")
_AUTO_PRECEDENCE = {"bulk", "list", "junk", "auto_reply"}


def header(msg: Message, name: str) -> str:
    """A header decoded (RFC 2047), unfolded; '' when absent or undecodable."""
    value = _raw_header(msg, name)
    if value is None:
        return ""
    if _SMUGGLED_BYTES.search(value):
        value = _decode_8bit(value, msg)
    try:
        text = str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        text = value
    return " ".join(text.split())


# The parser keeps a header's undeclared 8-bit bytes as lone surrogates (surrogateescape).
_SMUGGLED_BYTES = re.compile("[\udc80-\udcff]")


def _raw_header(msg: Message, name: str) -> str | None:
    # `msg.get` would turn undeclared 8-bit bytes into U+FFFD; the raw value still has them.
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return str(value)
    return None


def _decode_8bit(value: str, msg: Message) -> str:
    """A header sent as raw 8-bit bytes, with no RFC 2047 label: most mailers that do this
    write UTF-8; the others write in the charset of their body, or Windows-1252."""
    data = value.encode("ascii", "surrogateescape")
    for charset in ("utf-8", _body_charset(msg), "cp1252"):
        if not charset:
            continue
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")  # cannot fail: every byte is a character


def _body_charset(msg: Message) -> str:
    for part in msg.walk():
        charset = part.get_content_charset()
        if charset:
            return str(charset)
    return ""


def message_ids(value: str) -> list[str]:
    return _MSG_ID.findall(value or "")


def is_automatic(msg: Message) -> bool:
    """Auto-replies, bulk mail and delivery reports: never answered automatically."""
    auto = header(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if header(msg, "Precedence").lower() in _AUTO_PRECEDENCE:
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Auto-Response-Suppress"):
        return True
    return msg.get_content_type() == "multipart/report"


def bounce_of(msg: Message) -> dict[str, str] | None:
    """What a delivery status notification (RFC 3464) says of the message it returns: its
    Message-ID, the recipient, the action ("failed", "delayed"...), the status and the reason."""
    if msg.get_content_type() != "multipart/report":
        return None
    if str(msg.get_param("report-type") or "").lower() != "delivery-status":
        return None
    found = {"original_message_id": "", "recipient": "", "action": "", "status": "", "reason": ""}
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                for key, name in (
                    ("recipient", "Final-Recipient"),
                    ("action", "Action"),
                    ("status", "Status"),
                    ("reason", "Diagnostic-Code"),
                ):
                    value = " ".join(str(block.get(name, "")).split())
                    if value and not found[key]:
                        found[key] = value
        elif (
            ctype in ("message/rfc822", "text/rfc822-headers") and not found["original_message_id"]
        ):
            if ctype == "message/rfc822":
                inner = part.get_payload()
                original = inner[0] if isinstance(inner, list) and inner else None
            else:
                original = email.message_from_string(decode_part(part))
            if isinstance(original, Message):
                found["original_message_id"] = (
                    message_ids(header(original, "Message-ID")) or [""]
                )[0]
    found["recipient"] = found["recipient"].split(";")[-1].strip()
    found["action"] = found["action"].lower()
    found["reason"] = found["reason"].split(";", 1)[-1].strip() if found["reason"] else ""
    return found


# The stdlib parser holds a message as lines of text: a 14 MB mail took 120 MB to parse. Big
# base64 bodies (attachments) are taken out of the bytes before parsing, a marker line left in
# their place, and decoded straight from the original bytes when their part is read.
_BASE64_LINES = re.compile(
    rb"(?m)^(?:[A-Za-z0-9+/=]{40,998}+\r?\n)++(?:[A-Za-z0-9+/=]{1,998}+\r?\n)?+"
)
_BLOB_MIN_BYTES = 64_000
_blobs: ContextVar[tuple[str, bytes, list[tuple[int, int]]] | None] = ContextVar(
    "comptoir_mime_blobs", default=None
)


def _take_out_blobs(raw: bytes) -> tuple[bytes, str, list[tuple[int, int]]]:
    """The bytes to parse, the marker (random: a mail cannot forge it) and the blobs' spans."""
    spans = [
        found.span()
        for found in _BASE64_LINES.finditer(raw)
        if found.end() - found.start() >= _BLOB_MIN_BYTES
    ]
    if not spans:
        return raw, "", []
    mark = f"comptoir-blob-{secrets.token_hex(8)}-"
    pieces, pos = [], 0
    for number, (start, end) in enumerate(spans):
        pieces += [raw[pos:start], f"{mark}{number}\r\n".encode()]
        pos = end
    pieces.append(raw[pos:])
    return b"".join(pieces), mark, spans


def payload_bytes(part: Message) -> bytes | None:
    """A leaf part's decoded bytes (None for a multipart)."""
    blobs = _blobs.get()
    body = part.get_payload()
    if blobs and isinstance(body, str) and blobs[0] in body:
        mark, raw, spans = blobs
        number, _, rest = body[len(mark) :].partition("\n")
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if cte == "base64" and body.startswith(mark) and not rest.strip():
            start, end = spans[int(number.strip())]
            return binascii.a2b_base64(memoryview(raw)[start:end])  # (newlines are skipped)
        # Not base64 after all (quoted-printable...), or more around it: the part as it was.
        part.set_payload(
            re.sub(
                re.escape(mark) + r"(\d+)\r\n",
                lambda found: raw[slice(*spans[int(found[1])])].decode("ascii"),
                body,
            )
        )
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else None


def decode_part(part: Message) -> str:
    payload = payload_bytes(part)
    if not isinstance(payload, bytes):
        return ""
    declared = part.get_content_charset() or ""
    for charset in (declared, "utf-8", "cp1252"):
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")  # cannot fail: every byte is a character


# An image pasted into a mail (a screenshot) often travels inside the HTML as a data: URI, which
# can make the HTML megabytes long. Such an image becomes an attachment, and the HTML names it.
_DATA_IMAGE = re.compile(
    r"""\bsrc\s*=\s*(["']?)data:(image/[a-z0-9.+-]+)((?:;[a-z0-9=._-]*)*),""", re.IGNORECASE
)
_MAX_INLINE_IMAGES = 50


def extract_data_images(markup: str) -> tuple[str, list[tuple[str, str, bytes]]]:
    """The HTML with its `data:` images replaced by `cid:` references, and those images as
    (content id, content type, bytes)."""
    if "data:" not in markup:
        return markup, []
    images: list[tuple[str, str, bytes]] = []
    out: list[str] = []
    pos = 0
    for found in _DATA_IMAGE.finditer(markup):
        if found.start() < pos or len(images) >= _MAX_INLINE_IMAGES:
            continue
        quote, ctype, params = found.group(1), found.group(2).lower(), found.group(3).lower()
        start = found.end()
        if quote:
            end = markup.find(quote, start)
        else:
            ends = re.compile(r"[\s>]").search(markup, start)
            end = ends.start() if ends else -1
        if end < 0:
            end = len(markup)  # cut off: what there is of the image is still the image
        payload = markup[start:end]
        try:
            data = (
                base64.b64decode("".join(payload.split()) + "==")
                if ";base64" in params
                else unquote_to_bytes(payload)
            )
        except (binascii.Error, ValueError):
            continue
        content_id = f"pasted-{len(images) + 1}.{hashlib.sha256(data).hexdigest()[:16]}@comptoir"
        images.append((content_id, ctype, data))
        out.append(markup[pos : found.start()])
        out.append(f'src="cid:{content_id}"')
        pos = end + (1 if quote and end < len(markup) else 0)
    out.append(markup[pos:])
    return "".join(out), images


def html_to_text(markup: str) -> str:
    text = nh3.clean(re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", markup), tags=set())
    return re.sub(r"\n{3,}", "\n\n", html_lib.unescape(text)).strip()


def _attachment(
    filename: str,
    ctype: str,
    data: bytes,
    *,
    content_id: str,
    inline: bool,
    max_bytes: int | None,
    store: Callable[[bytes], str] | None,
) -> InboundAttachment:
    dropped, sha256 = "", ""
    if max_bytes is not None and len(data) > max_bytes:
        # Never decompressed or opened, only counted: a zip bomb is just its own bytes.
        dropped = (
            f"not kept: {len(data):,} bytes, over this mailbox's "
            f"{max_bytes:,}-byte limit (the original mail has it)"
        )
    elif store is not None and data:
        sha256 = store(data)  # written now, referred to from here on: never carried around
    return InboundAttachment(
        filename=filename,
        content_type=ctype,
        data=b"" if dropped or sha256 else data,
        content_id=content_id[:255],
        inline=inline,
        dropped_reason=dropped,
        size=len(data),
        sha256=sha256,
    )


def _filename(part: Message) -> str:
    name = part.get_filename() or ""
    with contextlib.suppress(LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        name = str(make_header(decode_header(name)))
    return name.replace("/", "_").replace("\\", "_")[:255]


def _sent_at(msg: Message, received_at: datetime) -> datetime:
    try:
        value = parsedate_to_datetime(header(msg, "Date"))
    except (TypeError, ValueError, IndexError):
        return received_at
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # A sender's clock may be off, but not by years; beyond a day ahead it is wrong.
    if value > received_at + timedelta(days=1) or value.year < 1990:
        return received_at
    return value


def find_order_number(subject: str, text: str, pattern: re.Pattern[str] | None = None) -> str:
    """The order a mail is about: the mailbox's own pattern first, then an Amazon order id,
    then the usual wordings; the subject before the body (whose start is enough: quoted
    history further down may name older orders)."""
    head = text[:5000]
    # A header can be any length; the mailbox's own pattern is bounded by what it searches.
    subject = subject[:1000]
    for regex in (pattern, AMAZON_ORDER, SHOP_ORDER):
        if regex is None:
            continue
        for where in (subject, head):
            found = regex.search(where)
            if found:
                return (found.group(1) if regex.groups else found.group(0))[:64]
    return ""


def parse(
    raw: bytes,
    *,
    channel_id: int,
    received_at: datetime | None = None,
    meta: dict[str, Any] | None = None,
    max_attachment_bytes: int | None = None,
    order_pattern: re.Pattern[str] | None = None,
    store_file: Callable[[bytes], str] | None = None,
) -> InboundMessage:
    """`store_file`, when given, keeps each attachment's bytes at once and returns their
    sha256: the message then names its attachments instead of holding them."""
    slim, mark, spans = _take_out_blobs(raw)
    token = _blobs.set((mark, raw, spans) if spans else None)
    try:
        return _parse(
            raw,
            email.message_from_bytes(slim),
            channel_id=channel_id,
            received_at=received_at or datetime.now(UTC),
            meta=meta,
            max_attachment_bytes=max_attachment_bytes,
            order_pattern=order_pattern,
            store_file=store_file,
        )
    finally:
        _blobs.reset(token)


def _parse(
    raw: bytes,
    msg: Message,
    *,
    channel_id: int,
    received_at: datetime,
    meta: dict[str, Any] | None,
    max_attachment_bytes: int | None,
    order_pattern: re.Pattern[str] | None,
    store_file: Callable[[bytes], str] | None,
) -> InboundMessage:
    name, address = _sender(msg)
    body = _Body(max_bytes=max_attachment_bytes, store=store_file)
    for part in msg.walk():
        if not part.is_multipart():
            body.take(part)
    original_markup = body.markup
    body.take_pasted_images()
    text, markup, attachments = body.text, body.markup, body.attachments
    if not text and markup:
        text = html_to_text(markup)

    subject = header(msg, "Subject")
    own_id = (message_ids(header(msg, "Message-ID")) or [""])[0]
    references = message_ids(header(msg, "References"))
    in_reply_to = (message_ids(header(msg, "In-Reply-To")) or [""])[0]
    notifier = next((name for name, pattern in NOTIFIERS if pattern.match(address)), "")
    relay = "" if notifier else next((n for n, pattern in RELAYS if pattern.search(address)), "")
    bounce = bounce_of(msg)
    if bounce:
        # The report joins the conversation of the message it returns.
        in_reply_to = in_reply_to or bounce["original_message_id"]
    message = InboundMessage(
        new_text="" if bounce else quotes.new_text(text),
        channel_id=channel_id,
        external_id=_external_id(raw, msg, own_id, [address, subject, text, original_markup]),
        sender=Party(
            identity_kind="email",
            identity_value=address[:320],
            name=name[:200],
            email=address[:254] if "@" in address else "",
        ),
        subject=subject[:500],
        text=text,
        html=markup,
        sent_at=_sent_at(msg, received_at),
        message_id=own_id[:998],
        in_reply_to=in_reply_to[:998],
        references=[r[:998] for r in references[-50:]],
        order_number=find_order_number(subject, text, order_pattern),
        is_auto=is_automatic(msg) or bool(notifier),
        attachments=attachments[:100],
        meta=_details(msg, meta, relay=relay, notifier=notifier, bounce=bounce, notes=body.notes),
        tags=[relay] if relay else [],
        thread_by_subject=not bounce,
        conversation_hint=tokens.conversation_of([in_reply_to, *reversed(references)]),
    )
    return message if bounce else spartoo_mail.rewrite(message, msg, header)


def _sender(msg: Message) -> tuple[str, str]:
    """The sender's name and address (lower case; a placeholder when there is none)."""
    name, address = parseaddr(header(msg, "From"))
    if not address:
        # Some senders put only a name; the Return-Path or Sender then says who it is.
        address = parseaddr(header(msg, "Sender") or header(msg, "Return-Path"))[1]
    return name, address.strip().lower() or "unknown-sender@invalid"


class _Body:
    """What a mail's leaf parts hold: the first plain and HTML bodies, the attachments, and
    notes on what was left out."""

    def __init__(self, *, max_bytes: int | None, store: Callable[[bytes], str] | None) -> None:
        self.max_bytes = max_bytes
        self.store = store
        self.text = ""
        self.markup = ""
        self.attachments: list[InboundAttachment] = []
        self.notes: list[str] = []

    def take(self, part: Message) -> None:
        ctype = part.get_content_type()
        if ctype.startswith("multipart/"):
            # A multipart without a boundary cannot be split: what it holds is the mail's text.
            ctype = "text/plain"
        disposition = (part.get_content_disposition() or "").lower()
        filename = _filename(part)
        if filename.lower() == "winmail.dat" or ctype == "application/ms-tnef":
            self.notes.append("a winmail.dat (Outlook TNEF) attachment was left out")
        elif disposition != "attachment" and not filename and ctype.startswith("text/"):
            self._take_body(part, ctype)
        else:
            self._take_attachment(part, ctype, filename, disposition)

    def _take_body(self, part: Message, ctype: str) -> None:
        if ctype == "text/plain" and not self.text:
            self.text = decode_part(part)
        elif ctype == "text/html" and not self.markup:
            self.markup = decode_part(part)
        # else a second body alternative (e.g. text/enriched): nothing to keep

    def _take_attachment(self, part: Message, ctype: str, filename: str, disposition: str) -> None:
        data = payload_bytes(part)
        if data is None:
            return
        content_id = header(part, "Content-ID").strip("<>")
        self.attachments.append(
            _attachment(
                filename or ("message.eml" if ctype == "message/rfc822" else "attachment"),
                ctype,
                data,
                content_id=content_id,
                inline=disposition == "inline"
                or (bool(content_id) and disposition != "attachment"),
                max_bytes=self.max_bytes,
                store=self.store,
            )
        )

    def take_pasted_images(self) -> None:
        """The HTML's `data:` images become attachments, which the HTML then names."""
        self.markup, images = extract_data_images(self.markup)
        for number, (content_id, ctype, data) in enumerate(images, start=1):
            extension = ctype.split("/", 1)[1].split("+", 1)[0][:10]
            self.attachments.append(
                _attachment(
                    f"pasted-image-{number}.{extension}",
                    ctype,
                    data,
                    content_id=content_id,
                    inline=True,
                    max_bytes=self.max_bytes,
                    store=self.store,
                )
            )


def _external_id(raw: bytes, msg: Message, own_id: str, written: list[str]) -> str:
    """The Message-ID names the message wherever it is (another folder, a re-delivery), with a
    fingerprint of what the sender wrote (`written`: address, subject, text, HTML): a broken
    mailer that reuses Message-IDs must not make a second, different mail look like a copy of
    the first. Without a Message-ID, the bytes."""
    if not own_id:
        return ("sha256:" + hashlib.sha256(raw).hexdigest())[:255]
    address, *rest = written
    fingerprint = hashlib.sha256(
        "\0".join([address, header(msg, "Date"), *rest]).encode("utf-8", "replace")
    ).hexdigest()[:16]
    return f"{own_id[:230]}#{fingerprint}"[:255]


def _details(
    msg: Message,
    meta: dict[str, Any] | None,
    *,
    relay: str,
    notifier: str,
    bounce: dict[str, str] | None,
    notes: list[str],
) -> dict[str, Any]:
    details: dict[str, Any] = dict(meta or {})
    if relay:
        details["relay"] = relay
    if notifier:
        details["notification"] = notifier
    if bounce:
        details["bounce"] = bounce
    if notes:
        details["notes"] = notes
    to = [addr.lower() for _, addr in getaddresses([header(msg, "To"), header(msg, "Cc")]) if addr]
    if to:
        details["to"] = to[:20]
    return details


def quarantined(
    raw: bytes, *, channel_id: int, error: Exception, meta: dict[str, Any] | None = None
) -> InboundMessage:
    """A mail the parser could not read, stored for a human: who sent it if that much can be
    found, the error, and the original kept as its source."""
    sender = "unknown-sender@invalid"
    with contextlib.suppress(Exception):
        found = re.search(
            rb"^From:.*?([\w.+-]+@[\w-]+\.[\w.-]+)", raw, re.MULTILINE | re.IGNORECASE
        )
        if found:
            sender = found.group(1).decode("ascii", "replace").lower()
    return InboundMessage(
        channel_id=channel_id,
        external_id="sha256:" + hashlib.sha256(raw).hexdigest(),
        sender=Party(identity_kind="email", identity_value=sender, email=sender),
        subject="(unreadable message)",
        text=(
            "Comptoir could not read this message "
            f"({type(error).__name__}: {str(error)[:300]}). The original is kept: download "
            "its source to read it."
        ),
        sent_at=datetime.now(UTC),
        meta={**(meta or {}), "quarantined": f"{type(error).__name__}: {str(error)[:500]}"},
    )
