"""`{% fragment "name" key... [slot=value...] %}...{% endfragment %}`: a part of a page rendered
once per process for each language and key, then reused. For parts made of translated labels and
URLs (a page's dozens of `{% translate %}` and `{% url %}` cost more CPU than its queries).

The part must depend on nothing but the language and the keys: whatever else varies per request
is a slot. `q=params.q` renders the part with a marker in place of `{{ q }}` and puts the value,
escaped as `{{ q }}` would be, where the marker stands each time. The csrf token cannot be a slot
(`{% csrf_token %}` reads it itself): parts with a form that posts stay out.

Kept per process, at most MAX_ENTRIES, the oldest dropped: translations and URLs change only with
a new release (a new process). A part that shows data passes a key that changes with that data
(the inbox's filter bar: a token of the cached choices it lists); a key that is None or empty
(not given) renders the part afresh."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from typing import Any

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.template.context import Context
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

register = template.Library()

MAX_ENTRIES = 2000
_rendered: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_lock = threading.Lock()
# Random per process: no text a user can type equals it.
_MARKER = f"fragmentslot{secrets.token_hex(12)}"


def clear() -> None:
    """Forget every rendered part (tests)."""
    with _lock:
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

    def render(self, context: Context) -> SafeString:
        keys = [k.resolve(context) for k in self.keys]
        if any(k is None or k == "" for k in keys):  # no key given: rendered, not kept
            with context.push({name: e.resolve(context) for name, e in self.slots.items()}):
                return self.nodelist.render(context)
        key = (self.name, get_language(), *keys)
        with _lock:
            html = _rendered.get(key)
            if html is not None:
                _rendered.move_to_end(key)
        if html is None:
            markers = {name: f"{_MARKER}{name}x" for name in self.slots}
            with context.push(markers):
                html = self.nodelist.render(context)
            with _lock:
                _rendered[key] = html
                while len(_rendered) > MAX_ENTRIES:
                    _rendered.popitem(last=False)
        for name, expression in self.slots.items():
            value = expression.resolve(context)
            shown = conditional_escape(value) if context.autoescape else str(value)
            html = html.replace(f"{_MARKER}{name}x", shown)
        return mark_safe(html)


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
