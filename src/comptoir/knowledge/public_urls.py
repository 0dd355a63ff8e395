"""The public FAQ, included at /help/ (no login)."""

from __future__ import annotations

from django.urls import path

from comptoir.knowledge import public

app_name = "help"
urlpatterns = [
    path("<slug:shop>/", public.shop_home, name="shop"),
    path("<slug:shop>/embed.js", public.embed_script, name="embed"),
    path("<slug:shop>/<slug:language>/", public.index, name="index"),
    path("<slug:shop>/<slug:language>/<int:pk>-<slug:slug>/", public.article, name="article"),
    path("<slug:shop>/<slug:language>/<int:pk>/seen.gif", public.seen, name="seen"),
    path("<slug:shop>/<slug:language>/<int:pk>/feedback", public.feedback, name="feedback"),
]
