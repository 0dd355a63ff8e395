"""Re-encrypting every secret stored at rest with the first of COMPTOIR_ENCRYPTION_KEYS.

Secrets live in text columns whose name ends in `_encrypted` (a channel's settings, a webhook's
secret, the AI endpoint's key): found by that name across every model, so a new one is rotated
without being listed here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models, transaction

from comptoir.lib import crypto


@dataclass
class Rotation:
    rotated: int = 0
    current: int = 0
    unreadable: list[str] = field(default_factory=list)  # "app.model #pk field"


def encrypted_fields() -> Iterator[tuple[type[models.Model], str]]:
    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if f.name.endswith("_encrypted") and isinstance(f, models.TextField | models.CharField):
                yield model, f.name


def rotate(keys: Sequence[str], *, dry_run: bool = False) -> Rotation:
    """Each stored secret not written with `keys[0]` is encrypted again with it (one row at a
    time, locked, so a secret saved meanwhile is not overwritten with its old value). A secret
    no key reads is listed, never changed."""
    result = Rotation()
    for model, name in encrypted_fields():
        rows = model._default_manager.exclude(**{name: ""}).values_list("pk", name)
        for pk, token in rows.iterator():
            if crypto.first_key_wrote(token, keys):
                result.current += 1
                continue
            try:
                crypto.decrypt(token, keys)
            except crypto.DecryptionError:
                result.unreadable.append(f"{model._meta.label_lower} #{pk} {name}")
                continue
            if not dry_run:
                _rotate_row(model, name, pk, keys)
            result.rotated += 1
    return result


def _rotate_row(model: type[models.Model], name: str, pk: object, keys: Sequence[str]) -> None:
    with transaction.atomic():
        row = model._default_manager.select_for_update().filter(pk=pk).values_list(name, flat=True)
        token = row.first()
        if token:
            model._default_manager.filter(pk=pk).update(**{name: crypto.rotate(token, keys)})
