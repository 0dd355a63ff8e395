"""Comptoir: a self-hosted customer-service desk for marketplace sellers."""
