"""The new text of a reply: quoted history and signature cut off (FR, EN, DE, ES, IT).

In lib: the email connector cuts it at ingest, triage again on any text before reading it.

`mail-parser-reply` recognises the attribution lines of the common mail clients in each
language; a few shapes it leaves (an Outlook separator, an attribution it does not know followed
by `>` lines) are cut here too. The full text is always kept beside it.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

LANGUAGES = ["fr", "en", "de", "es", "it"]
_parser = EmailReplyParser(languages=LANGUAGES)
_SEPARATOR = re.compile(r"^\s*-{3,}\s*[^-\n]{3,60}?\s*-{3,}\s*$", re.MULTILINE)


def new_text(text: str) -> str:
    if not text.strip():
        return ""
    try:
        replies = _parser.read(text).replies
        found = replies[0].body if replies else text
    except Exception:  # a parsing library must never cost a message
        found = text
    found = _SEPARATOR.split(found, maxsplit=1)[0]
    return _cut_quoted_tail(found).strip()


def _cut_quoted_tail(text: str) -> str:
    """Drop a trailing block of `>` lines and the attribution line just above it."""
    lines = text.rstrip().split("\n")
    end = len(lines)
    while end and (lines[end - 1].startswith(">") or not lines[end - 1].strip()):
        end -= 1
    if end == len(lines) or not any(line.startswith(">") for line in lines[end:]):
        return text
    if end and lines[end - 1].rstrip().endswith(":"):
        end -= 1
    return "\n".join(lines[:end])
