"""The public FAQ of each shop (/help/<shop>/): no login, no script, the same HTML for every
visitor so that any cache may keep it. What differs per visitor goes elsewhere: the view is
counted by a 1-pixel image (never cached, it carries the visitor cookie) and the feedback is a
plain POST form answered by a redirect. See docs/kb.md."""

from __future__ import annotations

import secrets
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from comptoir.inbox.models import Conversation, Shop
from comptoir.knowledge import actions, queries
from comptoir.knowledge.models import ArticleVersion, Theme

VISITOR_COOKIE = "kb_visitor"
VISITOR_AGE = 365 * 24 * 3600
PAGE_AGE = 300  # seconds a cache may keep a page: an edit shows within five minutes
VISIT_SALT = "comptoir.knowledge.visit"
# 1x1 transparent GIF.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
# The public pages may be framed by the seller's site (the embed); nothing else changes.
# No script at all on these pages.
_CSP: dict[str, list[str]] = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.NONE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": ["*"],
}


def visit_token(email: str, order_number: str) -> str:
    """The `r` parameter the embed's pages carry: the buyer the seller's site named, signed
    (docs/kb.md). Signed is not hidden: it stays in the seller's own frame."""
    return signing.dumps({"e": email, "o": order_number}, salt=VISIT_SALT, compress=True)


def conversation_token(conversation_id: int) -> str:
    """The `r` parameter of a link sent in a reply: the conversation only, so that a link the
    buyer shares gives away no address; the view looks the buyer up."""
    return signing.dumps({"c": conversation_id}, salt=VISIT_SALT)


def _shop(slug: str) -> Shop:
    return get_object_or_404(Shop, slug=slug)


def _cached(response: HttpResponse, age: int = PAGE_AGE) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=age)
    response.xframe_options_exempt = True  # type: ignore[attr-defined]
    return response


@require_GET
def shop_home(request: HttpRequest, shop: str) -> HttpResponse:
    """/help/<shop>/: to the FAQ in the buyer's language (?lang=, else Accept-Language, else
    the shop's)."""
    found = _shop(shop)
    available = queries.languages(found)
    wanted = [request.GET.get("lang", "")] if request.GET.get("lang") else []
    wanted += queries.accepted_languages(request.headers.get("Accept-Language", ""))
    language = queries.choose_language(found, available, wanted)
    target = reverse("help:index", args=[found.slug, language]) + _suffix(
        request.GET.get("embed") == "1", _carried(request)
    )
    response = HttpResponseRedirect(target)
    response["Vary"] = "Accept-Language"
    return response


def _carried(request: HttpRequest) -> str:
    """The visit token the page's links carry on: the one in the URL, or one made of the email
    and order number the seller's site gave the embed."""
    token = request.GET.get("r", "")[:500]
    if token:
        return token
    email, order = request.GET.get("email", "")[:254], request.GET.get("order", "")[:64]
    return visit_token(email, order) if email or order else ""


def _suffix(embed: bool, token: str) -> str:
    params = {"embed": "1"} if embed else {}
    if token:
        params["r"] = token
    return "?" + urlencode(params) if params else ""


def _context(request: HttpRequest, shop: Shop, language: str) -> dict[str, Any]:
    embed = request.GET.get("embed") == "1"
    return {
        "shop": shop,
        "language": language,
        "languages": queries.languages(shop),
        "embed": embed,
        "suffix": _suffix(embed, _carried(request)),
        "site": settings.SITE_URL,
        "themes": dict(Theme.choices),
    }


@require_GET
@csp_override(_CSP)
def index(request: HttpRequest, shop: str, language: str) -> HttpResponse:
    found = _shop(shop)
    context = _context(request, found, language)
    if language not in context["languages"] and language != found.language:
        raise Http404("no FAQ in this language")
    query = request.GET.get("q", "").strip()[:200]
    by_theme: dict[str, list[ArticleVersion]] = defaultdict(list)
    results = queries.search(found, language, query) if query else []
    if not query:
        for version in queries.published_versions(found, language):
            by_theme[version.article.theme].append(version)
    context |= {
        "query": query,
        "results": results,
        "sections": [
            (code, name, by_theme[code]) for code, name in Theme.choices if by_theme[code]
        ],
    }
    with translation.override(language):
        response = render(request, "knowledge/public/index.html", context)
    return _cached(response, 60 if query else PAGE_AGE)


