"""eBay's Fulfillment API in the simulator: the order reads (getOrders, getOrder,
getShippingFulfillments), checked against the published OpenAPI description."""

from __future__ import annotations

from typing import Any

from comptoir.connectors.ebay.simulator.state import (
    FULFILLMENT_BASE,
    MAX_ORDER_IDS,
    MAX_ORDERS_LIMIT,
    EbayMarketplace,
    ebay_error,
)
from comptoir.connectors.simulator import ContractViolation, Request, Response


class FulfillmentApi(EbayMarketplace):
    """`/sell/fulfillment/v1`: order, order/{orderId}, order/{orderId}/shipping_fulfillment."""

    def _check_fulfillment(self, request: Request) -> None:
        if self.fulfillment_contract is None:
            return
        problems = self.fulfillment_contract.check_request(
            request.method, request.path, request.query, None, base_path=FULFILLMENT_BASE
        )
        if problems:
            raise ContractViolation("; ".join(problems))

    def _orders(self, request: Request) -> Response:
        self._check_fulfillment(request)
        ids = [i for i in (request.arg("orderIds") or "").split(",") if i]
        if len(ids) > MAX_ORDER_IDS:
            raise ebay_error(
                400,
                32800,
                f"The orderIds parameter takes at most {MAX_ORDER_IDS} order ids, got {len(ids)}.",
            )
        if ids:
            return self._orders_by_id(ids)
        if request.arg("filter"):
            raise ContractViolation("the simulator reads getOrders by orderIds or unfiltered")
        limit = int(request.arg("limit") or 50)
        if not 1 <= limit <= MAX_ORDERS_LIMIT:
            raise ebay_error(400, 30700, f"The limit must be 1 to {MAX_ORDERS_LIMIT}.")
        offset = int(request.arg("offset") or 0)
        with self.lock:
            everything = sorted(
                self.orders.values(), key=lambda o: str(o["creationDate"]), reverse=True
            )
        page = everything[offset : offset + limit]
        body: dict[str, Any] = {
            "orders": page,
            "total": len(everything),
            "limit": limit,
            "offset": offset,
        }
        if offset + limit < len(everything):
            body["next"] = f"{FULFILLMENT_BASE}/order?limit={limit}&offset={offset + limit}"
        return Response(200, body)

    def _orders_by_id(self, ids: list[str]) -> Response:
        """With orderIds every other parameter is ignored: one page holds them all."""
        with self.lock:
            found = [self.orders[i] for i in dict.fromkeys(ids) if i in self.orders]
        body: dict[str, Any] = {"orders": found, "total": len(found)}
        missing = [i for i in dict.fromkeys(ids) if i not in self.orders]
        if missing:
            body["warnings"] = [
                {
                    "errorId": 32100,
                    "domain": "API_FULFILLMENT",
                    "category": "REQUEST",
                    "message": f"Order not found: {order_id}",
                }
                for order_id in missing
            ]
        return Response(200, body)

    def _order(self, request: Request) -> Response:
        self._check_fulfillment(request)
        with self.lock:
            order = self.orders.get(request.params["oid"])
        if order is None:
            raise ebay_error(404, 32100, "Order not found.")
        return Response(200, order)

    def _shipping_fulfillments(self, request: Request) -> Response:
        self._check_fulfillment(request)
        with self.lock:
            if request.params["oid"] not in self.orders:
                raise ebay_error(404, 32100, "Order not found.")
            fulfillments = list(self.fulfillments[request.params["oid"]])
        return Response(200, {"fulfillments": fulfillments, "total": len(fulfillments)})
