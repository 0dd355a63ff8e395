"""Spartoo: orders and returns by Spartoo's XML web services; buyer messages by its mail."""
