"""Maps a channel kind to its connector class, by dotted path (imported on first use)."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from comptoir.connectors.base import ChannelInfo, Connector, ConnectorError

CONNECTORS: dict[str, str] = {
    "api": "comptoir.connectors.api.connector.ApiConnector",
    "chat": "comptoir.connectors.chat.connector.ChatConnector",
    "cdiscount": "comptoir.connectors.cdiscount.connector.CdiscountConnector",
    "email": "comptoir.connectors.email.connector.EmailConnector",
    "mirakl": "comptoir.connectors.mirakl.connector.MiraklConnector",
    "ebay": "comptoir.connectors.ebay.connector.EbayConnector",
    "amazon": "comptoir.connectors.amazon.connector.AmazonConnector",
    "rakuten": "comptoir.connectors.rakuten.connector.RakutenConnector",
    "fnac": "comptoir.connectors.fnac.connector.FnacConnector",
    "messenger": "comptoir.connectors.meta.connector.MessengerConnector",
    "instagram": "comptoir.connectors.meta.connector.InstagramConnector",
    "whatsapp": "comptoir.connectors.meta.whatsapp.WhatsAppConnector",
    "spartoo": "comptoir.connectors.spartoo.connector.SpartooConnector",
}


def connector_class(kind: str) -> type[Connector]:
    try:
        path = CONNECTORS[kind]
    except KeyError:
        raise ConnectorError(
            f"no connector is installed for channels of kind {kind!r}", permanent=True
        ) from None
    cls: type[Connector] = import_string(path)
    return cls


def get_connector(channel: ChannelInfo) -> Connector:
    return connector_class(channel.kind)(channel)


def background_services(worker_id: str) -> list[Any]:
    """Every installed connector's long-running helpers, for one worker."""
    return [s for kind in CONNECTORS for s in connector_class(kind).background_services(worker_id)]
