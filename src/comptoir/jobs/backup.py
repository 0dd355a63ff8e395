"""Database backups while Comptoir runs: SQLite through its online backup API (a consistent
copy, page by page, while the web and the worker keep writing), PostgreSQL through pg_dump.

The attachments (COMPTOIR_DATA_DIR/files) are not in the database: they are content-addressed
files written once, to be copied beside the backup (docs/deploy.md).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from django.db import connections


class BackupError(Exception):
    """The backup or restore cannot be done as asked."""


def _settings(alias: str = "default") -> dict[str, Any]:
    conf: dict[str, Any] = connections[alias].settings_dict
    return conf


def backup(dest: Path, alias: str = "default") -> str:
    """Write a backup of the database to `dest` (written beside, then renamed: a backup
    interrupted halfway never replaces a good one); return the engine's short name."""
    conf = _settings(alias)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    if conf["ENGINE"].endswith("sqlite3"):
        _sqlite_copy(Path(conf["NAME"]), partial)
        kind = "sqlite"
    elif conf["ENGINE"].endswith("postgresql"):
        _pg(["pg_dump", "--format=custom", "--no-owner", f"--file={partial}"], conf)
        kind = "postgresql"
    else:
        raise BackupError(f"no backup for {conf['ENGINE']}")
    os.replace(partial, dest)
    return kind


def restore(source: Path, alias: str = "default") -> str:
    """Replace the database's content with the backup at `source`. Stop the web server and the
    workers first: what they write meanwhile is lost."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    conf = _settings(alias)
    connections[alias].close()
    if conf["ENGINE"].endswith("sqlite3"):
        _sqlite_copy(source, Path(conf["NAME"]))
        return "sqlite"
    if conf["ENGINE"].endswith("postgresql"):
        _pg(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
             str(source)], conf)  # fmt: skip
        return "postgresql"
    raise BackupError(f"no restore for {conf['ENGINE']}")


def _sqlite_copy(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        # 1024 pages a step: the writers get the lock back between steps.
        src.backup(dst, pages=1024)
        check = dst.execute("PRAGMA integrity_check").fetchone()
        if check is None or check[0] != "ok":
            raise BackupError(f"the copy failed its integrity check: {check}")
    finally:
        src.close()
        dst.close()


def _pg(argv: list[str], conf: dict[str, Any]) -> None:
    program = shutil.which(argv[0])
    if program is None:
        raise BackupError(f"{argv[0]} is not installed (Debian: postgresql-client)")
    env = dict(os.environ)
    # The password through the environment, never on the command line (visible in `ps`).
    if conf.get("PASSWORD"):
        env["PGPASSWORD"] = str(conf["PASSWORD"])
    args = [program, *argv[1:]]
    args += [f"--host={conf.get('HOST') or '127.0.0.1'}", f"--port={conf.get('PORT') or 5432}"]
    if conf.get("USER"):
        args.append(f"--username={conf['USER']}")
    args.append(f"--dbname={conf['NAME']}")
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {proc.stderr.strip()[:2000]}")
