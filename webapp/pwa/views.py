"""Routes of the offline shell. The service worker is served from the root so its scope is "/"."""
from __future__ import annotations

from flask import current_app, jsonify, render_template, session
from flask_login import current_user, login_required

from . import bp, service
from .strings import js_strings


@bp.app_context_processor
def pwa_globals():
    return {"js_strings": js_strings}


@bp.record_once
def _compute_version(state):
    """Once at app start: static files do not change under a running app."""
    state.app.extensions["pwa_version"] = service.static_version(state.app.static_folder)


def _version() -> str:
    return current_app.extensions["pwa_version"]


@bp.get("/sw.js")
def service_worker():
    body = service.service_worker_source(current_app.static_folder, _version())
    response = current_app.response_class(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/offline")
def offline():
    """Shown by the service worker for a page that is neither reachable nor kept on the phone.
    It is cached once for every user, so it must not show whose phone it is. Nor may it write
    the session cookie: the service worker fetches it while the login page is open, and an
    answer that lands after the login's would put back the signed-out session."""
    page = render_template("pwa/offline.html", shell_page=True)
    session.modified = False
    return page


@bp.get("/outbox")
@login_required
def outbox():
    """An empty frame: outbox-view.js lists this user's records from the phone's IndexedDB."""
    return render_template("pwa/outbox.html")


@bp.get("/offline-pages")
@login_required
def offline_pages():
    urls = service.offline_urls(current_user, current_app.config["PAGE_SIZE"])
    return jsonify({"urls": urls, "version": _version()})
