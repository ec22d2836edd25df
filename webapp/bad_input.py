"""Requests the app cannot take, refused early and clearly (400, translated), never a 500.

* A NUL character in a form field or query argument: PostgreSQL text cannot hold one, so it
  would fail deep inside a write. Sync records are checked per record instead (sync/records.py).
* A form without a valid CSRF token (an old page, or a post from another site): say what to do.
"""
from __future__ import annotations

from flask import abort, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest


def _has_nul(values) -> bool:
    # Keys and values as parsed: a malformed multipart part may leave either one None.
    return any(isinstance(text, str) and "\x00" in text
               for key in values for text in (key, *values.getlist(key)))


def refuse_nul_characters():
    if _has_nul(request.args) or (request.method == "POST" and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data") and _has_nul(request.form)):
        abort(400, description=_("The form holds a character that cannot be saved (a NUL byte). "
                                 "Remove it, for example by typing the text again, and send it again."))


def _answer(message: str):
    if request.path.startswith("/api/"):
        return jsonify({"error": message}), 400
    return render_template("errors/400.html", message=message), 400


def csrf_refused(_error: CSRFError):
    return _answer(_("This form has expired or did not come from this app (CSRF check). "
                     "Go back, reload the page and send it again."))


def bad_request(error: BadRequest):
    """A view's own message when it gave one; werkzeug's English default otherwise replaced."""
    given = getattr(error, "description", None)
    if not given or given == BadRequest.description:
        given = _("The server could not read this request. Reload the page and try again.")
    return _answer(str(given))


def init_app(app) -> None:
    app.before_request(refuse_nul_characters)
    app.register_error_handler(CSRFError, csrf_refused)
    app.register_error_handler(400, bad_request)
