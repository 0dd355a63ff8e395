"""The intent model in use: the active stored version, else the base model of the shipped
data. Loaded once per process and version; a task asks which version is active (one query)."""

from __future__ import annotations

import threading
from typing import Any

from comptoir.triage import dataset, training
from comptoir.triage.intent import Model
from comptoir.triage.models import IntentModel

BASE_VERSION = 0

_lock = threading.Lock()
_loaded: dict[int, Model] = {}


def active_version() -> int:
    found = IntentModel.objects.filter(is_active=True).values_list("version", flat=True).first()
    return found if found is not None else BASE_VERSION


def model(version: int | None = None) -> tuple[int, Model]:
    """(version, model) of the active model, or of `version`."""
    version = active_version() if version is None else version
    if version == BASE_VERSION:
        return BASE_VERSION, training.base_model()
    with _lock:
        if version not in _loaded:
            artifact = IntentModel.objects.values_list("artifact", flat=True).get(version=version)
            _loaded.clear()  # one stored model in memory at a time
            _loaded[version] = Model.from_bytes(bytes(artifact))
        return version, _loaded[version]


_figures_lock = threading.Lock()
_base_figures: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}


def base_figures() -> tuple[dict[str, Any], dict[str, Any]]:
    """(held-out metrics, trained-on counts) of the base model, which is not stored: measured
    once per process and data version (a few seconds), like the stored models' figures."""
    key = dataset.data_hash()
    with _figures_lock:
        if key not in _base_figures:
            metrics = training.evaluate(training.base_model(), dataset.load("heldout"))
            _base_figures.clear()
            _base_figures[key] = (metrics, {"shipped": len(dataset.load("train"))})
        return _base_figures[key]
