"""Fnac's XML dialect: building, safe parsing and XSD validation, shared by the connector and
its simulator.

Every service has its own XSD (`AuthenticationService.xsd`, `MessagesQueryService.xsd`, ...),
all in one target namespace. They cannot be merged into one schema (each redefines types such
as `message_type`), so each service's file is loaded on its own, from
`contract.specs_dir() / "fnac"`, when it is there.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import defusedxml.ElementTree as safe_xml
import xmlschema
from defusedxml import DefusedXmlException

from comptoir.connectors import contract

NS = "http://www.fnac.com/schemas/mp-dialog.xsd"
ET.register_namespace("", NS)

# Request element -> the XSD that declares it and its `<name>_response`.
SERVICES = {
    "auth": "AuthenticationService.xsd",
    "messages_query": "MessagesQueryService.xsd",
    "messages_update": "MessagesUpdateService.xsd",
    "incidents_query": "IncidentsQueryService.xsd",
    "incidents_update": "IncidentsUpdateService.xsd",
    "orders_query": "OrdersQueryService.xsd",
}


class XmlError(ValueError):
    """Not a well-formed, safe Fnac document."""


def q(tag: str) -> str:
    """The namespaced name of a Fnac element."""
    return f"{{{NS}}}{tag}"


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def element(tag: str, attrib: dict[str, str] | None = None, text: str | None = None) -> ET.Element:
    el = ET.Element(q(tag), attrib or {})
    if text is not None:
        el.text = text
    return el


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    child = ET.SubElement(parent, q(tag), attrib)
    if text is not None:
        child.text = text
    return child


def serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def parse(data: bytes) -> ET.Element:
    """Parse a document with defusedxml, refusing any DOCTYPE (where entity tricks, billion
    laughs and external entities, start: Fnac never sends one) and any entity declaration."""
    try:
        return safe_xml.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise XmlError(
            "the document declares a DOCTYPE or entities, which Fnac never does"
        ) from None
    except ET.ParseError as exc:
        raise XmlError(f"not well-formed XML: {exc}") from None


def text(parent: ET.Element, tag: str) -> str:
    child = parent.find(q(tag))
    return (child.text or "").strip() if child is not None else ""


def xs_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def parse_datetime(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@cache
def _load(path: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(path))


def schema_for(tag: str) -> xmlschema.XMLSchema | None:
    """The schema declaring the request or response element `tag`, None without the specs."""
    service = local(tag).removesuffix("_response")
    filename = SERVICES.get(service)
    if filename is None:
        return None
    path = contract.specs_dir() / "fnac" / filename
    if not path.is_file():
        return None
    return _load(path.resolve())


def specs_available() -> bool:
    return (contract.specs_dir() / "fnac" / SERVICES["auth"]).is_file()


def problems(root: ET.Element) -> list[str]:
    """What is wrong with this document per its service's XSD (empty when valid or when the
    XSDs are not installed)."""
    if not root.tag.startswith(f"{{{NS}}}"):
        return [f"root element {root.tag!r} is not in the Fnac namespace"]
    if local(root.tag).removesuffix("_response") not in SERVICES:
        return [f"{local(root.tag)!r} is not a Fnac service"]
    schema = schema_for(root.tag)
    if schema is None:
        return []
    return [
        f"{error.path or local(root.tag)}: {error.reason}" for error in schema.iter_errors(root)
    ]
