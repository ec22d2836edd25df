"""What each screen costs a phone on a slow network: bytes transferred and load times.

    .venv/bin/python bench/field_weight.py [--profiles slow3g,fast3g] [--json OUT]

Builds the demo town in a throwaway SQLite file, serves it with gunicorn on 127.0.0.1 and
opens every main screen in Debian's Chromium at 360×640 (mobile, zh-CN):

* **weight**: bytes transferred for the screen's first load with an empty cache: the page's
  own requests sent before its load event, compressed as sent, headers included. Budget:
  ≤ 100 KB. Not counted: the service worker's background precache, and what the page asks
  for after its load event (Today's people index for offline search): that is shown apart as
  "after load", measured until the network has been quiet for a second.
* **first load** and **from cache** under each network profile (Chrome DevTools network
  emulation): first = empty cache; from cache = the same screen again once the service
  worker controls the page (static files from its cache, the page from the network first,
  or the kept copy after the worker's network timeout). Goals: < 3 s and < 1 s.

Prints one row per screen and profile, and ratios against the budgets.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]
PASSWORD = "demo1234"
BUDGET_BYTES = 100 * 1024
# Chrome DevTools presets (latency ms, down/up bytes per second).
PROFILES = {
    "slow3g": {"latency": 2000, "downloadThroughput": 50_000, "uploadThroughput": 50_000},
    "fast3g": {"latency": 562.5, "downloadThroughput": 180_000, "uploadThroughput": 84_375},
    "none": None,
}
PHONE = {"viewport": {"width": 360, "height": 640}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai",
         "is_mobile": True, "has_touch": True}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workdir: Path) -> tuple[subprocess.Popen, str, dict]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite'}", "SECRET_KEY": "bench"}
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*flask, "demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base}/login", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    ids = demo_ids(env)
    return server, base, ids


def demo_ids(env: dict) -> dict:
    """A household, a person and a group of the first worker's village, read from the database."""
    code = """
import json, sqlalchemy as sa
from webapp import create_app
from webapp.extensions import db
from webapp.models import Household, Person, User
app = create_app()
with app.app_context():
    worker = db.session.scalar(sa.select(User).where(User.username == "cunganbu1"))
    village = next(a for a in worker.areas if a.is_village)
    home = db.session.scalar(sa.select(Household).where(Household.village_id == village.id).order_by(Household.id))
    person = db.session.scalar(sa.select(Person).where(Person.household_id == home.id))
    print(json.dumps({"village": village.id, "group": home.group_id, "household": home.id, "person": person.id}))
"""
    out = subprocess.run([str(VENV_BIN / "python"), "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def screens(ids: dict) -> list[tuple[str, str | None, str]]:
    """(name, user or None for anonymous, path)."""
    return [
        ("login", None, "/login"),
        ("register", "cunganbu1", "/"),
        ("village", "cunganbu1", f"/villages/{ids['village']}"),
        ("group", "cunganbu1", f"/groups/{ids['group']}"),
        ("household", "cunganbu1", f"/households/{ids['household']}"),
        ("person", "cunganbu1", f"/people/{ids['person']}"),
        ("person form", "cunganbu1", f"/people/{ids['person']}/edit"),
        ("visit form", "cunganbu1", f"/households/{ids['household']}/visit"),
        ("today", "cunganbu1", "/today"),
        ("notices", "cunganbu1", "/notices/"),
        ("check-up days", "zhanzhang", "/checkups/"),
        ("visit report", "zhanzhang", "/visits/report"),
    ]


def log_in(page, base: str, user: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form:has(input[name=password]) [type=submit]").first.click()
    page.wait_for_url(lambda url: "/login" not in url)


def session_state(browser, base: str, user: str) -> dict:
    context = browser.new_context(**PHONE, service_workers="block")
    page = context.new_page()
    log_in(page, base, user)
    state = context.storage_state()
    context.close()
    # "I have the stylesheet" (webapp/assets.py) is not true of the empty cache a first load starts with.
    state["cookies"] = [c for c in state["cookies"] if c["name"] != "ds_css"]
    return state


LOAD_MS = "() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; }"
# When the page's content was on the screen: the largest contentful paint (Chromium keeps the
# entries buffered), and the first byte of the page, to tell network round trips from the rest.
SHOWN_MS = """() => new Promise((done) => {
  new PerformanceObserver((list) => {
    const all = list.getEntries();
    done(all[all.length - 1].startTime);
  }).observe({type: 'largest-contentful-paint', buffered: true});
})"""
FIRST_BYTE_MS = "() => performance.getEntriesByType('navigation')[0].responseStart"


def throttle_service_workers(browser, profile: dict) -> None:
    """Emulate ``profile`` inside the service worker too: the page's emulation does not reach
    the worker's own fetches, so its network-first pages would come over an unthrottled
    network. Attached through the browser's DevTools session (Playwright gives no session for
    a worker)."""
    cdp = browser.new_browser_cdp_session()
    for target in cdp.send("Target.getTargets")["targetInfos"]:
        if target["type"] != "service_worker":
            continue
        session = cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": False})["sessionId"]
        for n, (method, params) in enumerate((("Network.enable", {}),
                                              ("Network.emulateNetworkConditions", {"offline": False, **profile}))):
            cdp.send("Target.sendMessageToTarget", {"sessionId": session, "message": json.dumps(
                {"id": n + 1, "method": method, "params": params})})


def measure(browser, base: str, path: str, state: dict | None, profile: dict | None) -> dict:
    context = browser.new_context(**PHONE, storage_state=state)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
    if profile:
        cdp.send("Network.emulateNetworkConditions", {"offline": False, **profile})
    cdp.send("Page.enable")
    sizes: dict[str, float] = {}
    sent: dict[str, float] = {}  # request id -> when it was sent (DevTools' monotonic clock)
    loaded: list[float] = []
    cdp.on("Network.requestWillBeSent", lambda e: sent.setdefault(e["requestId"], e["timestamp"]))
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
    cdp.on("Page.loadEventFired", lambda e: loaded.append(e["timestamp"]))
    page.goto(f"{base}{path}", wait_until="load", timeout=120_000)
    first_ms = page.evaluate(LOAD_MS)
    shown_ms, first_byte_ms = page.evaluate(SHOWN_MS), page.evaluate(FIRST_BYTE_MS)
    quiet_since, deadline = time.monotonic(), time.monotonic() + 60
    while time.monotonic() < deadline:  # until nothing the page asked for is still coming, for 1 s
        page.wait_for_timeout(100)
        if set(sent) - set(sizes):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 1:
            break
    load_at = loaded[0] if loaded else float("inf")
    weight = sum(size for rid, size in sizes.items() if sent.get(rid, 0) <= load_at)
    after_load = sum(size for rid, size in sizes.items() if sent.get(rid, 0) > load_at)
    # Let the service worker install and take the page (its precache runs under the same profile).
    page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller", timeout=180_000)
    if profile:
        throttle_service_workers(browser, profile)
        page.wait_for_timeout(300)
    page.goto(f"{base}{path}", wait_until="load", timeout=120_000)
    cached_ms = page.evaluate(LOAD_MS)
    cached_shown_ms = page.evaluate(SHOWN_MS)
    context.close()
    return {"bytes": weight, "after_load_bytes": after_load, "first_ms": first_ms, "shown_ms": shown_ms, "first_byte_ms": first_byte_ms,
            "cached_ms": cached_ms, "cached_shown_ms": cached_shown_ms}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="slow3g,fast3g,none")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--screens", help="only these screens (comma-separated names)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        server, base, ids = start_server(Path(tmp))
        rows = []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                states = {}
                wanted = set(args.screens.split(",")) if args.screens else None
                for name, user, path in screens(ids):
                    if wanted and name not in wanted:
                        continue
                    if user and user not in states:
                        states[user] = session_state(browser, base, user)
                    for profile in args.profiles.split(","):
                        figures = measure(browser, base, path, states.get(user), PROFILES[profile])
                        rows.append({"screen": name, "profile": profile, **figures})
                        print(f"{name:14} {profile:7} {figures['bytes'] / 1024:6.1f} KB "
                              f"(budget ratio {figures['bytes'] / BUDGET_BYTES:.2f}; after load "
                              f"{figures['after_load_bytes'] / 1024:4.1f} KB)  first: byte "
                              f"{figures['first_byte_ms']:5.0f} ms, shown {figures['shown_ms']:5.0f} ms "
                              f"(goal ratio {figures['shown_ms'] / 3000:.2f}), load {figures['first_ms']:5.0f} ms  "
                              f"from cache: shown {figures['cached_shown_ms']:5.0f} ms "
                              f"(goal ratio {figures['cached_shown_ms'] / 1000:.2f}), load {figures['cached_ms']:5.0f} ms",
                              flush=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    heaviest = max(rows, key=lambda r: r["bytes"])
    print(f"heaviest first load: {heaviest['screen']} {heaviest['bytes'] / 1024:.1f} KB "
          f"= {heaviest['bytes'] / BUDGET_BYTES:.2f} × budget")
    for profile in args.profiles.split(","):
        mine = [r for r in rows if r["profile"] == profile]
        if mine:
            print(f"{profile}: slowest first load shown {max(r['shown_ms'] for r in mine):.0f} ms "
                  f"(load {max(r['first_ms'] for r in mine):.0f} ms), slowest from cache shown "
                  f"{max(r['cached_shown_ms'] for r in mine):.0f} ms (load {max(r['cached_ms'] for r in mine):.0f} ms)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
