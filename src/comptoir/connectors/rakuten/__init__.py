"""Rakuten France (formerly PriceMinister): the seller web services `sales_ws`."""
