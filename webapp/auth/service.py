"""Login checks, rate limiting and device tokens, shared by the login page and /api/login."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from .. import audit
from ..extensions import db
from ..models import Device, LoginFailure, User, utcnow


class LoginError(Exception):
    def __init__(self, message: str, throttled: bool = False, retry_after: int = 0):
        super().__init__(message)
        self.message = message
        self.throttled = throttled
        self.retry_after = retry_after  # seconds, when throttled


def _recent_failures(username: str, remote_addr: str) -> int:
    since = utcnow() - timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    by_name = db.session.scalar(
        sa.select(sa.func.count()).select_from(LoginFailure)
        .where(LoginFailure.username == username, LoginFailure.at >= since)
    )
    by_addr = db.session.scalar(
        sa.select(sa.func.count()).select_from(LoginFailure)
        .where(LoginFailure.remote_addr == remote_addr, LoginFailure.at >= since)
    )
    # An address gets more room than one name: a station's desks share one address.
    return max(by_name, by_addr // 4)


def _locked_out() -> LoginError:
    window = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    return LoginError(
        _("Too many failed attempts. Wait %(minutes)d minutes, then try again.", minutes=max(1, window // 60)),
        throttled=True, retry_after=window,
    )


def check_login(username: str, password: str, remote_addr: str) -> User:
    """Return the user, or raise LoginError with a message fit to show.

    Failures are rows in the database (not process memory), so the limit holds across every
    gunicorn worker and app server: LOGIN_MAX_FAILURES failures for one user name (or four
    times as many from one address) within LOGIN_FAILURE_WINDOW_SECONDS lock logins out until
    the window has passed, even with the right password. The lock-out itself is audited once."""
    # Longer names exist nowhere (User.username is 64 characters); cut before the failure row.
    # No user name holds a NUL, and PostgreSQL text cannot: a NUL would fail the query itself.
    username = (username or "").strip()[:64].replace("\x00", "\ufffd")
    remote_addr = (remote_addr or "")[:64]
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    if not username or not password:
        raise LoginError(_("Enter your user name and password."))
    if _recent_failures(username, remote_addr) >= limit:
        raise _locked_out()
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.active or not user.check_password(password):
        db.session.add(LoginFailure(username=username, remote_addr=remote_addr))
        db.session.flush()
        if _recent_failures(username, remote_addr) == limit:  # this failure locks: say so once
            audit.record("lockout", "login", user.id if user is not None else None,
                         after={"username": username, "remote_addr": remote_addr,
                                "window_seconds": current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]},
                         user=user)
        db.session.commit()
        raise LoginError(_("User name or password is wrong."))
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.username == username))
    return user


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_device_token(user: User, device_name: str) -> tuple[Device, str]:
    token = secrets.token_urlsafe(32)
    device = Device(user_id=user.id, name=(device_name or "")[:100], token_hash=_hash(token))
    db.session.add(device)
    db.session.flush()
    audit.record("login", "device", device.id, after={"name": device.name}, user=user, device_id=device.id)
    return device, token


def device_for_token(token: str) -> Device | None:
    """The device a bearer token belongs to, if it is valid, unrevoked and its user active."""
    if not token:
        return None
    device = db.session.scalar(sa.select(Device).where(Device.token_hash == _hash(token)))
    if device is None or device.revoked_at is not None or not device.user.active:
        return None
    return device


def revoke_devices(user: User, actor: User | None = None) -> int:
    devices = db.session.scalars(
        sa.select(Device).where(Device.user_id == user.id, Device.revoked_at.is_(None))
    ).all()
    now = utcnow()
    for device in devices:
        device.revoked_at = now
        audit.record("revoke", "device", device.id, after={"user": user.username}, user=actor)
    return len(devices)
