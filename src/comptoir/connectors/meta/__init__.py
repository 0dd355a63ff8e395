"""Meta's messaging: Messenger, Instagram and WhatsApp (Graph API webhooks and Send API)."""
