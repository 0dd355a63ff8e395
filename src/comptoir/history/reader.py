"""The reading process of `alongside`: what runs in it, importable before Django is set up (a
process from the fork server imports it, and unpickles the models, before its initializer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from comptoir.triage.intent import Model
    from comptoir.triage.reading import Reading
    from comptoir.triage.tasks import Text
    from comptoir.triage.training import Mood

# The process's models: inherited from the parent when forked, unpickled otherwise.
_models: tuple[Model, Mood] | None = None


def start(model: Model, mood: Mood) -> None:
    """The pool's initializer. A fresh interpreter (not forked) sets Django up first: the
    texts it is sent are triage's."""
    global _models
    _models = (model, mood)
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


def read(texts: list[Text]) -> list[Reading]:
    from comptoir.triage.tasks import read_texts

    assert _models is not None, "the reading process starts with the models"
    return read_texts(texts, *_models)
