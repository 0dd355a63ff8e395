"""The inbox's active filters as chips ("Marketplace: Fnac", each with its remove button): what
each filter in the URL means in words, and the address of the same list without it. The full
form stays behind "More filters"; the chips say at a glance what narrows the list."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.utils.translation import gettext

from comptoir.lib import intents


@dataclass(frozen=True)
class Chip:
    name: str  # the URL parameter
    label: str  # what it filters ("Marketplace")
    value: str  # the chosen value in words ("Fnac")
    remove: str  # the query string of the list without this filter


def _labels(context: Mapping[str, Any]) -> dict[str, Callable[[], tuple[str, dict[str, str]]]]:
    """Each filter's name and the words for its values, from the options the page offers: built
    only for the filters set (a search alone needs none of the options' words)."""

    def named(options: Any) -> dict[str, str]:
        return {str(o.pk): o.name for o in options}

    def pairs(choices: Any) -> dict[str, str]:
        return {str(code): str(name) for code, name in choices}

    def assignees() -> dict[str, str]:
        return {"me": gettext("Me"), "none": gettext("Nobody"), **named(context["assignees"])}

    return {
        "marketplace": lambda: (gettext("Marketplace"), pairs(context["marketplaces"])),
        "channel": lambda: (gettext("Channel"), named(context["channels"])),
        "shop": lambda: (gettext("Shop"), named(context["shops"])),
        "status": lambda: (gettext("Status"), pairs(context["statuses"])),
        "assignee": lambda: (gettext("Assignee"), assignees()),
        "team": lambda: (gettext("Team"), named(context["teams"])),
        "sla": lambda: (gettext("Respond-by"), pairs(context["sla_states"])),
        "language": lambda: (gettext("Language"), pairs(context["languages"])),
        "has_order": lambda: (
            gettext("Order"),
            {"yes": gettext("With an order"), "no": gettext("Without an order")},
        ),
        "intent": lambda: (
            gettext("Intent"),
            {"none": gettext("Unsure or not read"), **pairs(intents.LABELS.items())},
        ),
        "urgency": lambda: (gettext("Urgency"), pairs(intents.URGENCIES.items())),
        "sentiment": lambda: (gettext("Sentiment"), pairs(intents.SENTIMENTS.items())),
        "tag": lambda: (gettext("Tag"), {}),
        "from": lambda: (gettext("From"), {}),
        "to": lambda: (gettext("To"), {}),
        "q": lambda: (gettext("Search"), {}),
    }


def filter_chips(
    view_key: str, params: Mapping[str, str], context: Mapping[str, Any]
) -> list[Chip]:
    """One chip per filter set in `params`, each removable on its own (the view is kept)."""
    active = {k: v for k, v in params.items() if v}
    if not active:
        return []
    labels = _labels(context)
    chips = []
    for name, value in active.items():
        label, words = labels[name]() if name in labels else (name, {})
        rest = {"view": view_key, **{k: v for k, v in active.items() if k != name}}
        chips.append(Chip(name, label, str(words.get(value, value)), urlencode(rest)))
    return chips
