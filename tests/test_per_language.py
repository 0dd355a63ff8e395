"""`per_language` (lib/i18n.py): a value of translated words built once per language and
process, and the other language's value once the active language changes."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext

from comptoir.inbox.rows import _reading_badges
from comptoir.inbox.views import _labels
from comptoir.lib.i18n import per_language


def test_a_value_is_built_once_per_language_and_follows_the_active_one() -> None:
    builds: list[str | None] = []

    @per_language
    def urgent() -> dict[str, str]:
        builds.append(translation.get_language())
        return {"urgent": gettext("Urgent")}

    with translation.override("en"):
        english = urgent()
        assert english == {"urgent": "Urgent"}
        assert urgent() is english
    with translation.override("fr"):
        french = urgent()
        assert french == {"urgent": "Urgente"}
        assert urgent() is french
    with translation.override("en"):
        assert urgent() is english
    assert builds == ["en", "fr"]


def test_the_inbox_badges_and_filter_labels_are_in_the_active_language() -> None:
    with translation.override("en"):
        assert ">Urgent<" in _reading_badges()["urgent"]
        assert _labels()["urgencies"][0][1].startswith("Urgency: ")
    with translation.override("fr"):
        assert ">Urgente<" in _reading_badges()["urgent"]
        assert _labels()["urgencies"][0][1].startswith("Urgence : ")
