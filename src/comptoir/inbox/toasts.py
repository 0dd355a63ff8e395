"""Confirmations after a change ("Assigned to Léa", with Undo), shown once on the next page.

Kept in the session rather than in the page's URL, so a reload does not show them again; the
undo is a plain form (the same endpoint, the previous value, `undo=1`): it works without script
and goes through the same action and permission check as the change it reverses."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

SESSION_KEY = "comptoir_toasts"
# A burst of changes keeps the newest confirmations only.
MAX_TOASTS = 3


def toast(
    request: HttpRequest,
    text: str,
    *,
    undo_url: str = "",
    undo: dict[str, str] | None = None,
    level: str = "ok",
) -> None:
    """Queue a confirmation for the next page; `undo` (fields posted to `undo_url`) offers an
    Undo button. An undo's own confirmation offers none (`undo=1` in the request)."""
    if request.POST.get("undo") == "1":
        undo = None
    entry: dict[str, Any] = {"text": text, "level": level}
    if undo is not None and undo_url:
        entry["undo_url"] = undo_url
        entry["undo"] = sorted(undo.items())
    toasts = [*request.session.get(SESSION_KEY, []), entry][-MAX_TOASTS:]
    request.session[SESSION_KEY] = toasts


def pending_toasts(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the confirmations waiting for this page, taken once. Only full pages
    take them (an htmx fragment, such as the live refresh, leaves them for the page)."""
    session = getattr(request, "session", None)
    if session is None or request.headers.get("HX-Request") or SESSION_KEY not in session:
        return {}
    return {"toasts": session.pop(SESSION_KEY)}
