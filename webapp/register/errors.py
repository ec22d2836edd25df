"""App-wide error pages (404/403/500); JSON for the API so phones get something they can parse."""
from flask import jsonify, render_template, request

from ..extensions import db
from . import bp


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
