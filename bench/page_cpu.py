"""The CPU of agent pages in one process, interleaved, to compare two trees on one machine.

    COMPTOIR_DATA_DIR=DIR PYTHONPATH=TREE/src .venv/bin/python bench/page_cpu.py URL... \\
        [--user bench-agent] [--rounds 40] [--batch 5]

Django's test client (middleware included, no HTTP server) signed in as `--user`, each page
warmed, then `--rounds` times `--batch` requests of each page in turn: the load of the machine
weighs on every page alike. Prints each page's thread CPU per request. Run it with each tree on
PYTHONPATH against the same data (a `bench/scale.py` fill, say), in turn, twice.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--user", default="bench-agent")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    import django

    django.setup()
    from django.test import Client

    from comptoir.accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=args.user))
    for url in args.urls:
        for _ in range(10):  # what a process loads once, left out
            assert client.get(url).status_code == 200, url
    spent = dict.fromkeys(args.urls, 0.0)
    for _ in range(args.rounds):
        for url in args.urls:
            started = time.thread_time()
            for _ in range(args.batch):
                client.get(url)
            spent[url] += time.thread_time() - started
    requests = args.rounds * args.batch
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for url in args.urls:
        print(f"{spent[url] / requests * 1000:7.2f} ms CPU/request  {url}")


if __name__ == "__main__":
    main()
