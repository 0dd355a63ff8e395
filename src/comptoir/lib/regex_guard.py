"""The guard every user-written regular expression passes before Comptoir runs it on buyers'
text (a rule's condition, a mailbox's order-number pattern): Python's `re` cannot be
interrupted, so a pattern that backtracks forever (ReDoS) would hold a worker for good.

Two checks: nested unbounded repetition (`(a+)+`) is refused by its shape, cheaply
(`nested_repetition`, enough when loading a pattern saved earlier); then, when it is saved, the
pattern runs against texts known to make backtracking blow up, in a child process killed after
PROBE_SECONDS (`validate_regex`). Callers search at most TEXT_LIMIT characters, so a pattern's
cost is bounded by its own shape.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

# Searches read only this much of a text, so a pattern's cost is bounded by its own shape.
TEXT_LIMIT = 10_000
MAX_LENGTH = 300
# A pattern must search each probe text (TEXT_LIMIT characters) within this, in total.
PROBE_SECONDS = 1.0


class UnsafePattern(ValueError):
    """The pattern cannot be used as it is; the message says why, for a human."""


def _nested_repeat(items: Any, inside_repeat: bool) -> bool:
    """True when an unbounded repetition contains another: `(a+)+` backtracks exponentially."""
    from re import _constants as c  # type: ignore[attr-defined]

    for op, av in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            if _repeat_nests(op, av, inside_repeat):
                return True
        elif any(_nested_repeat(sub, inside_repeat) for sub in _subpatterns(op, av)):
            return True
    return False


def _repeat_nests(op: Any, av: Any, inside_repeat: bool) -> bool:
    """A repetition: unbounded inside another, or with such a repetition inside it."""
    from re import _constants as c  # type: ignore[attr-defined]

    _low, high, sub = av
    unbounded = high == c.MAXREPEAT or high > 100
    # A possessive repetition never backtracks into itself.
    backtracks = unbounded and op != c.POSSESSIVE_REPEAT
    if backtracks and inside_repeat:
        return True
    return _nested_repeat(sub, inside_repeat or backtracks)


def _subpatterns(op: Any, av: Any) -> list[Any]:
    """The patterns inside a group, an alternation or an assertion (none for a literal)."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser as p  # type: ignore[attr-defined]

    if op == c.SUBPATTERN:
        return [av[-1]]
    if op == c.BRANCH:
        return list(av[1])
    if op in (c.ASSERT, c.ASSERT_NOT):
        return [av[1]]
    if op == c.ATOMIC_GROUP or isinstance(av, p.SubPattern):
        return [av]
    return []


_PROBE = """
import re, sys
pattern = re.compile(sys.argv[1], re.IGNORECASE)
n = int(sys.argv[2])
for text in ("a" * n, " " * n, "ab" * (n // 2), "aaaa " * (n // 5), ("é" * 40 + "\\n") * (n // 41)):
    pattern.search(text + "!")
"""


def check_shape(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    """The compiled pattern, or `UnsafePattern` for one too long, invalid, or nesting an
    unbounded repetition in another. Cheap: for a pattern saved earlier, each time it is loaded."""
    from re import _parser as p  # type: ignore[attr-defined]

    if len(pattern) > MAX_LENGTH:
        raise UnsafePattern(f"a pattern may have at most {MAX_LENGTH} characters")
    try:
        compiled = re.compile(pattern, flags)
        parsed = p.parse(pattern, flags)
    except re.error as exc:
        raise UnsafePattern(f"invalid pattern {pattern!r}: {exc}") from None
    if _nested_repeat(parsed, False):
        raise UnsafePattern(
            f"pattern {pattern!r} repeats a repetition (like (a+)+): it can take forever; "
            "write it without the nesting"
        )
    return compiled


def validate_regex(pattern: str) -> str:
    """Refuse a pattern that does not compile, is too long, or is too slow: `check_shape`, then
    the pattern run against texts known to make backtracking blow up, in a child process killed
    after PROBE_SECONDS. When a pattern is saved."""
    check_shape(pattern)
    try:
        subprocess.run(
            [sys.executable, "-I", "-c", _PROBE, pattern, str(TEXT_LIMIT)],
            timeout=PROBE_SECONDS,
            check=True,
            capture_output=True,
        )
    except subprocess.TimeoutExpired:
        raise UnsafePattern(
            f"pattern {pattern!r} is too slow on a {TEXT_LIMIT}-character text"
        ) from None
    except subprocess.CalledProcessError as exc:
        raise UnsafePattern(f"pattern {pattern!r} failed: {exc.stderr[-200:]!r}") from None
    return pattern
