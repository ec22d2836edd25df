from flask import redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import audit
from ..extensions import db
from . import bp
from .service import LoginError, check_login


def _safe_next(target: str | None) -> str:
    """Only follow local paths after login or a language switch (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("register.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("register.index"))
    error, status, headers = None, 200, {}
    if request.method == "POST":
        try:
            user = check_login(request.form.get("username", ""), request.form.get("password", ""),
                               request.remote_addr or "")
        except LoginError as exc:
            error, status = exc.message, (429 if exc.throttled else 200)
            if exc.throttled:
                headers["Retry-After"] = str(exc.retry_after)
        else:
            session.clear()
            login_user(user)
            audit.record("login", "session", user.id, user=user)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error,
                           username=request.form.get("username", "")), status, headers


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>")
def set_language(code: str):
    if code in ("zh_CN", "en"):
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next")))
