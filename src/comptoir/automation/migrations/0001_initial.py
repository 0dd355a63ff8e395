# PLACEHOLDER on the rules branch: the templates branch owns this migration (its models) and
# replaces this file when it is merged. It has no operations so that 0002_rules can depend on it.
from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations: list[migrations.operations.base.Operation] = []
