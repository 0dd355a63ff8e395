"""The inbox's active filters as chips ("Marketplace: Fnac", each with its remove button): what
each filter in the URL means in words, and the address of the same list without it. The full
form stays behind "More filters"; the chips say at a glance what narrows the list."""

from __future__ import annotations

from collections.abc import Mapping
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


def _labels(context: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    """Each filter's name and the words for its values, from the options the page offers."""

    def named(options: Any) -> dict[str, str]:
        return {str(o.pk): o.name for o in options}

    def pairs(choices: Any) -> dict[str, str]:
        return {str(code): str(name) for code, name in choices}

    assignees = {"me": gettext("Me"), "none": gettext("Nobody"), **named(context["assignees"])}
    return {
        "marketplace": (gettext("Marketplace"), pairs(context["marketplaces"])),
        "channel": (gettext("Channel"), named(context["channels"])),
        "shop": (gettext("Shop"), named(context["shops"])),
        "status": (gettext("Status"), pairs(context["statuses"])),
        "assignee": (gettext("Assignee"), assignees),
        "team": (gettext("Team"), named(context["teams"])),
        "sla": (gettext("Respond-by"), pairs(context["sla_states"])),
        "language": (gettext("Language"), pairs(context["languages"])),
        "has_order": (
            gettext("Order"),
            {"yes": gettext("With an order"), "no": gettext("Without an order")},
        ),
        "intent": (
            gettext("Intent"),
            {"none": gettext("Unsure or not read"), **pairs(intents.LABELS.items())},
        ),
        "urgency": (gettext("Urgency"), pairs(intents.URGENCIES.items())),
        "sentiment": (gettext("Sentiment"), pairs(intents.SENTIMENTS.items())),
        "tag": (gettext("Tag"), {}),
        "from": (gettext("From"), {}),
        "to": (gettext("To"), {}),
        "q": (gettext("Search"), {}),
    }


def filter_chips(
    view_key: str, params: Mapping[str, str], context: Mapping[str, Any]
) -> list[Chip]:
    """One chip per filter set in `params`, each removable on its own (the view is kept)."""
    labels = _labels(context)
    active = {k: v for k, v in params.items() if v}
    chips = []
    for name, value in active.items():
        label, words = labels.get(name, (name, {}))
        rest = {"view": view_key, **{k: v for k, v in active.items() if k != name}}
        chips.append(Chip(name, label, str(words.get(value, value)), urlencode(rest)))
    return chips
