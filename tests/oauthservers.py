"""A fake OAuth 2 authorisation server for the mailbox tests, on 127.0.0.1: it plays the
provider's authorisation page (`GET /authorize`: consent given at once, a code sent back to the
redirect URI), its token endpoint (`POST /token`: code exchange with PKCE, refresh, rotation,
`invalid_grant`, injected 5xx) and the token introspection dovecot's oauth2 passdb asks
(`POST /introspect`). The SMTP server's XOAUTH2 check asks `valid` directly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

CLIENT_ID = "comptoir-test-app"
CLIENT_SECRET = "s3cret-app"


class FakeAuthServer:
    def __init__(self) -> None:
        self.codes: dict[str, dict[str, str]] = {}  # code -> what /authorize was given
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> the account it grants
        self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (account, expiry)
        self.requests: list[dict[str, str]] = []  # every /token form, in order
        self.introspected: list[str] = []
        self.account = "shop@example.com"  # who consents at /authorize
        self.expires_in = 3600.0
        self.rotate = False  # a new refresh token at each refresh, as Microsoft's
        self.fail_next = 0  # answer this many /token requests with 503
        self.refreshes = 0
        self.refreshed = threading.Event()  # set at each refresh: tests wait on it, not sleep
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def start(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- what the tests change -------------------------------------------------------------

    def revoke(self) -> None:
        """The mailbox's owner withdrew consent: every grant and token dies."""
        with self.lock:
            self.refresh_tokens.clear()
            self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        """Access tokens die early (the server says so before their announced expiry)."""
        with self.lock:
            self.access_tokens.clear()

    def grant(self, account: str | None = None) -> dict[str, Any]:
        """A grant as the callback would have stored it, without the browser dance."""
        refresh = "rt-" + secrets.token_urlsafe(16)
        with self.lock:
            self.refresh_tokens[refresh] = account or self.account
        return {
            "oauth_provider": "google",
            "oauth_refresh_token": refresh,
            "oauth_access_token": "expired",
            "oauth_expires_at": 0,
        }

    def valid(self, account: str, token: str) -> bool:
        with self.lock:
            owner, expiry = self.access_tokens.get(token, ("", 0.0))
        return owner == account and expiry > time.time()

    # -- the endpoints ------------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> str:
        """The consent page: where the browser goes next (the redirect URI, with a code)."""
        code = "code-" + secrets.token_urlsafe(12)
        with self.lock:
            self.codes[code] = query
        answer = {"code": code, "state": query.get("state", "")}
        return f"{query['redirect_uri']}?{urlencode(answer)}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(form)
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"error": "temporarily_unavailable"}
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return 401, {"error": "invalid_client", "error_description": "unknown client"}
            if form.get("grant_type") == "authorization_code":
                asked = self.codes.pop(form.get("code", ""), None)
                if asked is None or asked.get("redirect_uri") != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant", "error_description": "bad code"}
                if _s256(form.get("code_verifier", "")) != asked.get("code_challenge"):
                    return 400, {"error": "invalid_grant", "error_description": "PKCE mismatch"}
                refresh = "rt-" + secrets.token_urlsafe(16)
                self.refresh_tokens[refresh] = self.account
                return 200, self._tokens(self.account, refresh)
            if form.get("grant_type") == "refresh_token":
                account = self.refresh_tokens.get(form.get("refresh_token", ""))
                if account is None:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "AADSTS70000: the grant was revoked",
                    }
                self.refreshes += 1
                self.refreshed.set()
                rotated: str | None = None
                if self.rotate:
                    del self.refresh_tokens[form["refresh_token"]]
                    rotated = "rt-" + secrets.token_urlsafe(16)
                    self.refresh_tokens[rotated] = account
                return 200, self._tokens(account, rotated)
            return 400, {"error": "unsupported_grant_type"}

    def _tokens(self, account: str, refresh: str | None) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(16)
        self.access_tokens[access] = (account, time.time() + self.expires_in)
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": self.expires_in,
        }
        if refresh:
            answer["refresh_token"] = refresh
        return answer

    def introspect(self, form: dict[str, str]) -> dict[str, Any]:
        token = form.get("token", "")
        self.introspected.append(token)
        with self.lock:
            account, expiry = self.access_tokens.get(token, ("", 0.0))
        if not account or expiry <= time.time():
            return {"active": False}
        return {"active": True, "email": account}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != "/authorize":
                    self._send(404, {"error": "not_found"})
                    return
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                self.send_response(302)
                self.send_header("Location", server.authorize(query))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
                if self.path == "/token":
                    self._send(*server.token(form))
                elif self.path == "/introspect":
                    self._send(200, server.introspect(form))
                else:
                    self._send(404, {"error": "not_found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
