"""`{% fragment "name" key... [slot=value...] %}...{% endfragment %}`: a part of a page rendered
once per process for each language and key, then reused. For parts made of translated labels and
URLs (a page's dozens of `{% translate %}` and `{% url %}` cost more CPU than its queries).

The part must depend on nothing but the language and the keys: whatever else varies per request
is a slot. `q=params.q` renders the part with a marker in place of `{{ q }}` and puts the value,
escaped as `{{ q }}` would be, where the marker stands each time. A slot whose value is an
integer (a primary key) has a marker made of digits, so that `{% url 'name' pk %}` takes it:
`{% fragment "bar" conv.status pk=conv.pk %}...{% url 'inbox:status' pk %}`. The csrf token is
always a slot: `{% csrf_token %}` inside a part writes each request's own token.

Kept per process, at most 2,000, the least used dropped: translations and URLs change only with
a new release (a new process). A part that shows data passes a key that changes with that data
(the inbox's filter bar: a token of the cached choices it lists); a key that is None or empty
(not given) renders the part afresh."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.template.context import Context
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from comptoir.lib.kept import Kept

register = template.Library()

# Each part kept split at its slots' markers: [text, marker, text, marker, ..., text].
_rendered: Kept[tuple[str, ...]] = Kept(most=2000)
# Random per process: no text a user can type equals it (nor is it shown: it is replaced).
_MARKER = f"fragmentslot{secrets.token_hex(12)}"
# For integer slots (as URLs take them): 18 random digits, then the slot's number.
_NUMBER = f"{secrets.randbelow(9 * 10**17) + 10**17}"
CSRF = "csrf_token"


def clear() -> None:
    """Forget every rendered part (tests)."""
    _rendered.clear()


class FragmentNode(template.Node):
    def __init__(
        self,
        name: str,
        keys: list[FilterExpression],
        slots: dict[str, FilterExpression],
        nodelist: NodeList,
    ) -> None:
        self.name = name
        self.keys = keys
        self.slots = slots
        self.nodelist = nodelist
        names = [CSRF, *slots]
        self.text_markers = {name: f"{_MARKER}{name}x" for name in names}
        self.number_markers = {name: f"{_NUMBER}{i:03d}" for i, name in enumerate(names)}
        markers = [*self.text_markers.values(), *self.number_markers.values()]
        # Split once, when the part is kept (a value put in is never searched for another
        # marker); longest first. Searching each request's copy for the markers cost about 4 %
        # of the conversation page's and the inbox's instructions.
        markers.sort(key=len, reverse=True)
        self.splitter = re.compile("(" + "|".join(re.escape(m) for m in markers) + ")")

    def render(self, context: Context) -> SafeString:
        values = {name: e.resolve(context) for name, e in self.slots.items()}
        keys = [k.resolve(context) for k in self.keys]
        if any(k is None or k == "" for k in keys):  # no key given: rendered, not kept
            with context.push(values):
                return self.nodelist.render(context)
        numbers = frozenset(
            n for n, v in values.items() if isinstance(v, int) and not isinstance(v, bool)
        )
        has_token = CSRF in context  # not read yet: reading it sets the csrf cookie
        key = (self.name, get_language(), *keys, numbers, has_token)
        parts = _rendered.get(key)
        if parts is None:
            markers: dict[str, Any] = {
                name: int(self.number_markers[name]) if name in numbers else self.text_markers[name]
                for name in values
            }
            if has_token:
                markers[CSRF] = self.text_markers[CSRF]
            with context.push(markers):
                parts = tuple(self.splitter.split(self.nodelist.render(context)))
            _rendered.put(key, parts)
        slots = parts[1::2]
        if has_token and self.text_markers[CSRF] in slots:  # the part has a form that posts
            values[CSRF] = context[CSRF]
        escape = conditional_escape if context.autoescape else str
        shown = {self.marker_for(name, numbers): escape(value) for name, value in values.items()}
        out = list(parts)
        out[1::2] = [shown.get(marker, "") for marker in slots]
        return mark_safe("".join(out))

    def marker_for(self, name: str, numbers: frozenset[str]) -> str:
        return self.number_markers[name] if name in numbers else self.text_markers[name]


@register.tag
def fragment(parser: Parser, token: Token) -> FragmentNode:
    bits = token.split_contents()
    if len(bits) < 2 or bits[1][0] not in "\"'":
        raise template.TemplateSyntaxError('{% fragment "name" key... slot=value... %}')
    keys: list[FilterExpression] = []
    slots: dict[str, FilterExpression] = {}
    for bit in bits[2:]:
        name, sep, value = bit.partition("=")
        if sep:
            slots[name] = parser.compile_filter(value)
        else:
            keys.append(parser.compile_filter(bit))
    nodelist = parser.parse(("endfragment",))
    parser.delete_first_token()
    return FragmentNode(bits[1][1:-1], keys, slots, nodelist)
