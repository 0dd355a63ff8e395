"""The Fnac simulator itself: the routes, every request read and checked against its XSD, every
answer checked too, the `auth` service and the token each other service carries, and the
attachment downloads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from comptoir.connectors.fnac import dialect
from comptoir.connectors.fnac.dialect import q, sub, text
from comptoir.connectors.fnac.simulator.incidents_update import FnacIncidentUpdates
from comptoir.connectors.fnac.simulator.state import PREFIX, TOKEN_ERROR, XML, utc_now
from comptoir.connectors.simulator import ContractViolation, HttpError, Request, Response


class FnacSimulator(FnacIncidentUpdates):
    """See the package docstring. Script it with `add_order`, `buyer_writes`, `open_incident`,
    and read what the seller did with `seller_messages()`."""

    def _register_routes(self) -> None:
        for service in dialect.SERVICES:
            self.route("POST", f"{PREFIX}/{service}", self._service(service))
        self.route("GET", f"{PREFIX}/files/(?P<file_id>[^/]+)", self._file)

    # -- serving ------------------------------------------------------------------------------

    def _service(self, service: str) -> Any:
        def handle(request: Request) -> Response:
            root = self._read(service, request)
            if service == "auth":
                answer = self._auth(root)
            else:
                error = self._check_header(root)
                if error is not None:
                    answer = self._error_answer(service, error)
                else:
                    with self.lock:
                        answer = getattr(self, f"_{service}")(root, request)
            return self._answer(answer)

        return handle

    def _read(self, service: str, request: Request) -> ET.Element:
        ctype = request.headers.get("content-type", "")
        if "xml" not in ctype:
            raise ContractViolation(f"{service}: Content-Type {ctype!r} is not XML")
        try:
            root = dialect.parse(request.body)
        except dialect.XmlError as exc:
            raise ContractViolation(f"{service}: {exc}") from None
        if root.tag != q(service):
            raise ContractViolation(f"{service}: the root element is {root.tag!r}")
        if dialect.specs_available():
            problems = dialect.problems(root)
        else:
            problems = [
                f"attribute {name!r} is required"
                for name in ("partner_id", "shop_id", "token")
                if service != "auth" and not root.get(name)
            ]
        if problems:
            raise ContractViolation(f"{service}: {'; '.join(problems)}")
        with self.lock:
            self.received.append(root)
        return root

    def _answer(self, root: ET.Element, status: int = 200) -> Response:
        with self.lock:
            self._answers += 1
            check = self._answers % self.check_answers_every == 0
        wrong = dialect.problems(root) if check else []
        if wrong:
            self.answer_problems.append(f"{dialect.local(root.tag)}: {'; '.join(wrong)}")
        return Response(status, dialect.serialize(root), content_type=XML)

    def _auth(self, root: ET.Element) -> ET.Element:
        answer = dialect.element("auth_response")
        if (text(root, "partner_id"), text(root, "shop_id"), text(root, "key")) != (
            self.partner_id,
            self.shop_id,
            self.key,
        ):
            answer.set("status", "FATAL")
            sub(
                answer,
                "error",
                "Authentication failed: unknown partner, shop or key",
                severity="FATAL",
                code="ERR_AUTH",
            )
            return answer
        token = self.new_id()
        validity = utc_now() + self.token_ttl
        self.tokens[token] = validity
        answer.set("status", "OK")
        sub(answer, "token", token)
        sub(answer, "validity", dialect.xs_datetime(validity))
        sub(answer, "version", "2.6.0")
        return answer

    def _check_header(self, root: ET.Element) -> str | None:
        if root.get("partner_id") != self.partner_id or root.get("shop_id") != self.shop_id:
            return "Unknown partner or shop"
        token = root.get("token", "")
        with self.lock:
            expires = self.tokens.get(token)
        if self.refuse_tokens or expires is None:
            return "Invalid token: authenticate again"
        if expires <= utc_now():
            return "Token expired: authenticate again"
        return None

    def _error_answer(self, service: str, words: str) -> ET.Element:
        answer = dialect.element(f"{service}_response", {"status": "FATAL"})
        if service == "messages_query":
            # The XSD requires the counters before any error.
            sub(answer, "messages_unread_result", "0")
            sub(answer, "messages_read_result", "0")
        sub(answer, "error", words, severity="FATAL", code=TOKEN_ERROR)
        return answer

    def _file(self, request: Request) -> Response:
        file = self.files.get(request.params["file_id"])
        if file is None:
            raise HttpError(404, "no such file")
        return Response(200, file.data, content_type=file.content_type)
