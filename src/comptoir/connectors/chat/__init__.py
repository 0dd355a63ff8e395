"""Live chat on the seller's own site: a widget (`static/chat/widget.js`), its public endpoints
(`views.py`), and the connector that delivers the agents' replies to the visitor (`connector.py`).

The visitor's messages go into the inbox through the contract's `ChannelStore.ingest`, as any
channel's; the replies come back through `ChatConnector.send`, which writes them to the chat's
own transcript (`ChatLine`) that the visitor's stream reads. Docs: docs/chat.md.
"""
