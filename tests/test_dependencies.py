"""Dependencies: pinned where the code leans on internals, the demo's servers in an extra, a
constraints file that agrees with pyproject.toml, a licence."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from comptoir.connectors.email import simulator

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            pins[canonicalize_name(name)] = pinned
    return pins


def test_constraints_pin_every_runtime_dependency_within_its_range() -> None:
    pins = _pins()
    wanted = [Requirement(r) for r in PROJECT["dependencies"]]
    wanted += [Requirement(r) for r in PROJECT["optional-dependencies"]["demo"]]

    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in constraints.txt (make constraints)"
        assert req.specifier.contains(pins[name]), f"{req.name}=={pins[name]} vs {req}"
    # The dev tools are not pinned for production.
    assert not {"pytest", "mypy", "ruff", "playwright"} & set(pins)


def test_rq_and_django_rq_are_held_to_the_tested_range() -> None:
    # jobs/runner.py overrides rq's worker internals: a new minor version must be tested first.
    reqs = {Requirement(r).name: Requirement(r) for r in PROJECT["dependencies"]}

    for name in ("rq", "django-rq"):
        assert reqs[name].specifier, f"{name} is not pinned"
        assert any(s.operator == "<" for s in reqs[name].specifier)
        assert reqs[name].specifier.contains(version(name))


def test_the_demo_servers_are_an_extra_not_a_dependency() -> None:
    runtime = {Requirement(r).name for r in PROJECT["dependencies"]}
    demo = {Requirement(r).name for r in PROJECT["optional-dependencies"]["demo"]}

    assert {"pymap", "aiosmtpd"} <= demo
    assert not {"pymap", "aiosmtpd"} & runtime


@pytest.fixture
def without_demo_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = simulator.importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name in simulator.DEMO_PACKAGES else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(simulator.importlib.util, "find_spec", find_spec)


def test_the_demo_says_what_to_install_when_its_servers_are_missing(
    without_demo_extra: None, db: None
) -> None:
    with pytest.raises(CommandError, match=r"pymap and aiosmtpd.*comptoir\[demo\]"):
        call_command("demo", "--serve", "--port", "1", "--conversations", "1")
    with pytest.raises(RuntimeError, match=r"comptoir\[demo\]"):
        simulator.MailboxSimulator().start()


def test_the_licence_is_the_one_pyproject_names() -> None:
    text = (ROOT / "LICENSE").read_text()

    assert PROJECT["license"] == "AGPL-3.0-or-later"
    assert text.startswith("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007")
    assert "13. Remote Network Interaction" in text
