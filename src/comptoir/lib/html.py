"""HTML sanitising: inbound HTML is cleaned once, when stored, and never shown raw.

Scripts, event handlers, styles (CSS can exfiltrate) and javascript:/data: links go. Remote
images are kept but disarmed: their address moves to `data-remote-src`, so that nothing loads
(no tracking pixel fires) until the agent allows them for that message. Inline images (`cid:`)
and `data:` images stay as they are.
"""

from __future__ import annotations

import re

import nh3

_TAGS = set(nh3.ALLOWED_TAGS) | {"img", "font", "center"}
_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "img": {"src", "alt", "width", "height", "title"},
    "a": {"href", "title"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
}
# nh3's output quotes every attribute with " and escapes what is inside: this is exact on it.
_REMOTE_IMG = re.compile(r'(<img\b[^>]*?)\bsrc="(https?://[^"]*)"', re.IGNORECASE)


def _attribute(tag: str, name: str, value: str) -> str | None:
    if name == "href" and value.strip().lower().startswith(("data:", "cid:")):
        return None  # a link that opens a document made by the sender
    return value


def sanitize(html: str) -> str:
    if not html:
        return ""
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        link_rel="noopener noreferrer nofollow",
    )
    return _REMOTE_IMG.sub(r'\1data-remote-src="\2"', clean)


def has_remote_images(html: str) -> bool:
    return "data-remote-src=" in html
