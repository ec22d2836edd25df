import gzip
import json
import math
import uuid
import zlib

from flask import g, jsonify, request

from ..auth.service import LoginError, check_login, issue_device_token
from ..extensions import db
from . import bp
from .auth import api_error, api_login_required
from .sync_service import MAX_RECORDS, BadRequest, sync_exchange

MAX_BODY_BYTES = 5 * 1024 * 1024


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
        if exc.throttled:
            body, status = api_error(429, exc.message, retry_after=exc.retry_after)
            return body, status, {"Retry-After": str(exc.retry_after)}
        return api_error(401, exc.message)
    device, token = issue_device_token(user, str(body.get("device_name") or ""))
    db.session.commit()
    return jsonify({"token": token, "device_id": device.id, "user": user_json(user)})


@bp.get("/me")
@api_login_required
def me():
    db.session.commit()
    return jsonify({"user": user_json(g.api_user), "device_id": g.device_id})


def _read_body() -> bytes:
    """The request body, gunzipped when sent compressed, never more than MAX_BODY_BYTES."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise OverflowError
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY_BYTES:
        raise OverflowError
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        try:
            out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, MAX_BODY_BYTES + 1)
        except (zlib.error, gzip.BadGzipFile):
            raise ValueError("the body is not valid gzip") from None
        if len(out) > MAX_BODY_BYTES:
            raise OverflowError
        return out
    return raw


def _device_id(body: dict) -> str:
    """A phone's device comes from its token; a browser names itself with a UUID it keeps."""
    if g.device_id:
        return g.device_id
    given = body.get("device_id")
    try:
        return str(uuid.UUID(str(given)))
    except ValueError:
        return f"session-{g.api_user.id}"


def _not_json(name: str):
    """NaN and Infinity: Python reads them, JSON (and PostgreSQL's json type) does not."""
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: no database stores it; refused like NaN
        raise ValueError(f"{text} is out of range")
    return value


@bp.post("/sync")
@api_login_required
def sync():
    try:
        body = json.loads(_read_body().decode("utf-8"), parse_constant=_not_json, parse_float=_finite)
    except OverflowError:
        return api_error(413, f"request body larger than {MAX_BODY_BYTES} bytes; send fewer records at a time")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return api_error(400, f"the body is not valid JSON ({exc.__class__.__name__})")
    if not isinstance(body, dict):
        return api_error(400, "expected a JSON object with device_id, cursor and records")
    if body.get("user_id") not in (None, g.api_user.id):
        # A phone's records belong to who made them; never merge them under another login.
        return api_error(409, "these records belong to another user; log in as that user to send them")
    if isinstance(body.get("records"), list) and len(body["records"]) > MAX_RECORDS:
        return api_error(413, f"at most {MAX_RECORDS} records per request", limit=MAX_RECORDS)
    try:
        answer = sync_exchange(g.api_user, _device_id(body), body)
    except BadRequest as exc:
        return api_error(400, str(exc))
    return jsonify(answer)
