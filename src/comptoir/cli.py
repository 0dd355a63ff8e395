"""The `comptoir` command: Django's management commands behind one entry point.

`comptoir serve`, `comptoir worker`, `comptoir demo`, `comptoir migrate`, `comptoir createuser`,
`comptoir inbound`, `comptoir import`; `comptoir help <command>` or `--help` on each.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    from django.core.management import execute_from_command_line

    args = ["comptoir", *(sys.argv[1:] if argv is None else argv)]
    if len(args) == 1:
        args.append("help")
    execute_from_command_line(args)


if __name__ == "__main__":
    main()
