"""A local Octopia Seller API v2 (Cdiscount marketplace), for tests and the demo.

It follows the public Octopia contract as far as it is documented:
- `POST /auth/realms/maas/protocol/openid-connect/token` (form: `grant_type=client_credentials`,
  `client_id`, `client_secret`) gives a bearer token that expires (2 h on Octopia; `token_ttl`
  here), then every call carries `Authorization: Bearer <token>` and the `SellerId` header.
- `GET /seller/v2/sellers`: the seller's account (`sellerId`, `login`, `shopName`).
- `GET /seller/v2/discussions`: filters `updatedAtMin`, `updatedAtMax` (at most 6 months
  apart), `isOpen`, `orderId`, `salesChannel`, `graduationCode`, `processStatus`; paging
  `pageIndex` (from 1) and `pageSize` (at most 100); answers `{itemsPerPage, items, _links}`
  with `_links.next` while there is more, oldest `updatedAt` first.
- `GET /seller/v2/discussions/{discussionId}`: the discussion with its `messages` and the
  `eligibleReceivers` of a reply.
- `POST /seller/v2/discussions/{discussionId}/messages`: multipart, a `body` and `receivers`
  part and up to 3 `attachments` of 4 MB in all, of the accepted file types.
- `GET /seller/v2/discussions/{discussionId}/attachments/{attachmentId}`: the file.
- `POST /seller/v2/discussions` opens one on an order; `.../{discussionId}/close` and
  `.../{discussionId}/open` close and reopen it.
- `GET /seller/v2/orders/{orderId}`: one order.
Errors are `application/problem+json` (`type`, `title`, `status`, `detail`).

Requests that stray from it (an unknown or missing field or parameter, no `SellerId`) are
contract violations: answered 400 and recorded in `violations`.

Modules: `state` (the discussions, orders and tokens, and the scripting calls), `discussions`
(the discussion calls), `server` (`CdiscountSimulator`: the routes, OAuth, the seller and order
reads), `demo_shop` (the simulator `comptoir demo` runs).
"""

from __future__ import annotations

from comptoir.connectors.cdiscount.simulator.demo_shop import demo
from comptoir.connectors.cdiscount.simulator.server import CdiscountSimulator
from comptoir.connectors.cdiscount.simulator.state import (
    SimAttachment,
    SimDiscussion,
    SimMessage,
    SimOrder,
)

__all__ = [
    "CdiscountSimulator",
    "SimAttachment",
    "SimDiscussion",
    "SimMessage",
    "SimOrder",
    "demo",
]
