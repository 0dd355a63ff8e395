"""Read-mostly admin for support and debugging: changes go through actions, not here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from comptoir.inbox import models


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "language", "country", "timezone")


@admin.register(models.Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "marketplace",
        "shop",
        "is_active",
        "is_healthy",
        "last_sync_at",
    )
    list_filter = ("kind", "marketplace", "is_active", "is_healthy")
    exclude = ("settings_encrypted",)  # secrets are never shown
    readonly_fields = ("cursor", "last_error", "last_error_at", "last_sync_at")


@admin.register(models.Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "email", "language", "created_at")
    search_fields = ("name", "email", "identities__value")


@admin.register(models.CustomerIdentity)
class CustomerIdentityAdmin(ReadOnlyAdmin):
    list_display = ("kind", "value", "customer", "channel")
    list_filter = ("kind",)
    search_fields = ("value",)
    raw_id_fields = ("customer",)


@admin.register(models.Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "color")


class MessageInline(admin.TabularInline):
    model = models.Message
    fields = ("direction", "author_name", "subject", "sent_at", "delivery_state")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(models.Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "subject",
        "channel",
        "status",
        "needs_reply",
        "respond_by",
        "assignee",
        "last_message_at",
    )
    list_filter = ("status", "needs_reply", "channel", "archived")
    search_fields = ("subject", "order_number", "customer__name", "customer__email")
    raw_id_fields = ("customer", "order", "merged_into")
    list_select_related = ("channel", "assignee")
    inlines = [MessageInline]
    show_full_result_count = False


@admin.register(models.Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "conversation_id", "direction", "subject", "delivery_state", "created_at")
    list_filter = ("direction", "delivery_state")
    search_fields = ("external_id", "message_id")
    raw_id_fields = ("conversation", "inbound_record")
    show_full_result_count = False


@admin.register(models.Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ("filename", "content_type", "size", "sha256", "dropped_reason")
    raw_id_fields = ("message",)


@admin.register(models.Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "conversation_id", "kind", "actor", "actor_label", "created_at")
    list_filter = ("kind",)
    raw_id_fields = ("conversation",)
    show_full_result_count = False


@admin.register(models.InboundRecord)
class InboundRecordAdmin(ReadOnlyAdmin):
    list_display = ("id", "channel", "external_id", "source", "state", "error", "received_at")
    list_filter = ("state", "source")
    search_fields = ("external_id",)
    exclude = ("raw",)
    show_full_result_count = False
