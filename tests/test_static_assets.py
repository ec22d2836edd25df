"""Static files and pages on a slow network: compressed, and cached for a year only by content hash."""
from __future__ import annotations

import re

BR = {"Accept-Encoding": "br, gzip"}


def test_pages_link_static_files_by_content_hash_and_those_are_cached_for_a_year(client):
    html = client.get("/login").get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert urls and all(re.search(r"\?v=[0-9a-f]{10}$", u) for u in urls), urls
    htmx = next(u for u in urls if "htmx" in u)
    response = client.get(htmx, headers=BR)
    assert response.status_code == 200
    assert response.cache_control.max_age == 365 * 24 * 3600 and response.cache_control.immutable
    stale = client.get(htmx.split("?")[0] + "?v=0000000000")  # an old page asking for an old file
    assert stale.cache_control.max_age is None and not stale.cache_control.immutable
    plain = client.get(htmx.split("?")[0])  # importScripts in the service worker: no hash
    assert plain.cache_control.max_age is None


def test_pages_scripts_and_sync_answers_are_compressed(client):
    html = client.get("/login")
    script = client.get(re.search(r'src="(/static/vendor/htmx[^"]+)"', html.get_data(as_text=True)).group(1),
                        headers=BR)
    assert script.headers["Content-Encoding"] == "br"
    assert int(script.headers["Content-Length"]) < 0.45 * len(client.get(script.request.path).data)
    page = client.get("/login", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in page.headers["Vary"]
    worker = client.get("/sw.js", headers=BR)
    assert worker.headers["Content-Encoding"] == "br" and worker.headers["Cache-Control"] == "no-cache"


def test_service_worker_shell_lists_the_hashed_urls_the_pages_use(app, client):
    body = client.get("/sw.js").get_data(as_text=True)
    html = client.get("/login").get_data(as_text=True)
    for url in re.findall(r'src="(/static/js/[^"]+)"', html):
        assert f'"{url}"' in body, url


def test_a_first_visit_gets_the_stylesheet_inside_the_page_and_later_pages_link_it(client):
    """One round trip less before the first screen shows on a slow network, and only once."""
    import base64
    import hashlib
    from pathlib import Path

    css = (Path(__file__).resolve().parent.parent / "static/css/app.css").read_text(encoding="utf-8")
    first = client.get("/login")
    html = first.get_data(as_text=True)
    inline = re.search(r"<style>(.*?)</style>", html, re.S)
    assert inline and inline.group(1) == css
    prefetch = re.search(r'<link rel="prefetch" href="(/static/css/app\.css\?v=([0-9a-f]{10}))"', html)
    assert prefetch and 'rel="stylesheet"' not in html
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"style-src 'self' 'sha256-{digest}';" in first.headers["Content-Security-Policy"]
    cookie = client.get_cookie("ds_css")
    assert cookie is not None and cookie.value == prefetch.group(2) and cookie.http_only

    later = client.get("/login").get_data(as_text=True)
    assert "<style>" not in later and f'<link rel="stylesheet" href="{prefetch.group(1)}">' in later
    client.set_cookie("ds_css", "0000000000")  # a release changed the stylesheet since
    assert "<style>" in client.get("/login").get_data(as_text=True)
