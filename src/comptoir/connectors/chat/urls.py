from __future__ import annotations

from django.urls import path

from comptoir.connectors.chat import views

app_name = "chat"
urlpatterns = [
    path("<str:name>", views.asset, name="asset"),  # widget.js, widget.css
    path("<str:shop_key>/hello", views.hello, name="hello"),
    path("<str:shop_key>/messages", views.messages, name="messages"),
    path("<str:shop_key>/activity", views.activity, name="activity"),
    path("<str:shop_key>/transcript", views.transcript, name="transcript"),
    path("<str:shop_key>/events", views.events, name="events"),
]
