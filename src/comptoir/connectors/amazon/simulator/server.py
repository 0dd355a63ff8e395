"""The Amazon simulator itself: the routes, Login with Amazon's token endpoint, and the access
token every SP-API call carries."""

from __future__ import annotations

import uuid

from comptoir.connectors.amazon.simulator.messaging_api import MessagingApi
from comptoir.connectors.amazon.simulator.orders_api import OrdersApi
from comptoir.connectors.amazon.simulator.state import (
    EXPIRED,
    EXPIRED_FAULT_BODY,
    SimToken,
    amazon_errors,
)
from comptoir.connectors.simulator import ContractViolation, HttpError, Request, Response
from comptoir.lib import http


class AmazonSimulator(OrdersApi, MessagingApi):
    """Amazon SP-API (LWA, Orders v0, Messaging v1, Uploads 2020-11-01) on 127.0.0.1."""

    def _register_routes(self) -> None:
        self.route("POST", r"/auth/o2/token", self._token)
        self.route("GET", r"/orders/v0/orders", self._get_orders)
        self.route("GET", r"/orders/v0/orders/(?P<orderId>[^/]+)", self._get_order)
        self.route("GET", r"/orders/v0/orders/(?P<orderId>[^/]+)/orderItems", self._get_items)
        self.route("GET", r"/messaging/v1/orders/(?P<orderId>[^/]+)", self._get_actions)
        self.route(
            "POST",
            r"/messaging/v1/orders/(?P<orderId>[^/]+)/messages/(?P<kind>[A-Za-z]+)",
            self._create_message,
        )
        self.route(
            "POST", r"/uploads/2020-11-01/uploadDestinations/(?P<resource>.+)", self._upload_dest
        )
        self.route("PUT", r"/_upload/(?P<id>[^/]+)", self._upload_put)

    # -- plumbing -----------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response | None:
        response = super().dispatch(request)
        if (
            response is not None
            and response.status == 401
            and response.body == EXPIRED_FAULT_BODY
            and not request.path.startswith(("/orders/", "/messaging/", "/uploads/"))
        ):
            # Only SP-API calls carry an access token that can expire: elsewhere (the login
            # service, the upload store) this fault stands for an outage before anything ran.
            return Response(503, {"message": "Service Unavailable (simulated)"})
        return response

    def authenticate(self, request: Request) -> None:
        if request.path.startswith(("/auth/", "/_upload/")):
            return
        value = request.headers.get("x-amz-access-token", "")
        if not value:
            raise amazon_errors(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The request has no x-amz-access-token header.",
            )
        with self.lock:
            token = self.tokens.get(value)
            expired = token is not None and (token.expired or token.expires_at <= http.monotonic())
            denied = self.denied
        if token is None or denied:
            raise amazon_errors(403, "Unauthorized", "Access to requested resource is denied.")
        if expired:
            raise amazon_errors(
                403, "Unauthorized", "Access to requested resource is denied.", EXPIRED
            )

    # -- Login with Amazon --------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            raise ContractViolation("the token request must be form-encoded")
        form = {k: v[-1] for k, v in request.form().items()}
        unknown = set(form) - {"grant_type", "refresh_token", "client_id", "client_secret"}
        if unknown:
            raise ContractViolation(f"token request fields not in LWA: {sorted(unknown)}")
        if form.get("grant_type") != "refresh_token":
            raise HttpError(
                400,
                {"error": "unsupported_grant_type", "error_description": "grant_type invalid"},
            )
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            raise HttpError(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
            )
        with self.lock:
            if form.get("refresh_token") != self.refresh_token:
                raise HttpError(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "The request has an invalid grant parameter : "
                        "refresh_token",
                    },
                )
            value = f"Atza|sim-{next(self._token_ids)}-{uuid.uuid4().hex}"
            self.tokens[value] = SimToken(http.monotonic() + self.token_lifetime)
            self.tokens_issued += 1
        return Response(
            200,
            {
                "access_token": value,
                "refresh_token": self.refresh_token,
                "token_type": "bearer",
                "expires_in": int(self.token_lifetime),
            },
        )
