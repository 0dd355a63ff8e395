"""Amazon's SP-API models are Swagger 2.0; `contract.OpenApiContract` reads OpenAPI 3.

Three differences matter for checking requests, and are converted here rather than in the shared
checker: schemas live under `definitions` (not `components/schemas`), a parameter carries its
type on itself (not under `schema`), and the JSON body is a parameter `in: body` (not a
`requestBody`). Amazon also marks some path parameters greedy (`{resource}` of the Uploads API
spans several segments), which a `[^/]+` template cannot match.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from comptoir.connectors import contract

# Parameter keys that describe the value (OpenAPI 3 moves them under `schema`).
_SCHEMA_KEYS = (
    "type",
    "items",
    "format",
    "enum",
    "maxItems",
    "minItems",
    "maxLength",
    "minLength",
    "pattern",
    "minimum",
    "maximum",
    "default",
)
GREEDY = "x-amazon-spds-greedy-path-parameter"


def to_openapi3(spec: dict[str, Any]) -> dict[str, Any]:
    """The subset of OpenAPI 3 that `OpenApiContract` reads, from a Swagger 2.0 document."""
    text = json.dumps(spec).replace('"#/definitions/', '"#/components/schemas/')
    swagger: dict[str, Any] = json.loads(text)
    paths: dict[str, Any] = {}
    for template, item in swagger.get("paths", {}).items():
        converted: dict[str, Any] = {}
        for method, operation in item.items():
            if method == "parameters":
                converted["parameters"] = [_param(p) for p in operation if p.get("in") != "body"]
                continue
            if not isinstance(operation, dict):
                continue
            new = {k: v for k, v in operation.items() if k != "parameters"}
            new["parameters"] = []
            for param in operation.get("parameters", []):
                if param.get("in") == "body":
                    new["requestBody"] = {
                        "required": bool(param.get("required")),
                        "content": {"application/json": {"schema": param.get("schema", {})}},
                    }
                else:
                    new["parameters"].append(_param(param))
            converted[method] = new
        paths[template] = converted
    return {
        "openapi": "3.0.0",
        "info": swagger.get("info", {}),
        "paths": paths,
        "components": {"schemas": swagger.get("definitions", {})},
    }


def _param(param: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in param or "schema" in param:
        return param
    out = {k: v for k, v in param.items() if k not in _SCHEMA_KEYS}
    out["schema"] = {k: param[k] for k in _SCHEMA_KEYS if k in param}
    return out


class SwaggerContract(contract.OpenApiContract):
    """An `OpenApiContract` over a converted Swagger 2.0 model, with greedy path parameters."""

    def __init__(self, swagger: dict[str, Any]) -> None:
        converted = to_openapi3(swagger)
        super().__init__(converted)
        greedy: dict[str, str] = {}
        for template, item in converted["paths"].items():
            names = {
                p["name"]
                for op in item.values()
                if isinstance(op, dict)
                for p in op.get("parameters", [])
                if p.get(GREEDY)
            }
            if names:
                plain = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
                wide = "^" + re.sub(r"\{([^}]+)\}", _greedy_group(names), template) + "$"
                greedy[plain] = wide
        self.operations = [
            (method, re.compile(greedy[regex.pattern]) if regex.pattern in greedy else regex, op)
            for method, regex, op in self.operations
        ]

    def request_schema(self, method: str, path: str) -> dict[str, Any] | None:
        """The JSON body schema of the operation at `path`, resolved one level."""
        operation = self.operation(method, path)
        if operation is None:
            return None
        schema = (
            operation.get("requestBody", {})
            .get("content", {})
            .get("application/json", {})
            .get("schema")
        )
        return self._resolve(schema) if isinstance(schema, dict) else None


def _greedy_group(names: set[str]) -> Any:
    def replace(match: re.Match[str]) -> str:
        return ".+" if match.group(1) in names else "[^/]+"

    return replace


@cache
def load(relative: str) -> SwaggerContract | None:
    """The Swagger 2.0 model in `contract.specs_dir()/relative`, or None when absent."""
    path = contract.specs_dir() / relative
    if not path.is_file():
        return None
    return SwaggerContract(json.loads(path.read_text()))
