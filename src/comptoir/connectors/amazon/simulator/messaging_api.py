"""Messaging v1 in the Amazon simulator (the message types an order allows, sending one), and
the Uploads API 2020-11-01 its attachments go through (a destination, then the file's PUT to
the store, checked against its MD5)."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from datetime import UTC, datetime

from comptoir.connectors.amazon.simulator.state import (
    MESSAGE_BODIES,
    MESSAGING,
    TEMPLATE_REFUSED,
    UPLOADS,
    AmazonMarketplace,
    SentMessage,
    SimUpload,
    amazon_errors,
)
from comptoir.connectors.simulator import ContractViolation, HttpError, Request, Response


class MessagingApi(AmazonMarketplace):
    """`/messaging/v1/orders/{orderId}` and its messages, `/uploads/2020-11-01` and the store."""

    def _get_actions(self, request: Request) -> Response:
        self._check(MESSAGING, request)
        self._marketplace(request, "marketplaceIds")
        self._throttle("getMessagingActionsForOrder")
        order_id = request.params["orderId"]
        with self.lock:
            self._order(order_id)
            allowed = self.allowed_for(order_id)
        query = f"?marketplaceIds={self.marketplace_id}"
        base = f"/messaging/v1/orders/{order_id}"
        return self._ok(
            {
                "_links": {
                    "self": {"href": base + query},
                    "actions": [
                        {"href": f"{base}/messages/{kind}{query}", "name": kind} for kind in allowed
                    ],
                },
                "_embedded": {
                    "actions": [
                        {
                            "_links": {
                                "self": {"href": f"{base}/messages/{kind}{query}", "name": kind},
                                "schema": {
                                    "href": f"{base}/messages/{kind}/schema",
                                    "name": kind,
                                },
                            }
                        }
                        for kind in allowed
                    ]
                },
            },
            "getMessagingActionsForOrder",
        )

    def _create_message(self, request: Request) -> Response:
        kind = request.params["kind"]
        if kind not in MESSAGE_BODIES:
            raise amazon_errors(404, "NotFound", f"Unknown message type {kind!r}.")
        body = request.json()
        if not isinstance(body, dict):
            raise ContractViolation("the message body must be a JSON object")
        self._check(MESSAGING, request, body)
        unknown = set(body) - set(MESSAGE_BODIES[kind])
        if unknown:
            raise ContractViolation(f"body fields not defined for {kind}: {sorted(unknown)}")
        self._marketplace(request, "marketplaceIds")
        self._throttle("createMessage")
        order_id = request.params["orderId"]
        with self.lock:
            self._order(order_id)
            if kind not in self.allowed_for(order_id):
                raise amazon_errors(403, "Unauthorized", TEMPLATE_REFUSED)
            files: list[tuple[str, bytes]] = []
            for attachment in body.get("attachments") or []:
                upload = self.uploads.get(attachment.get("uploadDestinationId", ""))
                resource = f"messaging/v1/orders/{order_id}/messages/{kind}"
                if upload is None or upload.data is None or upload.resource != resource:
                    raise amazon_errors(
                        400,
                        "InvalidInput",
                        "Invalid uploadDestinationId.",
                        attachment.get("uploadDestinationId", ""),
                    )
                files.append((attachment["fileName"], upload.data))
            if (
                "text" in MESSAGE_BODIES[kind]
                and not MESSAGE_BODIES[kind].get("attachments")
                and not body.get("text")
            ):
                raise amazon_errors(400, "InvalidInput", "text is required.")
            if kind == "invoice" and not files:
                raise amazon_errors(400, "InvalidInput", "An invoice needs an attachment.")
            self.sent.append(
                SentMessage(order_id, kind, body.get("text", ""), files, datetime.now(UTC))
            )
        # Amazon answers 201 with an empty object: no message id, and no way to read it back.
        return self._ok({}, "createMessage", status=201)

    # -- Uploads 2020-11-01 -------------------------------------------------------------------

    def _upload_dest(self, request: Request) -> Response:
        self._check(UPLOADS, request)
        self._marketplace(request, "marketplaceIds")
        self._throttle("createUploadDestinationForResource")
        md5 = request.arg("contentMD5") or ""
        try:
            if len(base64.b64decode(md5, validate=True)) != 16:
                raise ValueError(md5)
        except ValueError:
            raise ContractViolation(f"contentMD5 {md5!r} is not a base64 MD5 digest") from None
        resource = request.params["resource"]
        if not re.fullmatch(r"messaging/v1/orders/[^/]+/messages/[A-Za-z]+", resource):
            raise amazon_errors(400, "InvalidInput", f"Unsupported resource {resource!r}.")
        upload = SimUpload(
            id=str(uuid.UUID(int=self.random.getrandbits(128))),
            resource=resource,
            content_md5=md5,
            content_type=request.arg("contentType") or "",
        )
        with self.lock:
            self.uploads[upload.id] = upload
        headers = {"Content-MD5": md5}
        if upload.content_type:
            headers["Content-Type"] = upload.content_type
        return self._ok(
            {
                "payload": {
                    "uploadDestinationId": upload.id,
                    "url": f"{self.url}/_upload/{upload.id}",
                    "headers": headers,
                }
            },
            "createUploadDestinationForResource",
            status=201,
        )

    def _upload_put(self, request: Request) -> Response:
        if "x-amz-access-token" in request.headers:
            raise ContractViolation("the SP-API access token must not go to the upload store")
        with self.lock:
            upload = self.uploads.get(request.params["id"])
        if upload is None:
            raise HttpError(404, b"<Error><Code>NoSuchUpload</Code></Error>")
        digest = base64.b64encode(hashlib.md5(request.body).digest()).decode()
        if digest != upload.content_md5 or request.headers.get("content-md5") != digest:
            raise HttpError(400, b"<Error><Code>BadDigest</Code></Error>")
        with self.lock:
            upload.data = request.body
        return Response(200, b"", content_type="application/xml")
