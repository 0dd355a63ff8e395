"""Meta's customer-service window: when a business may answer a buyer on Messenger, Instagram
and WhatsApp (pure rules, shared by the pre-send checks and the Meta connectors).

- Inside 24 hours of the buyer's last message: any reply (`messaging_type: RESPONSE`).
- Messenger and Instagram, after that: only with a message tag; the one a help desk uses is
  `HUMAN_AGENT`, allowed up to 7 days after the buyer's last message (Meta's "Message tags"
  page). Past 7 days nothing can be sent until the buyer writes again.
- WhatsApp, after 24 hours: only an approved message template (Cloud API "Send messages",
  error 131047 "Re-engagement message"). A reply whose text is `/template <name>` names one;
  the channel lists the names approved in WhatsApp Manager.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

META_KINDS = frozenset({"messenger", "instagram", "whatsapp"})
SERVICE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
TEMPLATE_RE = re.compile(r"^\s*/template\s+([a-z0-9_]{1,512})(?:\s+([a-zA-Z_]{2,8}))?\s*$")


@dataclass(frozen=True)
class Verdict:
    """How a reply may leave: `messaging_type` and `tag` for the Send API, or `refused` with
    the reason's code ("closed", "template_needed", "template_unknown")."""

    messaging_type: str = "RESPONSE"
    tag: str = ""
    template: str = ""
    template_language: str = ""
    refused: str = ""


def template_of(text: str) -> tuple[str, str] | None:
    """(name, language) when the reply is `/template <name> [language]` (its first line; the
    lines after it are the template's parameters, see `template_params`)."""
    match = TEMPLATE_RE.match(text.strip().split("\n", 1)[0])
    if match is None:
        return None
    return match.group(1), match.group(2) or ""


def template_params(text: str) -> list[str]:
    """The values of a template's {{1}}, {{2}}...: one per line after `/template ...`."""
    lines = text.strip().split("\n")[1:]
    return [line.strip() for line in lines if line.strip()]


def template_text(name: str, language: str, params: list[str]) -> str:
    """The reply that sends template `name` with `params` (what the composer's picker writes)."""
    head = f"/template {name} {language}".strip()
    return "\n".join([head, *(p.replace("\n", " ").strip() for p in params)])


def verdict(
    kind: str,
    *,
    last_inbound_at: datetime | None,
    now: datetime,
    text: str,
    approved_templates: frozenset[str] = frozenset(),
) -> Verdict:
    """The rule for one reply on a Meta channel of `kind`."""
    template = template_of(text) if kind == "whatsapp" else None
    if template is not None:
        # A template may be sent at any time, inside the window or not, once approved.
        if approved_templates and template[0] not in approved_templates:
            return Verdict(refused="template_unknown", template=template[0])
        return Verdict(template=template[0], template_language=template[1])
    age = now - last_inbound_at if last_inbound_at is not None else None
    if age is not None and age <= SERVICE_WINDOW:
        return Verdict()
    if kind == "whatsapp":
        return Verdict(refused="template_needed")
    if age is not None and age <= HUMAN_AGENT_WINDOW:
        return Verdict(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    return Verdict(refused="closed")


# -- files sent to buyers -------------------------------------------------------------------------
# Meta takes files uploaded first (WhatsApp `POST /{phone-number-id}/media`, Messenger and
# Instagram `POST /{page-id}/message_attachments`) and sent by id, one per message. What each
# accepts, from Meta's pages (WhatsApp "Supported media types"; Messenger "Saving assets": any
# file up to 25 MB; Instagram "Upload media": image png/jpeg/gif 8 MB, video, audio and PDF
# 25 MB). Help-desk replies never need more than 25 MB (WhatsApp would take 100 MB documents).
MB = 1024 * 1024
MAX_FILE_BYTES = 25 * MB
# kind -> extension -> (Meta's media type, largest size)
MEDIA_RULES: dict[str, dict[str, tuple[str, int]]] = {
    "whatsapp": {
        "jpg": ("image", 5 * MB),
        "jpeg": ("image", 5 * MB),
        "png": ("image", 5 * MB),
        "mp4": ("video", 16 * MB),
        "3gp": ("video", 16 * MB),
        **{
            ext: ("document", MAX_FILE_BYTES)
            for ext in ("pdf", "txt", "doc", "docx", "xls", "xlsx", "ppt", "pptx")
        },
    },
    "instagram": {
        "png": ("image", 8 * MB),
        "jpg": ("image", 8 * MB),
        "jpeg": ("image", 8 * MB),
        "gif": ("image", 8 * MB),
        **{ext: ("video", MAX_FILE_BYTES) for ext in ("mp4", "ogg", "avi", "mov", "webm")},
        **{ext: ("audio", MAX_FILE_BYTES) for ext in ("aac", "m4a", "wav")},
        "pdf": ("file", MAX_FILE_BYTES),
    },
}


@dataclass(frozen=True)
class FileVerdict:
    """How one file may go to the buyer: Meta's media `type`, or `refused` ("count", "type",
    "size") with the largest size allowed."""

    type: str = ""
    refused: str = ""
    largest: int = MAX_FILE_BYTES


def _extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def allowed_extensions(kind: str) -> list[str]:
    return sorted(MEDIA_RULES.get(kind, {}))


def file_verdict(kind: str, filename: str, content_type: str, size: int) -> FileVerdict:
    """Whether Meta takes this file on a channel of `kind`, and as which media type."""
    rules = MEDIA_RULES.get(kind)
    if rules is None:  # Messenger: any file up to 25 MB, typed by its content type
        major = content_type.split("/", 1)[0]
        media = major if major in ("image", "video", "audio") else "file"
        largest = MAX_FILE_BYTES
    else:
        found = rules.get(_extension(filename))
        if found is None:
            return FileVerdict(refused="type")
        media, largest = found
    if size > largest:
        return FileVerdict(type=media, refused="size", largest=largest)
    return FileVerdict(type=media, largest=largest)
