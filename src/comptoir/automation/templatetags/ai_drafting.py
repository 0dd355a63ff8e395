"""`{% ai_drafting_enabled as on %}`: whether the composer offers "Draft with AI" (the
conversation page belongs to the inbox, which knows nothing of automation's settings)."""

from __future__ import annotations

from django import template

from comptoir.automation import drafting

register = template.Library()


@register.simple_tag
def ai_drafting_enabled() -> bool:
    return drafting.offered()
