"""The eBay simulator itself: every API on one server, behind eBay's OAuth (the token endpoint,
the Identity API's user call, and the token each call must carry)."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import parse_qs

from comptoir.connectors.ebay.simulator.fulfillment_api import FulfillmentApi
from comptoir.connectors.ebay.simulator.message_api import MessageApi
from comptoir.connectors.ebay.simulator.post_order_steps import PostOrderSteps
from comptoir.connectors.ebay.simulator.state import FULFILLMENT_BASE, MESSAGE_BASE, ebay_error
from comptoir.connectors.simulator import ContractViolation, HttpError, Request, Response


class EbaySimulator(MessageApi, FulfillmentApi, PostOrderSteps):
    """eBay's Message API, order reads and OAuth, with a scriptable buyer (`buyer_writes`) and
    eBay's own notices (`ebay_notifies`); `seller_messages()` is what the seller sent."""

    def _register_routes(self) -> None:
        self.route("POST", "/identity/v1/oauth2/token", self._token)
        self.route("GET", "/commerce/identity/v1/user/?", self._user)
        self.route("GET", f"{MESSAGE_BASE}/conversation", self._conversations)
        self.route("GET", f"{MESSAGE_BASE}/conversation/(?P<cid>[^/]+)", self._conversation)
        self.route("POST", f"{MESSAGE_BASE}/send_message", self._send_message)
        self.route("POST", f"{MESSAGE_BASE}/update_conversation", self._update_conversation)
        self.route("GET", f"{FULFILLMENT_BASE}/order", self._orders)
        self.route("GET", f"{FULFILLMENT_BASE}/order/(?P<oid>[^/]+)", self._order)
        self.route(
            "GET",
            f"{FULFILLMENT_BASE}/order/(?P<oid>[^/]+)/shipping_fulfillment",
            self._shipping_fulfillments,
        )
        self.route("GET", "/media/(?P<name>[^/]+)", self._media)
        self._init_claims()
        self._init_claim_steps()

    # -- auth -----------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        if request.path.startswith(("/identity/", "/media/")):
            return  # the token endpoint checks client credentials itself; pictures are public
        header = request.headers.get("authorization", "")
        # The Post-Order API takes the same OAuth user token, named "IAF" rather than Bearer.
        scheme = "IAF " if request.path.startswith("/post-order/") else "Bearer "
        if header and not header.startswith(scheme):
            raise ContractViolation(f"the Authorization header must be '{scheme}<token>'")
        token = header.removeprefix(scheme)
        with self.lock:
            expiry = self.tokens.get(token)
            valid = expiry is not None and expiry > self.now()
        if not valid:
            raise ebay_error(
                401,
                1001,
                "Invalid access token",
                "Invalid access token. Check the value of the Authorization HTTP request header.",
            )
        if self.forbidden:
            raise ebay_error(
                403, 1100, "Access denied", "Insufficient permissions to fulfill the request."
            )

    def _token(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != (
            "application/x-www-form-urlencoded"
        ):
            raise ContractViolation("the token request must be application/x-www-form-urlencoded")
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization", "") != f"Basic {expected}":
            raise HttpError(
                401,
                {"error": "invalid_client", "error_description": "client authentication failed"},
            )
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        unknown = set(form) - {"grant_type", "refresh_token", "scope"}
        if unknown:
            raise ContractViolation(f"unknown token request fields {sorted(unknown)}")
        if form.get("grant_type") != "refresh_token":
            raise HttpError(
                400,
                {"error": "unsupported_grant_type", "error_description": "grant type unsupported"},
            )
        if form.get("refresh_token") != self.refresh_token or self.refresh_token_revoked:
            raise HttpError(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "the provided authorization refresh token is invalid "
                    "or was issued to another client",
                },
            )
        with self.lock:
            token = f"v^1.1#i^1#p^3#access-{next(self._token_ids)}"
            self.tokens[token] = self.now() + timedelta(seconds=self.token_lifetime)
            self.tokens_issued += 1
        return Response(
            200,
            {
                "access_token": token,
                "expires_in": int(self.token_lifetime),
                "token_type": "User Access Token",
            },
        )

    def _user(self, request: Request) -> Response:
        return Response(200, {"userId": "u-" + self.seller, "username": self.seller})

    # -- the pictures buyers attach -------------------------------------------------------------

    def _media(self, request: Request) -> Response:
        with self.lock:
            found = self.media.get(request.params["name"])
        if found is None:
            raise HttpError(404, {"message": "no such picture"})
        return Response(200, found[1], content_type=found[0])
