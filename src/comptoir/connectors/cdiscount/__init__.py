"""Cdiscount marketplace channels, through the Octopia Seller API v2."""
