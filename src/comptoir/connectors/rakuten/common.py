"""What the Rakuten France connector and its simulator must agree on: dates, versions, ids.

The web services answer `getiteminfos` with the item's messages but give no message id, so
both sides derive the same stable one from what the marketplace shows (see `message_id`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

# The marketplace writes its dates in French local time, to the minute: "15/02/2011-11:58".
PARIS = ZoneInfo("Europe/Paris")
DATE_FORMAT = "%d/%m/%Y-%H:%M"

# The version each call is made with; the simulator accepts these (and the later ones listed).
VERSIONS: dict[str, str] = {
    "getitemtodolist": "2011-09-01",
    "getiteminfos": "2011-06-01",
    "contactuseraboutitem": "2011-02-02",
    "getcurrentsales": "2016-03-16",
}

# Messages in `sales_ws` are carried in the query string (GET): long texts do not fit a URL.
MAX_CONTENT_CHARS = 4000


def format_date(value: datetime) -> str:
    return value.astimezone(PARIS).strftime(DATE_FORMAT)


def parse_date(text: str) -> datetime:
    """`15/02/2011-11:58` (also with spaces around the dash) as an aware datetime."""
    cleaned = "".join(text.split())
    return datetime.strptime(cleaned, DATE_FORMAT).replace(tzinfo=PARIS)


def message_id(item_id: str, sender: str, senddate: str, content: str, occurrence: int) -> str:
    """A message's id: the item, then a digest of who wrote what when. `occurrence` tells apart
    identical messages sent in the same minute (counted from the oldest)."""
    key = "\n".join([item_id.strip(), sender.strip().lower(), "".join(senddate.split())])
    digest = hashlib.sha256(f"{key}\n{content.strip()}".encode()).hexdigest()[:16]
    return f"{item_id.strip()}-{digest}" + (f"-{occurrence}" if occurrence else "")


def claim_id(item_id: str, creationdate: str, comment: str) -> str:
    """A claim's opening comment is the buyer's first word on it: it gets an id of its own."""
    return message_id(item_id, "claim", creationdate, comment, 0)
