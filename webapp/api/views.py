from flask import g, jsonify, request

from ..auth.service import LoginError, check_login, issue_device_token
from ..extensions import db
from . import bp
from .auth import api_error, api_login_required


def user_json(user) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "areas": [{"id": a.id, "code": a.code, "kind": a.kind, "name": a.name} for a in user.areas],
    }


@bp.post("/login")
def login():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "expected a JSON object with username, password and device_name")
    try:
        user = check_login(str(body.get("username") or ""), str(body.get("password") or ""),
                           request.remote_addr or "")
    except LoginError as exc:
        return api_error(429 if exc.throttled else 401, exc.message)
    device, token = issue_device_token(user, str(body.get("device_name") or ""))
    db.session.commit()
    return jsonify({"token": token, "device_id": device.id, "user": user_json(user)})


@bp.get("/me")
@api_login_required
def me():
    db.session.commit()
    return jsonify({"user": user_json(g.api_user), "device_id": g.device_id})
