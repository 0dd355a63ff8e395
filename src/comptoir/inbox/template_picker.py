"""The composer's WhatsApp template picker: past the 24-hour window WhatsApp only takes an
approved template (`lib.meta_window`). The channel's poll keeps the approved templates in its
cursor (`connectors.meta.whatsapp.refresh_templates`); the picker offers them (name, language,
body) with a field per {{n}} parameter, and writes the reply `/template <name> <language>` with
one parameter per line, the text the connector sends (typing it by hand works the same).
Without script it is a select and inputs; with it, only the chosen template's fields show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.inbox.models import Conversation
from comptoir.lib import meta_window

MAX_PARAMS = 20  # fields offered without script: WhatsApp bodies rarely take more than a few


@dataclass(frozen=True)
class PickerTemplate:
    name: str
    language: str
    body: str
    params: int

    @property
    def value(self) -> str:
        return f"{self.name}|{self.language}"


def templates(conv: Conversation) -> list[PickerTemplate]:
    """The channel's approved templates as last read (the settings' names when none were)."""
    channel = conv.channel
    cached = (channel.cursor or {}).get("templates") or []
    found = [
        PickerTemplate(
            str(t.get("name", "")),
            str(t.get("language", "")),
            str(t.get("body", "")),
            min(int(t.get("params") or 0), MAX_PARAMS),
        )
        for t in cached
        if isinstance(t, dict) and t.get("name")
    ]
    if not found:
        conf = channel.get_settings()
        language = str(conf.get("template_language") or "fr")
        found = [
            PickerTemplate(str(n), language, "", 0) for n in conf.get("approved_templates") or []
        ]
    return sorted(found, key=lambda t: (t.name, t.language))


def picker(conv: Conversation) -> dict[str, Any] | None:
    """What the composer shows for a WhatsApp conversation past the window; None otherwise."""
    if conv.channel.kind != "whatsapp":
        return None
    last = conv.last_inbound_at
    if last is not None and timezone.now() - last <= meta_window.SERVICE_WINDOW:
        return None
    found = templates(conv)
    most = max((t.params for t in found), default=0)
    return {
        "templates": found,
        "fields": range(1, most + 1),
        "error": str((conv.channel.cursor or {}).get("templates_error") or ""),
    }


def reply_text(conv: Conversation, post: Mapping[str, Any]) -> str | None:
    """The reply the picker's form asks for (None: the form was not the picker's). Raises
    ValidationError for an unknown template or a parameter left empty."""
    value = str(post.get("wa_template") or "")
    if not value:
        return None
    chosen = next((t for t in templates(conv) if t.value == value), None)
    if chosen is None:
        raise ValidationError(_("This template is not among the approved ones."))
    params = [str(post.get(f"wa_param_{i}") or "").strip() for i in range(1, chosen.params + 1)]
    if not all(params):
        raise ValidationError(
            _("Fill in every parameter of the template (%(count)d).") % {"count": chosen.params}
        )
    return meta_window.template_text(chosen.name, chosen.language, params)
