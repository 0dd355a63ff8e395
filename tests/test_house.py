"""The house rules a reader relies on: no module too long to read, no function too long to follow.

Complexity (ruff's C901 at 12) and the layers (import-linter) are checked by `make lint`; these two
have no tool of their own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "comptoir"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
# Data, not code: phrase lists the demo draws from.
DATA_TABLES = {"demo/phrases.py"}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def _function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of the body after the docstring (a long docstring is no harm)."""
    start = node.lineno
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        start = first.end_lineno or start
    return (node.end_lineno or start) - start


def test_the_checks_see_the_source() -> None:
    assert len(_modules()) > 100


def test_no_module_is_longer_than_a_reader_can_hold() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
        and str(p.relative_to(SRC)) not in DATA_TABLES
    }
    assert long == {}, f"split these by responsibility (over {MAX_MODULE_LINES} lines): {long}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_function_is_longer_than_a_screen(path: Path) -> None:
    tree = ast.parse(path.read_text())
    long = {
        f"{node.name} (line {node.lineno})": n
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (n := _function_lines(node)) > MAX_FUNCTION_LINES
    }
    assert long == {}, f"cut these into named steps (over {MAX_FUNCTION_LINES} lines): {long}"
