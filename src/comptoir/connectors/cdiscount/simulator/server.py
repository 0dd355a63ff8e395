"""The Cdiscount simulator itself: the routes, Octopia's OAuth token endpoint with the bearer
token and `SellerId` header every call carries, and the seller and order reads."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from comptoir.connectors.cdiscount.simulator.discussions import DiscussionsApi
from comptoir.connectors.cdiscount.simulator.state import API, TOKEN_PATH, iso, problem
from comptoir.connectors.simulator import ContractViolation, HttpError, Request, Response


class CdiscountSimulator(DiscussionsApi):
    """The Octopia Seller API v2 discussions, orders and OAuth token endpoint, in memory."""

    def _register_routes(self) -> None:
        self.route("POST", TOKEN_PATH, self._token)
        self.route("GET", f"{API}/sellers", self._seller)
        self.route("GET", f"{API}/discussions", self._list)
        self.route("POST", f"{API}/discussions", self._open_new)
        self.route("GET", f"{API}/discussions/(?P<did>[^/]+)", self._get)
        self.route("POST", f"{API}/discussions/(?P<did>[^/]+)/messages", self._reply)
        self.route(
            "GET", f"{API}/discussions/(?P<did>[^/]+)/attachments/(?P<aid>[^/]+)", self._file
        )
        self.route("POST", f"{API}/discussions/(?P<did>[^/]+)/close", self._close)
        self.route("POST", f"{API}/discussions/(?P<did>[^/]+)/open", self._reopen)
        self.route("GET", f"{API}/orders/(?P<oid>[^/]+)", self._order)

    # -- the contract -------------------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        if request.path == TOKEN_PATH:
            return
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            raise problem(401, "Unauthorized", "a bearer token is required")
        with self.lock:
            expiry = self.tokens.get(header.removeprefix("Bearer "))
            if expiry is None or expiry < time.monotonic():
                raise problem(401, "Unauthorized", "the token is invalid or has expired")
        if self.disabled:
            raise problem(403, "Forbidden", "this client's access to the seller was revoked")
        seller = request.headers.get("sellerid")
        if not seller:
            raise ContractViolation("the SellerId header is required on every call")
        if seller != self.seller_id:
            raise problem(403, "Forbidden", f"the client may not act for seller {seller}")

    def _token(self, request: Request) -> Response:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            raise ContractViolation(f"the token request must be form-encoded, not {ctype!r}")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        unknown = set(form) - {"grant_type", "client_id", "client_secret"}
        if unknown:
            raise ContractViolation(f"unknown token request fields {sorted(unknown)}")
        if form.get("grant_type") != "client_credentials":
            raise ContractViolation(f"grant_type {form.get('grant_type')!r} is not supported")
        for name in ("client_id", "client_secret"):
            if not form.get(name):
                raise ContractViolation(f"{name} is required")
        if (form["client_id"], form["client_secret"]) != (self.client_id, self.client_secret):
            raise HttpError(
                401,
                {"error": "invalid_client", "error_description": "Invalid client credentials"},
            )
        with self.lock:
            token = f"{self._token_random.getrandbits(128):032x}"
            self.tokens[token] = time.monotonic() + self.token_ttl
            self.tokens_issued += 1
        return Response(
            200,
            {
                "access_token": token,
                "expires_in": int(self.token_ttl),
                "token_type": "Bearer",
                "scope": "profile email",
            },
        )

    def _seller(self, request: Request) -> Response:
        self._only(request, set())
        return Response(
            200, {"sellerId": self.seller_id, "login": "maison-lumiere", "shopName": self.shop_name}
        )

    def _order(self, request: Request) -> Response:
        self._only(request, set())
        with self.lock:
            order = self.orders.get(request.params["oid"])
            if order is None:
                raise problem(404, "Not Found", f"order {request.params['oid']} does not exist")
            total = sum(float(line["unitPrice"]) * line["quantity"] for line in order.lines)
            body = {
                "orderId": order.order_id,
                "status": order.status,
                "salesChannelId": "CDISFR",
                "createdAt": iso(order.created_at),
                "currency": order.currency,
                "totalPrice": round(total, 2),
                "maxShippingDate": iso(order.max_shipping_date)
                if order.max_shipping_date
                else None,
                "lines": [
                    {
                        "lineId": line["lineId"],
                        "offer": {
                            "sellerProductId": line["sellerProductId"],
                            "productTitle": line["productTitle"],
                        },
                        "quantity": line["quantity"],
                        "sellingPrice": float(line["unitPrice"]),
                    }
                    for line in order.lines
                ],
                "parcels": [
                    {
                        "parcelNumber": order.parcel_number,
                        "carrierName": order.carrier,
                        "trackingUrl": order.tracking_url,
                        "shippedAt": iso(order.shipped_at) if order.shipped_at else None,
                    }
                ]
                if order.parcel_number
                else [],
                "customer": {"customerId": order.customer_id},
            }
        return Response(200, body)