@require_GET
@csp_override(_CSP)
def article(request: HttpRequest, shop: str, language: str, pk: int, slug: str) -> HttpResponse:
    found = _shop(shop)
    version = get_object_or_404(queries.published_versions(found, language), article_id=pk)
    if slug != version.slug:  # one URL per article: the old slug moves to the new one
        return redirect("help:article", found.slug, language, pk, version.slug, permanent=True)
    others = ArticleVersion.objects.filter(article_id=pk).exclude(language=language)
    context = _context(request, found, language) | {
        "version": version,
        "alternates": list(others.only("language", "slug", "article_id")),
        "voted": request.GET.get("voted", ""),
    }
    with translation.override(language):
        response = render(request, "knowledge/public/article.html", context)
    return _cached(response)


def _visitor(request: HttpRequest) -> tuple[str, bool]:
    """The visitor's anonymous id, and whether it is new (to be set as a cookie)."""
    current = request.COOKIES.get(VISITOR_COOKIE, "")
    if actions.valid_visitor(current):
        return current, False
    return secrets.token_urlsafe(18), True


def _remember(response: HttpResponse, visitor: str) -> None:
    response.set_cookie(
        VISITOR_COOKIE,
        visitor,
        max_age=VISITOR_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.SECURE_COOKIES,
    )


def _who(request: HttpRequest, shop: Shop) -> tuple[str, str]:
    """The buyer a visit names: the signed `r` of a reply's link, or of the embed's start."""
    token = request.GET.get("r", "")
    try:
        data = signing.loads(token, salt=VISIT_SALT) if token else {}
        if not isinstance(data, dict):
            return "", ""
    except signing.BadSignature:
        return "", ""
    if isinstance(data.get("c"), int):
        conv = Conversation.objects.filter(pk=data["c"], shop=shop).select_related("customer")
        found = conv.first()
        if found is None:
            return "", ""
        return (found.customer.email if found.customer else ""), found.order_number
    return str(data.get("e", ""))[:254], str(data.get("o", ""))[:64]


@require_GET
def seen(request: HttpRequest, shop: str, language: str, pk: int) -> HttpResponse:
    """The article page's view beacon (an image: no script needed)."""
    found = _shop(shop)
    version = get_object_or_404(queries.published_versions(found, language), article_id=pk)
    visitor, new = _visitor(request)
    email, order_number = _who(request, found)
    actions.record_view(
        version.article,
        shop=found,
        visitor=visitor,
        language=language,
        email=email,
        order_number=order_number,
    )
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    if new:
        _remember(response, visitor)
    return response


def same_origin(request: HttpRequest) -> bool:
    """The form was posted from our own pages. Anonymous visitors have no session to tie a
    CSRF token to, and the pages carry none so that caches can share them: browsers name the
    posting page's origin instead (Origin, or Sec-Fetch-Site)."""
    origin = request.headers.get("Origin", "")
    if origin and origin != "null":
        return urlsplit(origin).netloc == request.get_host()
    site = request.headers.get("Sec-Fetch-Site", "")
    return site in ("", "same-origin", "none")


@csrf_exempt
@require_POST
def feedback(request: HttpRequest, shop: str, language: str, pk: int) -> HttpResponse:
    """ "Did this answer your question?": yes or no, one answer per visitor and article."""
    if not same_origin(request):
        return HttpResponse("posted from another site", status=403, content_type="text/plain")
    found = _shop(shop)
    version = get_object_or_404(queries.published_versions(found, language), article_id=pk)
    answer = request.POST.get("helpful", "")
    if answer not in ("yes", "no"):
        return HttpResponse("answer yes or no", status=400, content_type="text/plain")
    visitor, new = _visitor(request)
    actions.record_feedback(version.article, visitor=visitor, helpful=answer == "yes")
    target = reverse("help:article", args=[found.slug, language, pk, version.slug])
    params = {"voted": answer} | ({"embed": "1"} if request.POST.get("embed") == "1" else {})
    response = HttpResponseRedirect(f"{target}?{urlencode(params)}#feedback", status=303)
    if new:
        _remember(response, visitor)
    return response


@require_GET
def embed_script(request: HttpRequest, shop: str) -> HttpResponse:
    """/help/<shop>/embed.js: draws the FAQ in an iframe where the script tag stands."""
    found = _shop(shop)
    frame = settings.SITE_URL + reverse("help:shop", args=[found.slug]) + "?embed=1"
    response = render(
        request,
        "knowledge/public/embed.js",
        {"frame": frame, "title": found.name},
        content_type="text/javascript; charset=utf-8",
    )
    response["Access-Control-Allow-Origin"] = "*"
    return _cached(response, 3600)
