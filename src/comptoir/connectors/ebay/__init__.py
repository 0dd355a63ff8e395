"""eBay: the Message API for buyers' messages and eBay's notices, the Fulfillment API for orders."""
