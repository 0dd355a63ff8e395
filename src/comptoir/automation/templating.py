"""Rendering templates: sandboxed Jinja over plain values taken from a conversation.

A template never sees a model instance: `build_context` copies what a template may say into
strings, numbers, lists and dicts, and the environment is Jinja's immutable sandbox, so that a
template cannot reach `__class__`, a manager, a password hash or a settings module, nor change
anything. A variable a template uses that the conversation cannot fill (no order yet, no tracking
number...) stops the rendering with `MissingVariables` naming it: a buyer never reads "Dear ,".

    >>> rendered = render_template(template, conversation, agent=request.user)
    >>> rendered.subject, rendered.text, rendered.language

The rules' auto-replies and the composer call the same function.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.utils import formats, translation
from django.utils.translation import gettext_lazy as _
from jinja2 import TemplateSyntaxError, Undefined, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

    from comptoir.accounts.models import User
    from comptoir.automation.models import Template, TemplateVersion
    from comptoir.inbox.models import Conversation

# The languages the demo templates and the spelling check know; any other code still works.
LANGUAGES = ("fr", "en", "de", "es", "it")


@dataclass(frozen=True)
class Variable:
    name: str
    description: _StrPromise | str
    example: str


# The one list of what a template may use: the editor shows it, the context fills it.
VARIABLES: tuple[Variable, ...] = (
    Variable("customer_name", _("The buyer's full name"), "Marie Dupont"),
    Variable("customer_first_name", _("The buyer's first name"), "Marie"),
    Variable("order_number", _("The order number"), "402-1234567-1234567"),
    Variable(
        "order_items",
        _("The items ordered: a list of {title, quantity, sku}; loop over it"),
        "{% for item in order_items %}{{ item.quantity }} x {{ item.title }}{% endfor %}",
    ),
    Variable("tracking_number", _("The parcel's tracking number"), "6A12345678901"),
    Variable("tracking_link", _("The carrier's tracking page"), "https://…"),
    Variable("carrier", _("The carrier"), "Colissimo"),
    Variable(
        "expected_delivery",
        _("The expected delivery date, written in the answer's language"),
        "24 novembre 2026",
    ),
    Variable("shop_name", _("The shop's name"), "Maison Lumière"),
    Variable("agent_first_name", _("The first name of the agent who answers"), "Julie"),
    Variable("marketplace", _("The marketplace (Amazon, Fnac, …)"), "Amazon"),
    Variable(
        "reply_by",
        _("When we will answer at the latest (the response deadline, in the shop's timezone)"),
        "24 novembre 2026, 09:30",
    ),
)
VARIABLE_NAMES = frozenset(v.name for v in VARIABLES)


class TemplateRenderError(ValidationError):
    """The template cannot be rendered (a syntax error, a forbidden attribute...)."""


class MissingVariables(TemplateRenderError):
    """The template uses variables this conversation has no value for; `missing` names them."""

    def __init__(self, missing: Sequence[str], *, template_name: str = "") -> None:
        self.missing = list(missing)
        self.template_name = template_name
        names = ", ".join(self.missing)
        unknown = [m for m in self.missing if m not in VARIABLE_NAMES]
        if unknown:
            text = _("The template uses an unknown variable: %(names)s") % {"names": names}
        else:
            text = _(
                "No value for %(names)s in this conversation: fill it in or pick another template"
            ) % {"names": names}
        super().__init__(str(text), code="missing_variables")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    language: str
    # Empty unless rendered with strict=False (a preview): the variables left without a value.
    missing: list[str] = field(default_factory=list)


# -- the sandbox --------------------------------------------------------------------------------

# The names a rendering found missing. A context variable, so that concurrent renderings in
# threads or tasks keep their own list.
_missing: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "template_missing", default=None
)


class _RecordingUndefined(Undefined):
    """A missing variable: noted when printed or looped over, false in an `{% if %}` (so that
    `{% if tracking_link %}` stays allowed), and shown as `[name]` in a preview."""

    __slots__ = ()

    def _note(self) -> str:
        if self._undefined_exception is not UndefinedError:
            # The sandbox's answer to `__class__` and the like: never swallowed.
            self._fail_with_undefined_error()
        name = self._undefined_name or "?"
        found = _missing.get()
        if found is not None and name not in found:
            found.append(name)
        return f"[{name}]"

    def __str__(self) -> str:
        return self._note()

    def __iter__(self) -> Iterator[Any]:
        self._note()
        return iter(())

    def __bool__(self) -> bool:
        if self._undefined_exception is not UndefinedError:
            self._fail_with_undefined_error()
        return False

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self._fail_with_undefined_error()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        if self._undefined_exception is UndefinedError:
            self._note()
        raise self._undefined_exception(self._undefined_message)


_env = ImmutableSandboxedEnvironment(
    undefined=_RecordingUndefined,
    autoescape=False,  # plain text answers; the HTML is made (and escaped) when shown
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


def check_syntax(source: str) -> str:
    """ "" when `source` parses, else the error (for the editor's form)."""
    try:
        _env.parse(source)
    except TemplateSyntaxError as exc:
        return f"{exc.message} (line {exc.lineno})"
    return ""


def variables_used(source: str) -> set[str]:
    """The top-level names a template refers to."""
    from jinja2 import meta

    try:
        return set(meta.find_undeclared_variables(_env.parse(source)))
    except TemplateSyntaxError:
        return set()


def _render_string(source: str, context: Mapping[str, Any]) -> tuple[str, list[str]]:
    found: list[str] = []
    token = _missing.set(found)
    try:
        text = _env.from_string(source).render(dict(context))
    except UndefinedError:
        # A missing variable used where the recording cannot stand in (`order.x`, `x + 1`): it
        # is already noted by then.
        text = ""
    except SecurityError as exc:
        raise TemplateRenderError(
            str(_("The template tried something not allowed: %(error)s") % {"error": exc}),
            code="unsafe",
        ) from exc
    except TemplateSyntaxError as exc:
        raise TemplateRenderError(
            str(_("The template has an error: %(error)s") % {"error": check_syntax(source)}),
            code="syntax",
        ) from exc
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateRenderError(
            str(_("The template failed: %(error)s") % {"error": exc}), code="failed"
        ) from exc
    finally:
        _missing.reset(token)
    return text.strip(), found


# -- the context --------------------------------------------------------------------------------


def primary_language(code: str) -> str:
    return (code or "").replace("_", "-").split("-")[0].lower()


def format_date(value: date | datetime, language: str, tz: str = "") -> str:
    """A date written the way `language` writes it ("24 novembre 2026", "Nov. 24, 2026")."""
    if isinstance(value, datetime):
        value = value.astimezone(_zone(tz)).date()
    with translation.override(language or "en"):
        return formats.date_format(value, "DATE_FORMAT")


def format_datetime(value: datetime, language: str, tz: str) -> str:
    """A moment in `tz`, with the weekday: "mardi 24 novembre 2026, 09:30"."""
    local = value.astimezone(_zone(tz))
    with translation.override(language or "en"):
        pattern = "l " + str(formats.get_format("DATE_FORMAT")) + ", H:i"
        return formats.date_format(local, pattern)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def build_context(
    conversation: Conversation, *, agent: User | None = None, language: str = ""
) -> dict[str, Any]:
    """What a template may say about `conversation`, as plain values; a variable that has no
    value is left out (the template then reports it missing). Dates are written in `language`."""
    shop = conversation.shop
    customer = conversation.customer
    order = conversation.order
    lang = primary_language(language or conversation.language or shop.language)
    values: dict[str, Any] = {
        "shop_name": shop.name,
        "marketplace": conversation.channel.get_marketplace_display(),
        "order_number": conversation.order_number or (order.external_id if order else ""),
    }
    if customer is not None and customer.name.strip():
        name = " ".join(customer.name.split())
        values["customer_name"] = name
        values["customer_first_name"] = name.split()[0]
    if agent is not None:
        values["agent_first_name"] = agent.first_name or agent.display_name
    if order is not None:
        values["order_items"] = [
            {
                "title": str(item.get("title", "")),
                "quantity": int(item.get("quantity") or 1),
                "sku": str(item.get("sku", "")),
            }
            for item in (order.items or [])
            if isinstance(item, dict)
        ] or None
        values["tracking_number"] = order.tracking_number
        values["tracking_link"] = order.tracking_url
        values["carrier"] = order.carrier
        if order.expected_delivery_at is not None:
            values["expected_delivery"] = format_date(
                order.expected_delivery_at, lang, shop.timezone
            )
    if conversation.respond_by is not None:
        values["reply_by"] = format_datetime(conversation.respond_by, lang, shop.timezone)
    return {k: v for k, v in values.items() if v not in (None, "", [])}


# -- what an automatic reply can fill ----------------------------------------------------------

# Nobody writes an automatic reply: these never have a value in one.
NEVER_IN_AUTO_REPLY = frozenset({"agent_first_name"})
# Every conversation has these.
ALWAYS_KNOWN = frozenset({"shop_name", "marketplace"})
# A buyer message that waits for an answer always has its deadline.
KNOWN_ON_BUYER_MESSAGE = ALWAYS_KNOWN | {"reply_by"}

# Values to render a template with when probing it (a list where a list is expected).
_PROBE_VALUES: dict[str, Any] = {
    **{v.name: v.example for v in VARIABLES},
    "order_items": [{"title": "Lampe", "quantity": 1, "sku": "L-1"}],
}


def auto_reply_problems(template: Template, *, known: frozenset[str]) -> list[str]:
    """Why `template` cannot be an automatic reply ([] when it can): a variable no automatic
    reply can fill (the agent's name), an unknown one, or one that may be absent (no order
    yet, a buyer without a name...) used with no fallback named. `known`: the variables the
    rule's trigger guarantees. Each absent-able variable is probed alone (the others filled),
    so a use guarded by `{% if x %}` or given `{{ x | default("…") }}` passes and any other
    use is caught, whatever the other variables' values."""
    problems: list[str] = []
    for version in template.versions.order_by("language"):
        for source in (version.subject, version.body):
            syntax = check_syntax(source)
            if syntax:
                problems.append(
                    str(_("“%(template)s” has an error: %(error)s"))
                    % {"template": template.name, "error": syntax}
                )
                continue
            used = variables_used(source)
            problems += _variable_problems(template.name, used)
            problems += _absent_variable_problems(
                template.name, version.language, source, used & VARIABLE_NAMES - known
            )
    return list(dict.fromkeys(problems))


def _variable_problems(name: str, used: set[str]) -> list[str]:
    """Variables no automatic reply can ever use: unknown ones, and those only an agent fills."""
    problems: list[str] = []
    unknown = sorted(used - VARIABLE_NAMES)
    if unknown:
        problems.append(
            str(_("“%(template)s” uses an unknown variable: %(names)s"))
            % {"template": name, "names": ", ".join(unknown)}
        )
    never = sorted(used & NEVER_IN_AUTO_REPLY)
    if never:
        problems.append(
            str(
                _(
                    "“%(template)s” uses %(names)s, which an automatic reply can never "
                    "fill (no agent writes it): take it out of the template or pick "
                    "another one"
                )
            )
            % {"template": name, "names": ", ".join(never)}
        )
    return problems


def _absent_variable_problems(
    name: str, language: str, source: str, candidates: set[str]
) -> list[str]:
    """Each variable that may be absent, probed alone: used with no fallback, it is a problem."""
    problems: list[str] = []
    for variable in sorted(candidates - NEVER_IN_AUTO_REPLY):
        context = {
            k: v for k, v in _PROBE_VALUES.items() if k != variable and k not in NEVER_IN_AUTO_REPLY
        }
        try:
            missing = _render_string(source, context)[1]
        except TemplateRenderError as exc:
            problems.append(f"“{name}”: {'; '.join(exc.messages)}")
            break
        if variable in missing:
            problems.append(
                str(
                    _(
                        "“%(template)s” (%(language)s) uses %(name)s, which an automatic "
                        "reply may not have: name the fallback, %(default)s, or put it "
                        "inside %(guard)s"
                    )
                )
                % {
                    "template": name,
                    "language": language,
                    "name": variable,
                    "default": f'{{{{ {variable} | default("…") }}}}',
                    "guard": f"{{% if {variable} %}}…{{% endif %}}",
                }
            )
    return problems


# -- choosing the version -----------------------------------------------------------------------


def choose_version(
    template: Template, conversation: Conversation | None, *, language: str = ""
) -> TemplateVersion | None:
    """The version in `language` if given, else the conversation's language, else the shop's,
    else any (the first made)."""
    versions = {primary_language(v.language): v for v in template.versions.order_by("-id")}
    wanted = [language]
    if conversation is not None:
        wanted += [conversation.language, conversation.shop.language]
    for code in wanted:
        if code and primary_language(code) in versions:
            return versions[primary_language(code)]
    return min(versions.values(), key=lambda v: v.pk, default=None)


def render_template(
    template: Template,
    conversation: Conversation,
    *,
    agent: User | None = None,
    language: str | None = None,
    values: Mapping[str, str] | None = None,
    strict: bool = True,
) -> Rendered:
    """Render `template` for `conversation` (the version chosen by `choose_version`).

    `values` fills or overrides variables (an agent typed the missing tracking number). Raises
    `MissingVariables` when a variable used has no value, unless `strict` is false (a preview:
    the missing ones are then listed in `Rendered.missing` and shown as `[name]`), and
    `TemplateRenderError` for a broken or unsafe template.
    """
    version = choose_version(template, conversation, language=language or "")
    if version is None:
        raise TemplateRenderError(
            str(_("The template “%(name)s” has no text yet.") % {"name": template.name}),
            code="empty",
        )
    rendered = render_source(
        version.subject,
        version.body,
        conversation,
        language=version.language,
        agent=agent,
        values=values,
    )
    if rendered.missing and strict:
        raise MissingVariables(rendered.missing, template_name=template.name)
    return rendered


def render_source(
    subject: str,
    body: str,
    conversation: Conversation,
    *,
    language: str,
    agent: User | None = None,
    values: Mapping[str, str] | None = None,
) -> Rendered:
    """A subject and body not saved yet (the editor's live preview) rendered for
    `conversation`, as a preview: the missing variables listed, not raised."""
    lang = primary_language(language)
    context = build_context(conversation, agent=agent, language=lang)
    for key, value in (values or {}).items():
        if key in VARIABLE_NAMES and str(value).strip():
            context[key] = str(value).strip()
    subject, missing_subject = _render_string(subject, context)
    text, missing_text = _render_string(body, context)
    missing = list(dict.fromkeys(missing_subject + missing_text))
    return Rendered(subject=subject, text=text, language=lang, missing=missing)


def placeholder(variable: Variable) -> str:
    """What the editor's variable picker inserts (a list is inserted as its loop)."""
    return variable.example if variable.name == "order_items" else f"{{{{ {variable.name} }}}}"
