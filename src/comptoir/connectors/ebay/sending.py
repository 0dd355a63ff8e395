"""What the eBay Message API takes in a sendMessage request, checked before anything is sent."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from comptoir.connectors.base import ConnectorError, OutboundAttachment, OutboundMessage

MAX_TEXT = 2000  # SendMessageRequest.messageText
MAX_MEDIA = 5  # SendMessageRequest.messageMedia
MEDIA_TYPES = {
    "application/pdf": "PDF",
    "application/msword": "DOC",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOC",
    "text/plain": "TXT",
}


def send_body(
    outbound: OutboundMessage, media_url_template: Callable[[], str], *, first: bool = False
) -> dict[str, Any]:
    """The sendMessage request, or a permanent error the agent can act on: nothing that
    eBay would refuse is sent. `media_url_template` gives the channel's public link for
    files (asked only for a file to send). `first`: a new conversation, whose recipient
    the caller adds (`first_message`)."""
    if not first and not outbound.conversation_thread_id:
        raise ConnectorError(
            "this conversation has no eBay conversation id to answer in",
            permanent=True,
            about_message=True,
        )
    text = outbound.text.strip()
    if not text:
        raise ConnectorError("eBay needs a message text", permanent=True, about_message=True)
    if len(text) > MAX_TEXT:
        raise ConnectorError(
            f"eBay messages are limited to {MAX_TEXT} characters; this one has "
            f"{len(text)}: shorten it",
            permanent=True,
            about_message=True,
        )
    if len(outbound.attachments) > MAX_MEDIA:
        raise ConnectorError(
            f"eBay takes at most {MAX_MEDIA} attachments per message; this one has "
            f"{len(outbound.attachments)}",
            permanent=True,
            about_message=True,
        )
    body: dict[str, Any] = {"messageText": text}
    if not first:
        body["conversationId"] = outbound.conversation_thread_id
    media = [_media(a, media_url_template) for a in outbound.attachments]
    if media:
        body["messageMedia"] = media
    return body


def _media(attachment: OutboundAttachment, media_url_template: Callable[[], str]) -> dict[str, str]:
    if attachment.content_type == "text/uri-list":
        # A link the agent attached (a picture already online): eBay takes it as is.
        lines = attachment.data.decode("utf-8", "replace").splitlines()
        url = next((ln.strip() for ln in lines if ln.strip() and ln[0] != "#"), "")
        if not url.startswith("https://"):
            raise ConnectorError(
                f"eBay accepts images by HTTPS link only: {url or attachment.filename!r} "
                "is not an https:// link",
                permanent=True,
                about_message=True,
            )
        name = urlsplit(url).path.rsplit("/", 1)[-1] or attachment.filename
        content_type = mimetypes.guess_type(name)[0] or "image/jpeg"
        return {
            "mediaName": name[:255],
            "mediaType": media_type(content_type),
            "mediaUrl": url,
        }
    template = media_url_template()
    if not template:
        raise ConnectorError(
            f"eBay accepts images by HTTPS link only: {attachment.filename!r} is a file, "
            "and this channel has no public link for files (media_url_template). Remove "
            "it or attach a link to it instead.",
            permanent=True,
            about_message=True,
        )
    kind = media_type(attachment.content_type)
    if not kind:
        raise ConnectorError(
            f"eBay takes pictures, PDF, Word and text files only: {attachment.filename!r} "
            f"is {attachment.content_type}",
            permanent=True,
            about_message=True,
        )
    url = template.format(
        sha256=hashlib.sha256(attachment.data).hexdigest(),
        filename=quote(attachment.filename, safe=""),
    )
    return {"mediaName": attachment.filename[:255], "mediaType": kind, "mediaUrl": url}


def media_type(content_type: str) -> str:
    if content_type.startswith("image/"):
        return "IMAGE"
    return MEDIA_TYPES.get(content_type, "")
