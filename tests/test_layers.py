"""The layers contract (pyproject.toml) lists the packages split across layers module by module:
a module added to one of them and left out of the list would escape the check."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPLIT = ["inbox", "sla", "orders", "connectors", "audit"]


def _declared() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (layers,) = [
        c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers"
    ]
    names = (name.strip("()") for layer in layers for name in re.split(r"[\s|:]+", layer))
    return {name for name in names if name}


def _covered(module: str, declared: set[str]) -> bool:
    parts = module.split(".")
    return any(".".join(parts[:i]) in declared for i in range(1, len(parts) + 1))


def test_every_module_of_a_package_split_across_layers_is_in_a_layer() -> None:
    declared = _declared()
    missing = []
    for package in SPLIT:
        for child in sorted((ROOT / "src" / "comptoir" / package).iterdir()):
            if child.name.startswith("_") or not (
                child.suffix == ".py" or (child / "__init__.py").exists()
            ):
                continue
            module = f"comptoir.{package}.{child.name.removesuffix('.py')}"
            if not _covered(module, declared):
                missing.append(module)
    assert missing == [], f"declare these in [tool.importlinter] layers: {missing}"
