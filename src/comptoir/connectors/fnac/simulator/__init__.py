"""A local Fnac marketplace: the XML services the connector uses, with buyers to script.

Endpoints (each a POST of an XML document to `/api.php/<service>`, per Fnac's XSDs):
`auth`, `messages_query`, `messages_update` (reply, create, mark_as_read, archive...),
`incidents_query`, `incidents_update` (refunds of claims: `incidents_update.py`) and
`orders_query`; attachments of buyer messages are served at
`GET /api.php/files/<id>`.

Every request is checked against its service's XSD (from `contract.specs_dir() / "fnac"`; by
hand, the root element and its header only, when the XSDs are absent): a request that breaks it
is answered 400 and kept in `violations`. Every answer is checked too; one that breaks the XSD is
kept in `answer_problems` (a simulator bug). A token Fnac does not know, or that expired, is
answered as the XSDs say: status FATAL and an `error` element.

State lives in memory and ids come from a seeded generator, so a run can be replayed.

Modules: `state` (the shop's messages, orders, claims and tokens, and the scripting calls),
`services` (the query and update services), `server` (`FnacSimulator`: the routes, the XML
checks both ways, `auth`), `demo_shop` (the simulator `comptoir demo` runs).
"""

from __future__ import annotations

from comptoir.connectors.fnac.simulator.demo_shop import demo
from comptoir.connectors.fnac.simulator.server import FnacSimulator
from comptoir.connectors.fnac.simulator.state import (
    SimFile,
    SimIncident,
    SimMessage,
    SimOrder,
    SimOrderLine,
)

__all__ = [
    "FnacSimulator",
    "SimFile",
    "SimIncident",
    "SimMessage",
    "SimOrder",
    "SimOrderLine",
    "demo",
]
