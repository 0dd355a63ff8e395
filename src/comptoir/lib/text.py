"""Small text helpers."""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")


def snippet(text: str, length: int = 160) -> str:
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= length else flat[: length - 1].rstrip() + "…"


def chunks[T](items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
