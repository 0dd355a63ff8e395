from __future__ import annotations

from django.urls import path

from comptoir.inbox import bar_views, bulk_views, chat_views, live, message_views, views

app_name = "inbox"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path("c/<int:pk>/reply", views.reply, name="reply"),
    path("c/<int:pk>/templates/refresh", views.refresh_templates, name="refresh_templates"),
    path("c/<int:pk>/assign-me", bar_views.assign_me, name="assign_me"),
    path("c/<int:pk>/assign", bar_views.assign, name="assign"),
    path("c/<int:pk>/status", bar_views.set_status, name="status"),
    path("c/<int:pk>/tag", bar_views.tag, name="tag"),
    path("c/<int:pk>/untag", bar_views.untag, name="untag"),
    path("c/<int:pk>/no-response", bar_views.no_response, name="no_response"),
    path("c/<int:pk>/priority", bar_views.priority, name="priority"),
    path("c/<int:pk>/snooze", bar_views.snooze, name="snooze"),
    path("c/<int:pk>/presence", views.presence, name="presence"),
    path("c/<int:pk>/draft", views.draft, name="draft"),
    path("c/<int:pk>/archive", bar_views.archive, name="archive"),
    path("c/<int:pk>/delete", bar_views.delete, name="delete"),
    path("c/<int:pk>/merge", bar_views.merge, name="merge"),
    path("c/<int:pk>/order-message", views.order_message, name="order_message"),
    path("m/<int:pk>/html", message_views.message_html, name="message_html"),
    path(
        "m/<int:pk>/html/images", message_views.message_html_with_images, name="message_html_images"
    ),
    path("m/<int:pk>/retry", message_views.retry_message, name="retry_message"),
    path("m/<int:pk>/resend", message_views.resend_message, name="resend_message"),
    path("m/<int:pk>/source", message_views.message_source, name="message_source"),
    path("a/<int:pk>", message_views.attachment, name="attachment"),
    path("views/save", views.save_view, name="save_view"),
    path("views/<int:pk>/delete", views.delete_view, name="delete_view"),
    path("bulk", bulk_views.bulk, name="bulk"),
    path("bulk/undo", bulk_views.bulk_undo, name="bulk_undo"),
    path("live", live.live, name="live"),
    path("c/<int:pk>/chat-status", chat_views.chat_status, name="chat_status"),
]
