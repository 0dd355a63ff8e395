"""The conversation pages' HTML written to files, to compare two trees' rendering.

    COMPTOIR_DATA_DIR=/tmp/demo .venv/bin/python bench/page_html.py OUT_DIR [--limit 60] [--all]

On a demo (`comptoir demo`): every conversation up to `--limit`, as an agent and as the
supervisor, in English and in French, with the CSRF tokens and the times relative to now
masked. Run it with each tree on PYTHONPATH, then `diff -r` the two directories.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

_MASKS = [
    (
        re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"'),
        'name="csrfmiddlewaretoken" value=""',
    ),
    (re.compile(r'<meta name="csrf-token" content="[^"]+"'), '<meta name="csrf-token" content=""'),
    (re.compile(r'nonce="[^"]+"'), 'nonce=""'),
    # Relative deadlines and ages ("in 3 h", "overdue by 2 d", "il y a 5 min") move with now.
    (re.compile(r'(class="(?:due|deadline-chip)[^"]*"[^>]*>)[^<]*(<)'), r"\1…\2"),
    (re.compile(r'(<time class="ago"[^>]*>)[^<]*(<)'), r"\1…\2"),
    # Who else has the page open, and the snooze presets counted from now.
    (re.compile(r'(<p id="presence"[^>]*>).*?(</p>)'), r"\1…\2"),
    (re.compile(r'(name="(?:until|snooze_until)" value=")[^"]*"'), r'\1"'),
]


def mask(html: str) -> str:
    for pattern, replacement in _MASKS:
        html = pattern.sub(replacement, html)
    return html


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--all", action="store_true", help='the whole history ("?all=1")')
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    import django

    django.setup()
    from django.test import Client

    from comptoir.accounts.models import User
    from comptoir.inbox.models import Conversation

    args.out.mkdir(parents=True, exist_ok=True)
    ids = list(Conversation.objects.order_by("pk").values_list("pk", flat=True)[: args.limit])
    for username in ("agent1", "supervisor"):
        user = User.objects.get(username=username)
        for language in ("en", "fr"):
            User.objects.filter(pk=user.pk).update(language=language)
            client = Client(HTTP_ACCEPT_LANGUAGE=language)
            client.force_login(user)
            for pk in ids:
                response = client.get(f"/inbox/c/{pk}/" + ("?all=1" if args.all else ""))
                body = response.content.decode() if response.status_code == 200 else ""
                name = f"{username}-{language}-{pk}.html"
                (args.out / name).write_text(f"{response.status_code}\n{mask(body)}")
    print(f"{len(ids)} conversations x 4 written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
