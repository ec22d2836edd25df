"""Doorstep: the Flask app factory."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, has_request_context, request, session
from flask_login import current_user

from .config import ConfigError, load_config, machine_secret_key
from .extensions import babel, csrf, db, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL lets readers go on while one writer commits; foreign keys are off by default in SQLite."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()


def select_locale() -> str:
    if not has_request_context():
        return "en"  # command-line output
    lang = request.args.get("lang") or session.get("lang")
    if lang in ("zh_CN", "en"):
        return lang
    return "zh_CN"


def _settle_secret_key(app: Flask) -> None:
    """Sessions and CSRF tokens are signed with SECRET_KEY, so every app server must share it:
    a key made per machine would log users out whenever the balancer picks another server.
    A key made in instance/ is therefore only used with SQLite, which is one machine anyway."""
    if app.config.get("SECRET_KEY"):
        return
    url = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    if not url.startswith("sqlite"):
        raise ConfigError(
            "Set SECRET_KEY (or SECRET_KEY_FILE) to the same random value on every app server and "
            "scheduler: with a shared database there may be several servers, and a key made per "
            "machine would sign users out when another server answers (docs/DEPLOY.md).")
    app.config["SECRET_KEY"] = machine_secret_key(Path(app.instance_path))


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(load_config(app.instance_path))
    if config:
        app.config.update(config)
    _settle_secret_key(app)
    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Only the last `hops` entries of X-Forwarded-* are believed: those nginx wrote.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(ROOT / "translations"))
    login_manager.init_app(app)
    from . import assets

    assets.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    from . import models  # noqa: F401  (register the tables with the metadata)
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .checkups import bp as checkups_bp
    from .checkups import models as _checkup_models  # noqa: F401
    from .conflicts import bp as conflicts_bp
    from .imports import bp as imports_bp
    from .notices import bp as notices_bp
    from .notices import init_app as notices_init_app
    from .notices import models as _notice_models  # noqa: F401
    from .pwa import bp as pwa_bp
    from .register import bp as register_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(register_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(conflicts_bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(pwa_bp)
    app.register_blueprint(checkups_bp)
    app.register_blueprint(notices_bp)

    from . import bad_input, labels
    from .cli import register_cli
    from .merging import register_sync_types
    from .register.sync_rules import RegisterRules

    register_sync_types(app, RegisterRules)  # new record types: register_sync_types in their own init
    notices_init_app(app)

    from . import attendance, desk, visits

    visits.init_app(app)
    desk.init_app(app)
    attendance.init_app(app)
    labels.init_app(app)
    bad_input.init_app(app)
    register_cli(app)

    @login_manager.user_loader
    def load_user(user_id: str):
        user = db.session.get(models.User, user_id)
        return user if user is not None and user.active else None

    @app.context_processor
    def inject_globals():
        from flask_babel import get_locale

        return {"current_user": current_user, "current_locale": str(get_locale())}

    @app.after_request
    def security_headers(response):
        # No inline scripts or styles anywhere: htmx's own indicator style is turned off in layout.html.
        # The one exception: the stylesheet inlined on a first visit (assets.py), allowed by its hash.
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; img-src 'self' data:; style-src 'self' {app.config['INLINE_STYLE_SOURCE']}; "
            "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app
