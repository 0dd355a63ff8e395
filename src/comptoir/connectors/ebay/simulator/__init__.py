"""A local eBay for tests and the demo: the Message API, the Fulfillment API's order reads, the
OAuth token endpoint and the Identity API's user call, over real HTTP on 127.0.0.1.

Endpoints followed (paths, fields and paging as eBay publishes them):
- `POST /identity/v1/oauth2/token` (grant_type=refresh_token, HTTP Basic client credentials):
  user access tokens that expire after `token_lifetime` seconds of the simulator's clock.
- `GET /commerce/identity/v1/user/`: the seller's username.
- `GET /commerce/message/v1/conversation`: conversations of one `conversation_type`, the most
  recently active first, `limit` (at most 50) and `offset` paging, `start_time`/`end_time` for
  FROM_MEMBERS only.
- `GET /commerce/message/v1/conversation/{conversation_id}`: its messages, newest first, paged.
- `POST /commerce/message/v1/send_message`, `POST /commerce/message/v1/update_conversation`.
- `GET /sell/fulfillment/v1/order` (getOrders) by `orderIds` (50 at most, more is a 400; ids
  it does not know come back as `warnings`) or, without them, every order, newest first, with
  `limit` (at most 200) and `offset`; `GET /sell/fulfillment/v1/order/{orderId}` and
  `.../shipping_fulfillment`. An order names its shipments in `fulfillmentHrefs`.
- `GET /media/{name}`: the pictures buyers attach, public like eBay's hosted pictures.
- The Post-Order API v2 (returns, inquiries, cases): see `post_order.py`.

Requests are checked against eBay's OpenAPI descriptions (`contract.load`) and, by hand, against
what those descriptions only say in prose (valid values, maximums, unknown body fields): a
breach is answered 400 and kept in `violations`. Ids are deterministic counters, events are
strictly ordered in time (eBay's clock is the wall clock plus `advance()`), and `seed` drives
the random faults and page shuffles.

Modules: `state` (eBay's side: conversations, orders, the clock, scripting), `message_api`,
`fulfillment_api` and `post_order` (one per API), `server` (`EbaySimulator`: the routes and
OAuth), `demo_shop` (the simulator `comptoir demo` runs).
"""

from __future__ import annotations

from comptoir.connectors.ebay.simulator.demo_shop import demo
from comptoir.connectors.ebay.simulator.server import EbaySimulator
from comptoir.connectors.ebay.simulator.state import (
    FULFILLMENT_SPEC,
    MESSAGE_SPEC,
    SimConversation,
    SimMessage,
)

__all__ = [
    "FULFILLMENT_SPEC",
    "MESSAGE_SPEC",
    "EbaySimulator",
    "SimConversation",
    "SimMessage",
    "demo",
]
