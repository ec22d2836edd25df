"""App-wide error pages (404/403/500/503); JSON for the API so phones get something they can parse."""
import logging

from flask import jsonify, render_template, request
from flask_babel import _
from sqlalchemy.exc import OperationalError

from ..extensions import db
from . import bp

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json" and not request.headers.get("HX-Request"))


def _error(code: int, name: str):
    if _wants_json():
        return jsonify({"error": name}), code
    return render_template(f"errors/{code}.html"), code


@bp.app_errorhandler(404)
def not_found(_e):
    return _error(404, "not_found")


@bp.app_errorhandler(403)
def forbidden(_e):
    return _error(403, "forbidden")


@bp.app_errorhandler(500)
def server_error(_e):
    db.session.rollback()  # the failed transaction must not leak into the error page's queries
    return _error(500, "server_error")


@bp.app_errorhandler(OperationalError)
def database_unavailable(exc):
    """The database was locked past the busy timeout, or the connection dropped: the request's
    transaction is rolled back, and the sender (the outbox) keeps its records and sends them
    again; records the server had already stored answer ``duplicate``."""
    db.session.rollback()
    log.warning("database unavailable for %s %s: %s", request.method, request.path,
                exc.orig.__class__.__name__ if exc.orig is not None else exc.__class__.__name__)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if _wants_json():
        message = _("The database is busy or was interrupted. Send again in a moment: "
                    "records the server already has are not stored twice.")
        return jsonify({"error": "database_unavailable", "message": message,
                        "retry_after": RETRY_AFTER_SECONDS}), 503, headers
    return render_template("errors/500.html"), 503, headers
