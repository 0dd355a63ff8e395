"""Templates (macros), pre-send check settings, and rules."""

from __future__ import annotations

from django.db import models  # noqa: F401

# Templates and pre-send checks: the models of the templates work go here.


# Rules: the models of the rules work go below.
