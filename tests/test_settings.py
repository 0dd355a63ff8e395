"""Configuration: bad values stop the start with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from comptoir.lib.env import EnvError, env_bool, env_choice, env_int, env_secret


def _start(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    base.pop("DATABASE_URL", None)
    base["COMPTOIR_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-m", "comptoir.cli", "check"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"COMPTOIR_DEBUG": "maybe"}, "COMPTOIR_DEBUG"),
        ({"COMPTOIR_TASKS_BACKEND": "celery"}, "COMPTOIR_TASKS_BACKEND"),
        ({"COMPTOIR_MAX_ATTACHMENT_BYTES": "lots"}, "COMPTOIR_MAX_ATTACHMENT_BYTES"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"COMPTOIR_SECRET_KEY": "short"}, "COMPTOIR_SECRET_KEY"),
        ({"COMPTOIR_SECRET_KEY_FILE": "/nonexistent/secret"}, "COMPTOIR_SECRET_KEY_FILE"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    proc = _start(env, tmp_path)

    assert proc.returncode == 2
    assert named in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = _start({}, tmp_path)
    secret = (tmp_path / "data" / "secret_key").read_text()
    second = _start({}, tmp_path)

    assert first.returncode == second.returncode == 0, first.stderr
    assert len(secret) >= 50
    assert (tmp_path / "data" / "secret_key").read_text() == secret
    assert oct((tmp_path / "data" / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_env_helpers_parse_and_reject() -> None:
    assert env_bool("X", environ={"X": "Yes"}) is True
    assert env_bool("X", True, environ={}) is True
    assert env_int("N", 5, minimum=1, environ={"N": " 7 "}) == 7
    with pytest.raises(EnvError, match="N=0 is below the minimum 1"):
        env_int("N", 5, minimum=1, environ={"N": "0"})
    with pytest.raises(EnvError, match="not one of"):
        env_choice("C", "a", ("a", "b"), environ={"C": "z"})


def test_secrets_come_from_a_file_or_the_variable_not_both(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_text("from-file\n")
    assert env_secret("S", environ={"S_FILE": str(path)}) == "from-file"
    assert env_secret("S", environ={"S": "direct"}) == "direct"
    assert env_secret("S", environ={}) is None
    with pytest.raises(EnvError, match="not both"):
        env_secret("S", environ={"S": "a", "S_FILE": str(path)})
