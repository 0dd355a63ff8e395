"""`make audit`: the pinned dependencies (constraints.txt) checked against known vulnerabilities
with pip-audit, for CI.

Fails (exit 1) when a vulnerability is found, or when pip-audit fails for another reason than
the network. Does not fail when the vulnerability service cannot answer: pip-audit then reports
the packages it could not check as skipped (a service that answers 404 for a version, as a
mirror without the per-version JSON API does), or cannot reach the service at all. Both are
printed plainly, with the count, so that a run that checked nothing is never read as "no
vulnerability".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# pip-audit's errors when the service cannot be reached (name resolution, refused, timeout).
UNREACHABLE = (
    "ConnectionError",
    "NameResolutionError",
    "Max retries exceeded",
    "ConnectTimeout",
    "ReadTimeout",
)


def pip_audit() -> str:
    """pip-audit next to this Python (the venv's), unless PIP_AUDIT names another."""
    return os.environ.get("PIP_AUDIT") or str(Path(sys.executable).with_name("pip-audit"))


def summarise(report: dict[str, Any]) -> tuple[list[str], list[str], int]:
    """(vulnerabilities found, packages skipped, packages checked) from pip-audit's JSON."""
    found, skipped, checked = [], [], 0
    for dep in report.get("dependencies", []):
        if dep.get("skip_reason"):
            skipped.append(f"{dep['name']}: {dep['skip_reason']}")
            continue
        checked += 1
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed version"
            found.append(f"{dep['name']} {dep.get('version', '')}: {vuln['id']} (fixed in {fixes})")
    return found, skipped, checked


def verdict(report: dict[str, Any] | None, stderr: str, returncode: int) -> tuple[int, list[str]]:
    """The exit status and the lines to print, from one pip-audit run."""
    if report is None:
        if any(marker in stderr for marker in UNREACHABLE):
            return 0, [
                "pip-audit: SKIPPED, the vulnerability service could not be reached:",
                "  no package was checked (this is not a pass).",
            ]
        return 1, ["pip-audit failed:", *stderr.strip().splitlines()[-5:]]
    found, skipped, checked = summarise(report)
    lines = [f"pip-audit: {checked} packages checked, {len(skipped)} skipped, {len(found)} found"]
    if skipped:
        lines.append(
            f"SKIPPED ({len(skipped)}): the vulnerability service did not answer for these "
            "versions; they were NOT checked:"
        )
        lines += [f"  {line}" for line in skipped]
    if found:
        lines.append("VULNERABLE:")
        lines += [f"  {line}" for line in found]
        return 1, lines
    if returncode not in (0, 1):
        return 1, [*lines, f"pip-audit exited with {returncode}:", stderr.strip()[-500:]]
    return 0, lines


def _read(path: Path) -> dict[str, Any] | None:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # pip-audit stopped before writing it
    return report if isinstance(report, dict) else None


def main(argv: list[str]) -> int:
    requirements = argv[1] if len(argv) > 1 else "constraints.txt"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        # Every line is pinned (==): no resolution, no pip, nothing installed.
        command = [pip_audit(), "-r", requirements, "--no-deps", "--disable-pip"]
        command += ["--progress-spinner", "off", "-f", "json", "-o", str(out)]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        report = _read(out)
    status, lines = verdict(report, run.stderr, run.returncode)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
