"""Channel settings forms, drawn from each connector's pydantic settings model, so a new
connector gets its settings page by declaring its model (and the model stays the one check)."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from django.core.exceptions import ValidationError
from pydantic import BaseModel, HttpUrl
from pydantic import ValidationError as PydanticValidationError

from comptoir.connectors.labels import LABELS
from comptoir.lib import http

# Fields whose value is never sent back to the browser; left blank, the stored value is kept.
SECRET = re.compile(r"(password|secret|api_key|private_key|passphrase|^key$|(^|_)token$)", re.I)
# Settings Comptoir sends requests to (base, auth, token and webhook URLs, an API endpoint).
REQUEST_URL = re.compile(r"((^|_)url|^endpoint)$")
# Servers a connector opens a connection to by name (a mailbox's IMAP and SMTP hosts).
SERVER_HOST = re.compile(r"(^|_)host$")


@dataclass(frozen=True)
class SettingField:
    name: str
    label: str
    widget: str  # text, password, number, checkbox, select, url, list
    required: bool
    default: Any
    choices: tuple[str, ...] = ()
    choice_labels: tuple[Any, ...] = ()  # shown for `choices`, when the model names them
    # Shown only while another field has one of these values ("auth", ("password",)): the
    # page hides it by script; without script its `hint` says when it is ignored.
    only_when: tuple[str, tuple[str, ...]] | None = None
    hint: Any = ""

    @property
    def secret(self) -> bool:
        return self.widget == "password"

    @property
    def options(self) -> list[tuple[str, Any]]:
        return list(zip(self.choices, self.choice_labels or self.choices, strict=True))


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) for `X | None`."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else str), True
    return annotation, False


def settings_fields(model: type[BaseModel]) -> list[SettingField]:
    fields = []
    for name, info in model.model_fields.items():
        kind, optional = _unwrap(info.annotation)
        origin = get_origin(kind)
        choices: tuple[str, ...] = ()
        if SECRET.search(name):
            widget = "password"
        elif kind is bool:
            widget = "checkbox"
        elif kind in (int, float):
            widget = "number"
        elif origin is Literal:
            widget, choices = "select", tuple(str(c) for c in get_args(kind))
        elif kind is HttpUrl:
            widget = "url"
        elif origin is list:
            widget = "list"
        else:
            widget = "text"
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        # A model may name a field and its choices for people (json_schema_extra).
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        labels = extra.get("choice_labels")
        only_when = extra.get("only_when")
        fields.append(
            SettingField(
                name=name,
                label=str(
                    extra.get("label") or LABELS.get(name) or name.replace("_", " ").capitalize()
                ),
                widget=widget,
                required=info.is_required() and not optional,
                default=default,
                choices=choices,
                choice_labels=tuple(labels[c] for c in choices) if isinstance(labels, dict) else (),
                only_when=(str(only_when[0]), tuple(only_when[1]))
                if isinstance(only_when, tuple)
                else None,
                hint=extra.get("hint", ""),
            )
        )
    return fields


def form_values(model: type[BaseModel], stored: Mapping[str, Any]) -> dict[str, Any]:
    """What the form shows: stored values (secrets never), else the defaults."""
    values = {}
    for field in settings_fields(model):
        value = stored.get(field.name, field.default)
        if field.secret:
            value = ""
        elif field.widget == "list" and isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        values[field.name] = "" if value is None else value
    return values


def settings_from_form(
    model: type[BaseModel], post: Mapping[str, Any], stored: Mapping[str, Any]
) -> dict[str, Any]:
    """The settings to store from a submitted form, validated by the connector's own model.
    Raises ValidationError with one message per wrong field, named as in the form."""
    data: dict[str, Any] = {}
    for field in settings_fields(model):
        raw = post.get(field.name)
        if field.widget == "checkbox":
            data[field.name] = raw in ("on", "true", "1")
            continue
        text = str(raw or "").strip()
        if field.secret and not text:
            if field.name in stored:
                data[field.name] = stored[field.name]
            continue
        if not text:
            if field.required:
                data[field.name] = ""  # the model says what is missing
            continue
        data[field.name] = (
            [p.strip() for p in text.split(",") if p.strip()] if (field.widget == "list") else text
        )
    return _validated(model, data, stored)


def settings_from_json(
    model: type[BaseModel], given: Mapping[str, Any], stored: Mapping[str, Any]
) -> dict[str, Any]:
    """The settings to store from an API body (typed values): the same model and URL checks
    as the form. A secret left out (or empty) keeps its stored value, as on the page; a key the
    model does not know is refused rather than stored."""
    unknown = sorted(set(given) - set(model.model_fields))
    if unknown:
        raise ValidationError([f"{k}: not a setting of this channel's kind" for k in unknown])
    data = dict(given)
    for field in settings_fields(model):
        if field.secret and not data.get(field.name):
            data.pop(field.name, None)
            if field.name in stored:
                data[field.name] = stored[field.name]
    kept = {k: v for k, v in stored.items() if k in model.model_fields and k not in data}
    return _validated(model, {**kept, **data}, stored)


def _validated(
    model: type[BaseModel], data: Mapping[str, Any], stored: Mapping[str, Any]
) -> dict[str, Any]:
    # Keys the form does not show (e.g. set by the simulator or the CLI) are kept.
    extra = {k: v for k, v in stored.items() if k not in model.model_fields}
    try:
        # `saving`: validators may run their costlier checks (a regex's ReDoS probe) once, here.
        validated = model.model_validate({**extra, **data}, context={"saving": True})
    except PydanticValidationError as exc:
        raise ValidationError(
            [
                f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
                for error in exc.errors()
            ]
        ) from None
    stored_settings = {**extra, **validated.model_dump(mode="json")}
    refused = url_errors(model, stored_settings)
    if refused:
        raise ValidationError(refused)
    return stored_settings


def url_errors(model: type[BaseModel], values: Mapping[str, Any]) -> list[str]:
    """One message per URL or server setting whose connections would be refused (`lib.http`'s
    rule: no loopback, private, link-local or metadata address unless the deployment allows
    them). A server host (IMAP, SMTP) is checked as it is saved only: its connections are not
    HTTP and do not go through `lib.http`."""
    errors = []
    for field in settings_fields(model):
        value = values.get(field.name)
        if not value:
            continue
        if SERVER_HOST.search(field.name):
            host = str(value).strip()
            value = f"http://[{host}]/" if ":" in host and "[" not in host else f"http://{host}/"
        elif not (field.widget == "url" or REQUEST_URL.search(field.name)):
            continue
        try:
            http.check_url(str(value))
        except (http.AddressNotAllowed, ValueError) as exc:
            errors.append(f"{field.name}: {exc}")
    return errors
