"""Lighthouse scores (mobile) of the field screens, and whether Chromium finds the app installable.

    .venv/bin/python bench/lighthouse.py [--pages login,register,visit_form,desk,attendance] [--json OUT]

Lighthouse comes from the npm registry (`npx lighthouse@12`, kept in ~/.cache/doorstep-lighthouse,
not in the app's own packages) and drives Debian's Chromium with its mobile profile (simulated
slow 4G, 4× CPU slowdown). Pages behind the login get the session cookie of a demo user.
Lighthouse 12 no longer has a PWA category, so installability is asked of Chromium itself
(DevTools `Page.getInstallabilityErrors`, no errors = installable).

Goals (issue 7): accessibility, best practices and performance ≥ 95, installable.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from field_weight import ARGS, CHROMIUM, PASSWORD, PHONE, log_in, start_server  # noqa: E402

LIGHTHOUSE = "lighthouse@12"
CACHE = Path.home() / ".cache" / "doorstep-lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices")


def lighthouse_bin() -> Path:
    binary = CACHE / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", LIGHTHOUSE],
                       check=True, capture_output=True)
    return binary


def session_cookie(base: str, user: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "username": user, "password": PASSWORD}).encode()
    opener.open(f"{base}/login", data=body)
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def pages(ids: dict) -> dict[str, tuple[str | None, str]]:
    return {
        "login": (None, "/login"),
        "register": ("cunganbu1", "/"),
        "visit_form": ("cunganbu1", f"/households/{ids['household']}/visit"),
        "desk": ("qiantai", "/desk/"),
        "attendance": ("zhanzhang", "/attendance/"),
        "checkups": ("zhanzhang", "/checkups/"),
    }


def run_lighthouse(binary: Path, url: str, cookie: str | None, out: Path) -> dict:
    cmd = [str(binary), url, "--quiet", "--output=json", f"--output-path={out}",
           f"--only-categories={','.join(CATEGORIES)}",
           f"--chrome-flags=--headless=new {' '.join(ARGS)}"]
    if cookie:
        cmd.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    subprocess.run(cmd, check=True, env={**os.environ, "CHROME_PATH": CHROMIUM}, capture_output=True, timeout=300)
    report = json.loads(out.read_text())
    return {name: round(report["categories"][name]["score"] * 100) for name in CATEGORIES}


def installability(base: str, cookie_user: str) -> list:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        with tempfile.TemporaryDirectory() as profile:  # a real profile: incognito is never installable
            return _installability(playwright, profile, base, cookie_user)


def _installability(playwright, profile: str, base: str, cookie_user: str) -> list:
    context = playwright.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=ARGS, **PHONE)
    page = context.new_page()
    log_in(page, base, cookie_user)
    page.wait_for_function("() => navigator.serviceWorker.controller", timeout=60_000)
    errors = context.new_cdp_session(page).send("Page.getInstallabilityErrors")["installabilityErrors"]
    context.close()
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", default="login,register,visit_form,desk,attendance")
    parser.add_argument("--json", help="also write the scores to this file")
    parser.add_argument("--reports", help="keep each page's Lighthouse JSON report in this directory")
    args = parser.parse_args()
    binary = lighthouse_bin()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        server, base, ids = start_server(Path(tmp))
        try:
            known = pages(ids)
            cookies: dict[str, str] = {}
            for name in args.pages.split(","):
                user, path = known[name]
                if user and user not in cookies:
                    cookies[user] = session_cookie(base, user)
                try:
                    scores = run_lighthouse(binary, f"{base}{path}", cookies.get(user),
                                            Path(args.reports or tmp) / f"{name}.json")
                except subprocess.CalledProcessError as failure:
                    print(f"{name:12} lighthouse failed: {failure.stderr.decode()[-300:]}")
                    continue
                results[name] = scores
                low = min(scores.values())
                print(f"{name:12} " + "  ".join(f"{k} {v}" for k, v in scores.items())
                      + f"   lowest/goal {low / 95:.2f}", flush=True)
            errors = installability(base, "cunganbu1")
            print("installable:", "yes" if not errors else f"no {errors}")
            results["installable"] = not errors
        finally:
            server.terminate()
            server.wait(10)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
