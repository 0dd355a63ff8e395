"""Amazon Selling Partner API: orders and proactive order messages (buyers write by email)."""
