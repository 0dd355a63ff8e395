"""Values made of translated words, built once per language and process."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.utils.translation import get_language


def per_language[T](build: Callable[[], T]) -> Callable[[], T]:
    """`build()` called once per active language, its result kept for the process's life:
    translations do not change while a process runs, and a page asking for the same labels
    or badges on every request would translate them each time. The value is shared: callers
    must not change it."""
    built: dict[str, T] = {}

    @functools.wraps(build)
    def cached() -> T:
        language = get_language() or ""
        try:
            return built[language]
        except KeyError:
            # Two threads may both build a missing language: the same value, one kept.
            value = built[language] = build()
            return value

    return cached
