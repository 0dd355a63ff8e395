"""Run the web server and the worker side by side for `comptoir demo --serve`, and stop both."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from types import FrameType

STOP_TIMEOUT = 10.0  # seconds each child gets to finish its requests and tasks before a kill
POLL_SECONDS = 0.5

DEMO_COMMANDS: tuple[tuple[str, list[str]], ...] = (
    ("serve", [sys.executable, "-m", "comptoir.cli", "serve"]),
    ("worker", [sys.executable, "-m", "comptoir.cli", "worker"]),
    # Marketplace simulators with buyers who keep writing.
    ("simulate", [sys.executable, "-m", "comptoir.cli", "simulate"]),
)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run_together(
    commands: Sequence[tuple[str, list[str]]],
    *,
    on_started: Callable[[], None] | None = None,
) -> tuple[str, int] | None:
    """Start every command; return when interrupted (None) or when one exits on its own.

    SIGINT and SIGTERM stop all of them: terminate, wait up to STOP_TIMEOUT, then kill. When a
    child ends by itself, the others are stopped and its (name, exit code) is returned.
    """
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for name, argv in commands:
            procs.append((name, subprocess.Popen(argv)))
        if on_started:
            on_started()
        while True:
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
