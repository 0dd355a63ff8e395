"""HTML sanitising: inbound HTML is cleaned once, when stored, and never shown raw."""

from __future__ import annotations

import nh3

# Images stay (the UI blocks remote ones until the agent allows them); scripts, event handlers,
# styles and javascript: links go.
_TAGS = set(nh3.ALLOWED_TAGS) | {"img", "font", "center"}
_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "img": {"src", "alt", "width", "height", "title"},
    "a": {"href", "title"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
}


def sanitize(html: str) -> str:
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        link_rel="noopener noreferrer nofollow",
    )
