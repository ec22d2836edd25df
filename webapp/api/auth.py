"""Who is calling the API: a device token (Authorization: Bearer …) or the browser session."""
from __future__ import annotations

from functools import wraps

from flask import g, jsonify, request
from flask_login import current_user

from ..auth.service import device_for_token
from ..extensions import csrf, db
from ..models import utcnow


def api_error(status: int, message: str, **extra):
    body = {"error": message}
    body.update(extra)
    return jsonify(body), status


def api_login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            device = device_for_token(header[len("Bearer "):].strip())
            if device is None:
                return api_error(401, "invalid or revoked token")
            device.last_seen_at = utcnow()
            db.session.flush()
            g.api_user, g.device_id = device.user, device.id
        elif current_user.is_authenticated:
            csrf.protect()  # a cookie-authenticated write must carry the CSRF header
            g.api_user, g.device_id = current_user._get_current_object(), None
        else:
            return api_error(401, "login required")
        return view(*args, **kwargs)

    return wrapper
