"""Template helpers for triage's reading: `{% load triage %}`."""

from __future__ import annotations

from django import template

from comptoir.lib import intents

register = template.Library()


@register.filter
def intent_label(intent: str) -> str:
    """The intent's name in the user's language ("" for none)."""
    return intents.label(intent) if intent else ""
