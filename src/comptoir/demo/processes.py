"""Run the web server and the worker side by side for `comptoir demo --serve`, and stop both."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

STOP_TIMEOUT = 10.0  # seconds each child gets to finish its requests and tasks before a kill
POLL_SECONDS = 0.5

COMPTOIR = [sys.executable, "-m", "comptoir.cli"]


def demo_commands(*, host: str, port: int, verbosity: int) -> list[tuple[str, list[str]]]:
    """The demo's processes: quiet (warnings and errors) at verbosity 1, chattier above."""
    level = "info" if verbosity > 1 else "warning"
    return [
        ("serve", [*COMPTOIR, "serve", "--host", host, "--port", str(port), "--log-level", level]),
        ("worker", [*COMPTOIR, "worker", "-v", str(max(0, verbosity - 1))]),
        # Marketplace simulators with buyers who keep writing.
        ("simulate", [*COMPTOIR, "simulate", "-v", str(verbosity - 1 if verbosity > 1 else 0)]),
    ]


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run_together(
    commands: Sequence[tuple[str, list[str]]],
    *,
    on_started: Callable[[], None] | None = None,
    ready: Callable[[], bool] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[str, int] | None:
    """Start every command; return when interrupted (None) or when one exits on its own.

    `on_started` runs once `ready()` is true (checked between waits on the children), so what
    it prints comes after the children's start-up lines. SIGINT and SIGTERM stop all of them:
    terminate, wait up to STOP_TIMEOUT, then kill. When a child ends by itself, the others are
    stopped and its (name, exit code) is returned.
    """
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for name, argv in commands:
            procs.append((name, subprocess.Popen(argv, env=env)))
        waiting = on_started
        while True:
            if waiting is not None and (ready is None or ready()):
                waiting()
                waiting = None
            for name, proc in procs:
                try:
                    # A bounded wait on each child in turn: notices any exit within a second,
                    # while signals still interrupt it at once.
                    code = proc.wait(timeout=POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    continue
                return name, code
    except (_Stop, KeyboardInterrupt):
        return None
    finally:
        # Further Ctrl-C while stopping must not leave children behind.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        _stop_all([proc for _, proc in procs])
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
