"""Static files on a slow network: compressed responses, and long cache lifetimes that a
deploy still invalidates.

Every ``url_for('static', …)`` gets ``?v=<hash of the file's bytes>``. A request carrying the
current hash is answered with a one-year, immutable lifetime; any other (an old page asking
for an old hash, the service worker's ``importScripts`` without one) gets the default short
lifetime and revalidates. So a phone on one bar of 2G never refetches an unchanged script,
and a changed file is a new URL.

A browser that has not got the current stylesheet yet (no ``ds_css`` cookie naming its hash)
gets it inside the page, with a low-priority prefetch of the file for the pages after: on a
2-second round trip the first screen then shows after one round trip, not two (the stylesheet
blocks painting; the scripts are deferred). The Content-Security-Policy allows exactly that
inline stylesheet by its SHA-256, nothing else inline.
"""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from flask import Flask, g, request
from flask_compress import Compress
from markupsafe import Markup

YEAR = 365 * 24 * 3600
STYLESHEET = "css/app.css"
CSS_COOKIE = "ds_css"
COMPRESSED_TYPES = ["text/html", "text/css", "text/javascript", "application/javascript", "application/json",
                    "application/manifest+json", "image/svg+xml", "text/plain", "text/csv"]

compress = Compress()


def file_hashes(static_folder: str) -> dict[str, str]:
    root = Path(static_folder)
    return {str(p.relative_to(root)).replace("\\", "/"): hashlib.sha256(p.read_bytes()).hexdigest()[:10]
            for p in root.rglob("*") if p.is_file()}


def init_app(app: Flask) -> None:
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)
    app.config.setdefault("COMPRESS_MIN_SIZE", 600)
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "deflate"])  # files are streamed; no gzip there
    compress.init_app(app)
    hashes = file_hashes(app.static_folder)  # static files do not change under a running app

    def current(filename: str) -> str | None:
        if app.debug and filename not in hashes:  # a file added while developing
            hashes.update(file_hashes(app.static_folder))
        return hashes.get(filename)

    @app.url_defaults
    def hashed_static(endpoint, values):
        if endpoint == "static" and "v" not in values:
            version = current(values.get("filename", ""))
            if version:
                values["v"] = version

    def max_age(filename: str | None):
        if filename and request.args.get("v") and request.args.get("v") == current(filename):
            return YEAR
        return None  # the default: revalidate (Flask answers 304 from the ETag)

    app.get_send_file_max_age = max_age

    css_text = (Path(app.static_folder) / STYLESHEET).read_text(encoding="utf-8")
    css_digest = base64.b64encode(hashlib.sha256(css_text.encode("utf-8")).digest()).decode()
    app.config["INLINE_STYLE_SOURCE"] = f"'sha256-{css_digest}'"

    @app.context_processor
    def stylesheet():
        def first_visit_css():
            """The stylesheet's text when this browser has not kept the current file, else None."""
            if request.cookies.get(CSS_COOKIE) == current(STYLESHEET):
                return None
            g.css_inlined = True
            return Markup(css_text)

        return {"first_visit_css": first_visit_css}

    @app.after_request
    def immutable(response):
        if request.endpoint == "static" and response.cache_control.max_age == YEAR:
            response.cache_control.immutable = True
        if g.get("css_inlined") and response.mimetype == "text/html":
            # The page prefetches the file; the pages after it link to it.
            response.set_cookie(CSS_COOKIE, current(STYLESHEET) or "", max_age=YEAR, path="/",
                                secure=request.is_secure, httponly=True, samesite="Lax")
        return response
