"""Instructions per request of agent pages, counted by callgrind: a figure that repeats on a
shared machine, where CPU time per request moved by a third between two runs of one tree.

    COMPTOIR_DATA_DIR=DIR PYTHONPATH=TREE/src .venv/bin/python bench/page_instructions.py \\
        URL... [--user bench-agent] [--requests 10]

For each URL, two child processes run under `valgrind --tool=callgrind`, alike up to the
measure: Django set up, the user signed in (the test client, middleware included, no HTTP
server), every URL requested five times, all of it uninstrumented. Then callgrind counts from
there: one child stops, the other requests the URL `--requests` times: the difference of their
counts, divided by `--requests`, is the URL's instructions per request. Run it with each tree
on PYTHONPATH against the same data (a `bench/scale.py` fill, say) to compare two trees.
Instructions are not time (a cache miss costs more than an add), but a change that saves a
tenth of them saves about a tenth of the CPU. About two minutes per URL.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

WARM = 5
_COLLECTED = re.compile(r"Collected : (\d+)")


def child(urls: list[str], measured: str, count: int, user: str, go: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    import django

    django.setup()
    from django.test import Client

    from comptoir.accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=user))
    for url in urls:
        for _ in range(WARM):  # what a process loads once (imports, kept queries), left out
            assert client.get(url).status_code == 200, url
    # Counted from here: the parent turns callgrind's instrumentation on, then says go (the
    # loop runs guest code, so callgrind reads its command meanwhile).
    print("ready", flush=True)
    while not go.exists():
        pass
    for _ in range(count):
        client.get(measured)


def instructions(urls: list[str], measured: str, count: int, user: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        go = Path(tmp) / "go"
        command = [
            "valgrind",
            "--tool=callgrind",
            # Set-up and warm-up run uninstrumented (five times faster), and are not counted.
            "--instr-atstart=no",
            f"--callgrind-out-file={Path(tmp) / 'out'}",
            sys.executable,
            __file__,
            *("--child", measured, "--count", str(count), "--user", user, "--go", str(go)),
            *urls,
        ]
        # The same hash seed in both children: dicts and sets laid out alike.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() == "ready":
            subprocess.run(
                ["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True
            )
            go.touch()
        _, err = proc.communicate()
    found = _COLLECTED.search(err)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"the child failed ({proc.returncode}):\n{err[-3000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--user", default="bench-agent")
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--go", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.urls, args.child, args.count, args.user, args.go)
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for url in args.urls:
        base = instructions(args.urls, url, 0, args.user)
        more = instructions(args.urls, url, args.requests, args.user)
        per = (more - base) / args.requests
        print(f"{per / 1e6:8.2f} M instructions/request  {url}", flush=True)


if __name__ == "__main__":
    main()
