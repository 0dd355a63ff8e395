"""Raw bytes to a validated `InboundMessage`, or an `IngestError` that says what is wrong."""

from __future__ import annotations

import json

from pydantic import ValidationError

from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest.base import IngestError


def parse(
    raw: bytes, *, channel_id: int | None = None, stored_files: bool = False
) -> InboundMessage:
    """Raw JSON bytes → a validated InboundMessage, or an IngestError saying what is wrong.

    `stored_files`: whether attachments may name a file already stored (a connector's own
    record) rather than carry their bytes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"payload is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(f"payload is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise IngestError("payload must be a JSON object")
    if channel_id is not None:
        # The channel it was sent to wins: a payload must not smuggle itself into another one.
        named = data.setdefault("channel_id", channel_id)
        if named != channel_id:
            raise IngestError(
                f"channel_id in the payload ({named}) differs from the channel it was sent to "
                f"({channel_id})"
            )
    try:
        msg = InboundMessage.model_validate(data)
    except ValidationError as exc:
        raise IngestError(describe_validation_error(exc)) from None
    if not stored_files and any(att.sha256 for att in msg.attachments):
        raise IngestError("attachments must carry their data (base64), not a sha256")
    return msg


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _guess_external_id(raw: bytes) -> str:
    # Only for finding the record later; parsing proper happens after the raw is safe.
    try:
        value = json.loads(raw).get("external_id", "")
    except (ValueError, AttributeError):
        return ""
    return str(value)[:255] if isinstance(value, str | int) else ""
