"""`make screenshots`: every page of a demo instance in English and French, at a laptop's
1,440 px and a phone's 390 px, as PNG files in docs/screenshots/ (Playwright driving
/usr/bin/chromium).

The demo runs in its own data directory (var/screenshots, made once and kept: a second run
starts at once) and on a free port, so a `make demo` already running is left alone. The pages
are the fixed ones below plus every link of the settings index, the first conversation of the
inbox and the first of each settings list that has detail pages.

    .venv/bin/python deploy/screenshots.py [--out docs/screenshots] [--port N]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "comptoir-demo"
USER = "admin"  # the owner: every page is open to them
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
LANGUAGES = ("en", "fr")
FIXED = {
    "inbox": "/inbox/",
    "inbox-late": "/inbox/?view=needs_reply&sla=breached",  # the late ones, a filter chip shown
    "search": "/inbox/?view=all&q=colis",
    "cases": "/cases/",
    "analytics": "/analytics/",
    "knowledge": "/kb/",
    "faq": "/faq/",
    "notifications": "/notifications/",
    "profile": "/profile/",
    "settings": "/settings/",
}
# List pages whose first row links to a page worth showing too.
DETAILS = {"rule": "/settings/rules/", "template": "/settings/templates/"}


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A port nobody listens on now (the machine may run other demos: never shoot theirs)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_demo(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COMPTOIR_DATA_DIR": str(ROOT / "var" / "screenshots"), "DATABASE_URL": ""}
    env["PYTHONPATH"] = str(ROOT / "src")
    comptoir = [sys.executable, "-m", "comptoir.cli"]
    # A smaller demo than `make demo`'s: the pages look the same, it loads in well under a minute.
    load = [*comptoir, "demo", "--seed", "42", "--if-empty", "--conversations", "600"]
    subprocess.run([*load, "--scale", "0.2"], env=env, check=True, cwd=ROOT)
    server = subprocess.Popen(
        [*comptoir, "demo", "--if-empty", "--serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        start_new_session=True,  # its own process group: stopped as one at the end
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not _answers(port):
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the demo server did not start")
        time.sleep(0.5)
    if server.poll() is not None:  # another server took the port first
        raise SystemExit(f"port {port} answers, but not with this demo")
    return server


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


def discover(page: Any, base: str) -> dict[str, str]:
    """The fixed pages, the settings index's links, the first conversation and details."""
    found = dict(FIXED)
    page.goto(base + "/settings/")
    for href in page.eval_on_selector_all(
        "main a[href^='/settings/']", "as => as.map(a => a.getAttribute('href'))"
    ):
        path = href.split("?")[0]
        found.setdefault(_slug(path), path)
    page.goto(base + "/inbox/")  # the first conversation waiting for an answer
    first = page.locator("tr.row").first.get_attribute("data-href")
    if first:
        found["conversation"] = first
    for name, listing in DETAILS.items():
        page.goto(base + listing)
        links = page.eval_on_selector_all(
            f"main table a[href^='{listing}']", "as => as.map(a => a.getAttribute('href'))"
        )
        detail = next((h for h in links if re.search(r"/\d+/$", h)), None)
        if detail:
            found[name] = detail
    return found


def shoot(base: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        for language in LANGUAGES:
            # The agent's browser speaks English: the page's language is the user's choice.
            context = browser.new_context(locale="en-GB", timezone_id="Europe/Paris")
            page = context.new_page()
            page.goto(base + "/login/")
            page.fill("input[name=username]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click(".login button[type=submit]")
            page.wait_for_url(base + "/inbox/")
            page.click(f"form.lang button[value={language}]")
            page.wait_for_selector(f"html[lang={language}]")
            pages = discover(page, base)
            for kind, (width, height) in SIZES.items():
                page.set_viewport_size({"width": width, "height": height})
                for name, path in pages.items():
                    page.goto(base + path)
                    target = out / f"{name}-{language}-{kind}.png"
                    # The first screen only: what someone sees on opening the page, small files.
                    page.screenshot(path=str(target), animations="disabled")
                    written.append(target)
            page.goto(base + "/login/")
            context.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.port = args.port or free_port()
    if _answers(args.port):
        raise SystemExit(f"port {args.port} is in use: choose another with --port")
    server = start_demo(args.port)
    try:
        written = shoot(f"http://127.0.0.1:{args.port}", args.out)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    size = sum(p.stat().st_size for p in written)
    print(f"{len(written)} screenshots in {args.out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
