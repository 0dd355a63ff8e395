"""A file's content type when its source is vague about it.

Marketplaces often serve downloads as `application/octet-stream`; stored that way, a photo
shows as a file to download rather than an image. The type the marketplace declares wins when
it says something; otherwise the file name's extension; otherwise the first bytes.
"""

from __future__ import annotations

import codecs
import mimetypes

OCTET_STREAM = "application/octet-stream"
# Declared types that say nothing about the content.
VAGUE = frozenset(
    {
        "",
        OCTET_STREAM,
        "binary/octet-stream",
        "application/binary",
        "application/download",
        "application/force-download",
        "application/x-download",
        "application/unknown",
    }
)

# Leading bytes of the formats buyers send (photos, scans, documents).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"%!PS", "application/postscript"),
)


def content_type_for(filename: str, data: bytes, declared: str = "") -> str:
    """The declared type unless it is vague, else the name's, else the content's."""
    declared = declared.split(";", 1)[0].strip().lower()
    if declared not in VAGUE and "/" in declared:
        return declared
    guessed, _ = mimetypes.guess_type(filename or "", strict=False)
    if guessed:
        return guessed
    return sniff(data)


def sniff(data: bytes) -> str:
    """The type the first bytes show; text when they decode as UTF-8 without control bytes."""
    head = data[:512]
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return "image/heic"
    if head and _is_text(head):
        return "text/plain"
    return OCTET_STREAM


def _is_text(head: bytes) -> bool:
    try:
        # Not final: the cut at 512 bytes may split a character.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t\f" for c in text)
