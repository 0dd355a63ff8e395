"""Changes to templates and check settings; every one goes through here (views, rules, demo)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Max
from django.utils import timezone

from comptoir.automation.models import (
    CheckLevel,
    CheckSetting,
    Suggestion,
    Template,
    TemplateUse,
    TemplateVersion,
)
from comptoir.automation.templating import check_syntax
from comptoir.lib.intents import INTENTS

if TYPE_CHECKING:
    from comptoir.inbox.models import Channel, Message, Shop

SHORTCUT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def count_template_use(message: Message, template_id: int | None) -> None:
    """A reply made from a template was queued: count it (subscribed to `hooks.reply_queued`, so
    it runs inside the reply's transaction and a refused or rolled-back reply counts nothing)."""
    if template_id is None:
        return
    Template.objects.filter(pk=template_id).update(
        usage_count=F("usage_count") + 1, last_used_at=message.created_at or timezone.now()
    )


@transaction.atomic
def record_template_history(
    shown: Sequence[Suggestion], uses: Sequence[TemplateUse], *, batch_size: int = 2000
) -> int:
    """Past suggestions and template uses in bulk (the demo's year of history), stored as the
    composer's send path stores them one by one; then each template's counters recomputed from
    its uses. A use may point at one of `shown` (saved first, so it has its key). Returns how
    many uses were recorded."""
    Suggestion.objects.bulk_create(shown, batch_size=batch_size)
    TemplateUse.objects.bulk_create(uses, batch_size=batch_size)
    counted = TemplateUse.objects.values("template_id").annotate(n=Count("pk"), last=Max("used_at"))
    for row in counted.order_by():
        Template.objects.filter(pk=row["template_id"]).update(
            usage_count=row["n"], last_used_at=row["last"]
        )
    return len(uses)


def _clean_shortcut(shortcut: str) -> str:
    value = shortcut.strip().lstrip(";").lower()
    if value and not set(value) <= SHORTCUT_CHARS:
        raise ValidationError("a shortcut has only letters, digits, - and _")
    return value


@transaction.atomic
def save_template(
    template: Template | None,
    *,
    name: str,
    shop: Shop | None,
    shortcut: str = "",
    category: str = "",
    intents: Sequence[str] | None = None,
    is_active: bool = True,
    versions: Mapping[str, tuple[str, str]],
) -> Template:
    """Create or update a template with its versions (language → (subject, body)); a language
    left out or with an empty body loses its version."""
    if not name.strip():
        raise ValidationError("a template needs a name")
    errors = [
        f"{language}: {error}"
        for language, (subject, body) in versions.items()
        for error in (check_syntax(subject), check_syntax(body))
        if error
    ]
    if errors:
        raise ValidationError(errors)
    shortcut = _clean_shortcut(shortcut)
    clash = Template.objects.filter(shop=shop, shortcut=shortcut).exclude(shortcut="")
    if template is not None:
        clash = clash.exclude(pk=template.pk)
    if clash.exists():
        raise ValidationError(f"the shortcut ;{shortcut} is already taken")
    if template is None:
        template = Template(usage_count=0)
    template.name = name.strip()[:200]
    template.shop = shop
    template.shortcut = shortcut
    template.category = category.strip()[:64]
    if intents is not None:
        unknown = sorted(set(intents) - set(INTENTS))
        if unknown:
            raise ValidationError(f"no intent named {', '.join(unknown)}")
        template.intents = [i for i in INTENTS if i in set(intents)]
    template.is_active = is_active
    template.save()
    kept = []
    for language, (subject, body) in versions.items():
        if not body.strip():
            continue
        TemplateVersion.objects.update_or_create(
            template=template,
            language=language,
            defaults={"subject": subject.strip()[:500], "body": body.strip()},
        )
        kept.append(language)
    template.versions.exclude(language__in=kept).delete()
    return template


@transaction.atomic
def set_check_level(code: str, *, level: str | None, channel: Channel | None = None) -> None:
    """Make a check block, warn or stay off, for every channel or one; None goes back to the
    default."""
    from comptoir.automation.checks import CHECKS_BY_CODE

    if code not in CHECKS_BY_CODE:
        raise ValidationError(f"no check named {code}")
    if level is None:
        CheckSetting.objects.filter(code=code, channel=channel).delete()
        return
    if level not in CheckLevel.values:
        raise ValidationError(f"no level named {level}")
    CheckSetting.objects.update_or_create(code=code, channel=channel, defaults={"level": level})
