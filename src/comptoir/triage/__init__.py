"""Triage: what each incoming message says, read after ingest (never on the live path)."""
