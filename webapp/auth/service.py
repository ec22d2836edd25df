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
    def __init__(self, message: str, throttled: bool = False):
        super().__init__(message)
        self.message = message
        self.throttled = throttled


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


def check_login(username: str, password: str, remote_addr: str) -> User:
    """Return the user, or raise LoginError with a message fit to show."""
    username = (username or "").strip()
    if not username or not password:
        raise LoginError(_("Enter your user name and password."))
    if _recent_failures(username, remote_addr) >= current_app.config["LOGIN_MAX_FAILURES"]:
        minutes = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"] // 60
        raise LoginError(
            _("Too many failed attempts. Wait %(minutes)d minutes, then try again.", minutes=minutes),
            throttled=True,
        )
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.active or not user.check_password(password):
        db.session.add(LoginFailure(username=username, remote_addr=remote_addr or ""))
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
