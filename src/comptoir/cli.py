"""The `comptoir` command: Django's management commands behind one entry point.

`comptoir serve`, `comptoir worker`, `comptoir demo`, `comptoir migrate`, `comptoir createuser`,
`comptoir inbound`, `comptoir import`, `comptoir import-history`; `comptoir help <command>` or
`--help` on each.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

HELP_ARGS = ({"help"}, {"--help"}, {"-h"})
WEB_PROCESS = "COMPTOIR_WEB_PROCESS"
ALIASES = {"import-history": "import_history", "rotate-keys": "rotate_keys"}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    from django.core.management import execute_from_command_line

    args = ["comptoir", *(sys.argv[1:] if argv is None else argv)]
    # `import-history` is the command `import_history` (a module name has no hyphen), also
    # after `help`.
    for i in (1, 2) if len(args) > 2 and args[1] == "help" else (1,):
        if i < len(args):
            args[i] = ALIASES.get(args[i], args[i])
    if len(args) == 1 or set(args[1:]) in HELP_ARGS:
        sys.stdout.write(overview())
        return
    if args[1] == "serve":
        # Read by the settings (here and in each server process uvicorn starts): the web
        # server's request threads keep their database connections (comptoir/asgi.py).
        os.environ[WEB_PROCESS] = "1"
    execute_from_command_line(args)


def overview() -> str:
    """`comptoir --help`: Comptoir's own commands first, each with what it does, then the
    Django commands that come with it (migrate, createsuperuser...), by name only."""
    import django
    from django.core.management import get_commands, load_command_class

    django.setup()
    ours: list[tuple[str, str]] = []
    theirs: list[str] = []
    for name, app in sorted(get_commands().items()):
        if app.startswith("comptoir"):
            ours.append((name, _first_line(load_command_class(app, name).help)))
        else:
            theirs.append(name)
    width = max(len(name) for name, _ in ours)
    lines = [
        "Usage: comptoir <command> [options]; `comptoir help <command>` for its options.",
        "",
        "Comptoir's commands:",
        *(f"  {name:<{width}}  {what}" for name, what in ours),
        "",
        "Django's commands (for the database, static files, translations and checks):",
        *_columns(theirs),
        "",
    ]
    return "\n".join(lines)


def _first_line(help_text: str, room: int = 70) -> str:
    """The first sentence of a command's help, cut before its details when too long."""
    text = " ".join(help_text.split())
    head = text.partition(". ")[0].rstrip(".")
    for stop in (" (", ": ", ", "):
        if len(head) > room and stop in head:
            head = head.partition(stop)[0]
    return head if len(head) <= room else head[: room - 1].rsplit(" ", 1)[0] + "…"


def _columns(names: Sequence[str], per_line: int = 4) -> list[str]:
    width = max((len(n) for n in names), default=0) + 2
    return [
        "  " + "".join(n.ljust(width) for n in names[i : i + per_line]).rstrip()
        for i in range(0, len(names), per_line)
    ]


if __name__ == "__main__":
    main()
