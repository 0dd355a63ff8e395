"""`make audit` (deploy/audit.py): a vulnerability fails CI; a service that cannot answer does
not, but says plainly that nothing was checked. pip-audit itself is replaced by a script that
answers as it would (no network here)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent

VULNERABLE = {
    "dependencies": [
        {
            "name": "django",
            "version": "4.2.0",
            "vulns": [{"id": "PYSEC-1", "fix_versions": ["4.2.1"]}],
        },
        {"name": "segno", "version": "1.6.6", "vulns": []},
        {"name": "rq", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    ]
}
CLEAN = {"dependencies": [{"name": "segno", "version": "1.6.6", "vulns": []}]}
ALL_SKIPPED = {
    "dependencies": [
        {"name": "segno", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    ]
}


def fake_pip_audit(tmp_path: Path, report: dict[str, Any] | None, stderr: str, code: int) -> Path:
    """A stand-in that writes `report` where -o says, prints `stderr` and exits with `code`."""
    script = tmp_path / "pip-audit"
    body = json.dumps(report) if report is not None else ""
    script.write_text(
        "#!/bin/sh\n"
        'while [ "$1" != "-o" ]; do shift; done\n'
        f"cat > \"$2\" <<'EOF'\n{body}\nEOF\n"
        f"echo '{stderr}' >&2\n"
        f"exit {code}\n"
    )
    script.chmod(0o755)
    return script


def run(
    tmp_path: Path, report: dict[str, Any] | None, stderr: str = "", code: int = 0
) -> tuple[int, str]:
    env = {
        "PIP_AUDIT": str(fake_pip_audit(tmp_path, report, stderr, code)),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "audit.py"), str(ROOT / "constraints.txt")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return done.returncode, done.stdout


def test_a_vulnerability_fails_and_names_the_fix(tmp_path: Path) -> None:
    status, out = run(tmp_path, VULNERABLE, code=1)
    assert status == 1
    assert "django 4.2.0: PYSEC-1 (fixed in 4.2.1)" in out
    assert "2 packages checked, 1 skipped, 1 found" in out
    assert "rq: Dependency not found" in out


def test_nothing_found_passes(tmp_path: Path) -> None:
    assert run(tmp_path, CLEAN) == (0, "pip-audit: 1 packages checked, 0 skipped, 0 found\n")


def test_versions_the_service_does_not_know_pass_but_are_listed_as_not_checked(
    tmp_path: Path,
) -> None:
    status, out = run(tmp_path, ALL_SKIPPED)
    assert status == 0
    assert "0 packages checked, 1 skipped" in out
    assert "they were NOT checked" in out
    assert "segno" in out


def test_an_unreachable_service_passes_saying_nothing_was_checked(tmp_path: Path) -> None:
    error = "requests.exceptions.ConnectionError: Max retries exceeded (NameResolutionError)"
    status, out = run(tmp_path, None, stderr=error, code=1)
    assert status == 0
    assert "SKIPPED, the vulnerability service could not be reached" in out
    assert "this is not a pass" in out


def test_any_other_failure_fails(tmp_path: Path) -> None:
    status, out = run(tmp_path, None, stderr="pip-audit: error: bad requirement", code=2)
    assert status == 1
    assert "bad requirement" in out


@pytest.mark.parametrize("name", ["pip-audit"])
def test_pip_audit_is_a_pinned_dev_tool_and_ci_runs_it(name: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (req,) = [Requirement(r) for r in project["optional-dependencies"]["dev"] if r.startswith(name)]
    assert [s.operator for s in req.specifier] == ["=="]
    assert "\naudit:" in (ROOT / "Makefile").read_text()
    assert "make audit" in (ROOT / ".ci" / "run").read_text()
