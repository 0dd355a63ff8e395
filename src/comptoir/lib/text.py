"""Small text helpers."""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")


def snippet(text: str, length: int = 160) -> str:
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= length else flat[: length - 1].rstrip() + "…"


def chunks[T](items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def refuse_nul(value: object) -> object:
    """A request's text with a NUL character in it is refused (PostgreSQL cannot store one);
    lists and dicts are looked into."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    if isinstance(value, list | tuple):
        for item in value:
            refuse_nul(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key)
            refuse_nul(item)
    return value


# For the API's query parameters: any text but NUL.
NO_NUL = r"^[^\x00]*$"
