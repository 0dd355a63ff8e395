"""A local Amazon Selling Partner API, for tests and the demo.

Endpoints, as in Amazon's published models (`amazon/*.json` in the specs folder):
- Login with Amazon `POST /auth/o2/token` (grant_type=refresh_token): an access token that
  expires (`token_lifetime`, on the `http.monotonic` clock); SP-API calls carry it in
  `x-amz-access-token`. An expired one gets Amazon's 403 "The access token you provided has
  expired."; an unknown one a plain 403 "Access to requested resource is denied.".
- Orders v0: `GET /orders/v0/orders` (getOrders, NextToken; `AmazonOrderIds` narrows it to
  those orders, 50 at most, more is a 400 `InvalidInput`), `GET /orders/v0/orders/{orderId}`
  (getOrder), `GET /orders/v0/orders/{orderId}/orderItems` (getOrderItems, NextToken, with the
  page faults).
- Messaging v1: `GET /messaging/v1/orders/{amazonOrderId}` (the allowed message types under
  `_links.actions`) and `POST /messaging/v1/orders/{amazonOrderId}/messages/{type}`. A type the
  order does not allow is answered as Amazon does: 403 "Invalid amazonOrderId and template
  combination.".
- Uploads 2020-11-01: `POST /uploads/2020-11-01/uploadDestinations/{resource}` returns a
  destination whose `url` (here `PUT /_upload/{id}`, standing for Amazon's storage) takes the
  file; its MD5 must match `contentMD5`.

Each operation has Amazon's default usage plan (Messaging 1 request/s, burst 5; getOrder 0.5/s,
burst 30...), enforced as a token bucket: over it, a 429 `QuotaExceeded` with
`x-amzn-RateLimit-Limit`. Requests are checked against the models when they are present (query
parameters, body schemas), and by hand otherwise; a body field the operation does not define is
refused too (stricter than Amazon, which ignores it: a misspelt field must not pass unnoticed).

The base simulator's `expired_token` fault answers 401 (Amazon says 403 with "expired"): both
go through the connector's token refresh. Buyers do not write here: their messages reach the
seller by email (the email channel). What the seller sent is in `seller_messages()`;
`seed_orders()` fills the shop for the demo, the same for the same seed.

Modules: `state` (the shop's orders, what the seller sent, the tokens and usage plans, and the
scripting calls), `orders_api` (Orders v0), `messaging_api` (Messaging v1 and the Uploads its
attachments go through), `server` (`AmazonSimulator`: the routes and Login with Amazon),
`demo_shop` (the simulator `comptoir demo` runs).
"""

from __future__ import annotations

from comptoir.connectors.amazon.simulator.demo_shop import demo
from comptoir.connectors.amazon.simulator.server import AmazonSimulator
from comptoir.connectors.amazon.simulator.state import SentMessage

__all__ = ["AmazonSimulator", "SentMessage", "demo"]
