"""A clone on its own: `make test` without the marketplaces' specs, and both of its passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import require_specs

REPO = Path(__file__).resolve().parent.parent


def test_a_missing_spec_skips_its_contract_check_locally(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COMPTOIR_SPECS_DIR", str(tmp_path))
    monkeypatch.setattr(conftest, "REQUIRE_SPECS", False)

    with pytest.raises(pytest.skip.Exception, match="contract check skipped"):
        require_specs("mirakl/mmp-seller-openapi.json")


def test_a_missing_spec_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMPTOIR_SPECS_DIR", str(tmp_path))
    monkeypatch.setattr(conftest, "REQUIRE_SPECS", True)

    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        require_specs("mirakl/mmp-seller-openapi.json")


def test_a_spec_that_is_there_is_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "mirakl").mkdir()
    (tmp_path / "mirakl" / "mmp-seller-openapi.json").write_text("{}")
    monkeypatch.setenv("COMPTOIR_SPECS_DIR", str(tmp_path))
    monkeypatch.setattr(conftest, "REQUIRE_SPECS", True)

    require_specs("mirakl/mmp-seller-openapi.json")  # neither skips nor fails


def _pytest_without_specs(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if k not in {"CI", "COMPTOIR_REQUIRE_SERVICES"}}
    child.update(COMPTOIR_SPECS_DIR=str(tmp_path), DATABASE_URL="", **env)
    child["COMPTOIR_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:xdist",
            "-q",
            "tests/test_mirakl.py::test_the_simulators_answers_follow_the_published_schema",
        ],
        cwd=REPO,
        env=child,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_the_specs_the_suite_says_so_in_one_line_and_passes(tmp_path: Path) -> None:
    run = _pytest_without_specs(tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout
    said = [line for line in run.stdout.splitlines() if "contract checks skipped" in line]
    assert len(said) == 1
    assert str(tmp_path) in said[0]
    assert "COMPTOIR_SPECS_DIR" in said[0]


def test_without_the_specs_ci_fails(tmp_path: Path) -> None:
    run = _pytest_without_specs(tmp_path, CI="true")

    assert run.returncode == 1, run.stdout + run.stderr
    assert "required in CI" in run.stdout


def _fake_venv(tmp_path: Path, pytest_script: str) -> Path:
    """A venv whose pytest records each pass (its database) and fails the SQLite one."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "pytest"
    fake.write_text(pytest_script)
    fake.chmod(0o755)
    (venv / ".installed").touch()
    os.utime(venv / ".installed", (4102444800, 4102444800))  # newer than pyproject.toml
    return venv


def _make_test(tmp_path: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COMPTOIR_TEST_DATABASE_URL="postgres://127.0.0.1/x", MAKEFLAGS="")
    return subprocess.run(
        ["make", "-s", "test", f"VENV={venv}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_test_runs_postgresql_even_when_the_sqlite_pass_failed(tmp_path: Path) -> None:
    log = tmp_path / "passes"
    venv = _fake_venv(
        tmp_path,
        f'#!/bin/sh\necho "${{DATABASE_URL:-sqlite}}" >> {log}\n[ -n "$DATABASE_URL" ]\n',
    )

    run = _make_test(tmp_path, venv)

    assert log.read_text().split() == ["sqlite", "postgres://127.0.0.1/x"]
    assert run.returncode != 0


def test_make_test_fails_when_only_the_postgresql_pass_failed(tmp_path: Path) -> None:
    log = tmp_path / "passes"
    venv = _fake_venv(
        tmp_path,
        f'#!/bin/sh\necho "${{DATABASE_URL:-sqlite}}" >> {log}\n[ -z "$DATABASE_URL" ]\n',
    )

    run = _make_test(tmp_path, venv)

    assert log.read_text().split() == ["sqlite", "postgres://127.0.0.1/x"]
    assert run.returncode != 0


def test_make_test_passes_when_both_passes_pass(tmp_path: Path) -> None:
    log = tmp_path / "passes"
    venv = _fake_venv(tmp_path, f'#!/bin/sh\necho "${{DATABASE_URL:-sqlite}}" >> {log}\n')

    run = _make_test(tmp_path, venv)

    assert run.returncode == 0, run.stdout + run.stderr
    assert log.read_text().split() == ["sqlite", "postgres://127.0.0.1/x"]
