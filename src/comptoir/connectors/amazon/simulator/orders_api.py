"""Orders v0 in the Amazon simulator: getOrders (NextToken paging, `AmazonOrderIds`), getOrder
and getOrderItems (NextToken paging, with the page faults)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from comptoir.connectors.amazon.simulator.state import (
    MAX_ORDER_IDS,
    ORDER_ID,
    ORDERS,
    AmazonMarketplace,
    amazon_errors,
    iso,
)
from comptoir.connectors.simulator import Request, Response


class OrdersApi(AmazonMarketplace):
    """`/orders/v0/orders`, `/orders/v0/orders/{orderId}` and its `orderItems`."""

    def _get_orders(self, request: Request) -> Response:
        self._check(ORDERS, request)
        self._throttle("getOrders")
        token = request.arg("NextToken")
        if token is None:
            self._marketplace(request, "MarketplaceIds")
            if not (request.arg("CreatedAfter") or request.arg("LastUpdatedAfter")):
                raise amazon_errors(
                    400, "InvalidInput", "Either CreatedAfter or LastUpdatedAfter is required."
                )
        after = request.arg("CreatedAfter") or "1970-01-01T00:00:00Z"
        ids = [i for v in request.query.get("AmazonOrderIds") or [] for i in v.split(",") if i]
        if len(ids) > MAX_ORDER_IDS:
            # The model's maxItems; Amazon answers it as invalid input.
            raise amazon_errors(
                400,
                "InvalidInput",
                f"AmazonOrderIds accepts at most {MAX_ORDER_IDS} values, got {len(ids)}.",
            )
        with self.lock:
            if ids and self.every_order_exists:
                for order_id in ids:
                    if order_id not in self.orders and ORDER_ID.fullmatch(order_id):
                        self._invent_order(order_id)
            orders = sorted(
                (
                    o.payload
                    for o in self.orders.values()
                    if o.payload["PurchaseDate"] >= after
                    and (not ids or o.payload["AmazonOrderId"] in ids)
                ),
                key=lambda p: (p["PurchaseDate"], p["AmazonOrderId"]),
            )
        size = int(request.arg("MaxResultsPerPage") or self.orders_page_size)
        start = int(token.removeprefix("page-")) if token else 0
        page = orders[start : start + size]
        body: dict[str, Any] = {"Orders": page, "CreatedBefore": iso(datetime.now(UTC))}
        if start + size < len(orders):
            body["NextToken"] = f"page-{start + size}"
        return self._ok({"payload": body}, "getOrders")

    def _get_order(self, request: Request) -> Response:
        self._check(ORDERS, request)
        self._throttle("getOrder")
        with self.lock:
            payload = dict(self._order(request.params["orderId"]).payload)
        return self._ok({"payload": payload}, "getOrder")

    def _get_items(self, request: Request) -> Response:
        self._check(ORDERS, request)
        self._throttle("getOrderItems")
        order_id = request.params["orderId"]
        with self.lock:
            items = [dict(i) for i in self._order(order_id).items]
        token = request.arg("NextToken")
        start = 0
        if token:
            match = re.fullmatch(r"items-(\d+)", token)
            if match is None:
                raise amazon_errors(400, "InvalidInput", "Invalid NextToken.")
            start = int(match.group(1))
        size = self.items_page_size
        page = items[start : start + size]
        fault = self.page_fault(request)
        if fault == "duplicate_page" and start:
            page = items[max(0, start - size) : start] + page
        elif fault == "reorder_page":
            page = self.random.sample(page, len(page))
        body: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": page}
        if start + size < len(items):
            body["NextToken"] = f"items-{start + size}"
        return self._ok({"payload": body}, "getOrderItems")
