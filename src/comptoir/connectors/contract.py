"""Checks requests against a marketplace's published OpenAPI description.

The simulators use it to fail loudly when a connector sends a wrong field or parameter. The
descriptions are the marketplaces' own files (see `../shared/specs/`): they are read from
`COMPTOIR_SPECS_DIR` (default: `shared/specs` beside the repository) and not shipped with the
package; without them a simulator still follows its hand-written routes, unchecked.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

REPO = Path(__file__).resolve().parents[3]


def specs_dir() -> Path:
    """`COMPTOIR_SPECS_DIR`, else the first `shared/specs` beside the repository or above it
    (a git worktree lives deeper than the main checkout)."""
    if os.environ.get("COMPTOIR_SPECS_DIR"):
        return Path(os.environ["COMPTOIR_SPECS_DIR"])
    for parent in REPO.parents:
        if (parent / "shared" / "specs").is_dir():
            return parent / "shared" / "specs"
    return REPO.parent / "shared" / "specs"


@cache
def load(relative: str) -> OpenApiContract | None:
    """The contract in `specs_dir()/relative`, or None when the file is absent."""
    path = specs_dir() / relative
    if not path.is_file():
        return None
    return OpenApiContract(json.loads(path.read_text()))


class OpenApiContract:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.operations: list[tuple[str, re.Pattern[str], dict[str, Any]]] = []
        for template, item in spec.get("paths", {}).items():
            regex = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            for method, operation in item.items():
                if isinstance(operation, dict) and method in {"get", "post", "put", "delete"}:
                    shared = item.get("parameters", [])
                    operation = {
                        **operation,
                        "parameters": shared + operation.get("parameters", []),
                    }
                    self.operations.append((method.upper(), regex, operation))
        # Literal paths before templated ones: /threads/x/message is not /threads/{id}.
        self.operations.sort(key=lambda op: op[1].pattern.count("[^/]+"))

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        for op_method, regex, operation in self.operations:
            if op_method == method and regex.match(path):
                return operation
        return None

    def check_request(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        json_body: Any = None,
        *,
        base_path: str = "",
        extra_query: frozenset[str] = frozenset(),
    ) -> list[str]:
        """What is wrong with this request, per the contract (empty when it conforms).
        `extra_query`: parameters the marketplace documents for all its list calls (such as
        Mirakl's seek pagination `limit`, `page_token`, `sort`) rather than per operation."""
        path = path.removeprefix(base_path) or "/"
        operation = self.operation(method, path)
        if operation is None:
            return [f"{method} {path} is not in the contract"]
        problems: list[str] = []
        known = set(extra_query)
        for param in (self._resolve(p) for p in operation.get("parameters", [])):
            if param.get("in") != "query":
                continue
            name = param["name"]
            known.add(name)
            values = query.get(name)
            if not values:
                if param.get("required"):
                    problems.append(f"query parameter {name!r} is required")
                continue
            schema = self._resolve(param.get("schema", {}))
            for value in values:
                problems += self._check_scalar(name, value, schema)
        for name in query:
            if name not in known:
                problems.append(f"query parameter {name!r} is not in the contract")
        if json_body is not None:
            schema = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            if schema is not None:
                problems += self.validate(json_body, schema, "body")
        return problems

    def validate(self, value: Any, schema: dict[str, Any], where: str) -> list[str]:
        # The spec's "#/components/..." references resolve inside this document.
        document = {"components": self.spec.get("components", {}), **schema}
        validator = jsonschema.Draft202012Validator(document)
        return [
            f"{where}{''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(value)
        ]

    def component(self, name: str) -> dict[str, Any]:
        """A schema by name, for checking what a simulator answers."""
        return {"$ref": f"#/components/schemas/{name}"}

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            ref = node["$ref"].split("#/", 1)[1].split("/")
            target: Any = self.spec
            for part in ref:
                target = target[part]
            node = target
        return node

    def _check_scalar(self, name: str, value: str, schema: dict[str, Any]) -> list[str]:
        kind = schema.get("type")
        if kind == "array":
            item = self._resolve(schema.get("items", {}))
            return [p for v in value.split(",") for p in self._check_scalar(name, v, item)]
        if kind == "integer" and not re.fullmatch(r"-?\d+", value):
            return [f"query parameter {name!r}={value!r} is not an integer"]
        if kind == "boolean" and value not in {"true", "false"}:
            return [f"query parameter {name!r}={value!r} is not true or false"]
        if schema.get("enum") and value not in schema["enum"]:
            return [f"query parameter {name!r}={value!r} is not one of {schema['enum']}"]
        if schema.get("format") == "date-time" and not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)", value
        ):
            return [f"query parameter {name!r}={value!r} is not an ISO 8601 date-time"]
        return []
