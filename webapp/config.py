"""Configuration, read once from the environment with safe defaults."""
import os
import secrets
from pathlib import Path


def _secret_key(instance_path: Path) -> str:
    """Use SECRET_KEY when set; otherwise make one once and keep it in instance/,
    so sessions survive restarts and every gunicorn worker signs with the same key."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _database_url(instance_path: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        instance_path.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{instance_path / 'doorstep.sqlite'}"
    # Accept the common postgres:// spelling and use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


DEFAULT_SMS_TEMPLATE = "【{station}】{name}您好，请于{date} {start}-{end}到{station}参加{services}。凭通知单或身份证签到。"


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


def load_config(instance_path: str) -> dict:
    path = Path(instance_path)
    return {
        "SECRET_KEY": _secret_key(path),
        "SQLALCHEMY_DATABASE_URI": _database_url(path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "TIMEZONE": os.environ.get("TIMEZONE", "Asia/Shanghai"),
        "NOTICE_LEAD_DAYS": int(os.environ.get("NOTICE_LEAD_DAYS", "3")),
        "NOTICE_TIME": os.environ.get("NOTICE_TIME", "07:00"),
        # A list made this long after it was due is marked late.
        "NOTICE_LATE_MINUTES": int(os.environ.get("NOTICE_LATE_MINUTES", "30")),
        # The scheduler process: how often it catches up and sends, and how long a leader's lease lasts.
        "SCHEDULER_TICK_SECONDS": int(os.environ.get("SCHEDULER_TICK_SECONDS", "60")),
        "SCHEDULER_LEASE_SECONDS": int(os.environ.get("SCHEDULER_LEASE_SECONDS", "45")),
        "SEND_MAX_ATTEMPTS": int(os.environ.get("SEND_MAX_ATTEMPTS", "3")),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "LANGUAGES": ["zh_CN", "en"],
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "0") == "1",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "LOGIN_MAX_FAILURES": int(os.environ.get("LOGIN_MAX_FAILURES", "5")),
        "LOGIN_FAILURE_WINDOW_SECONDS": int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", "900")),
        # Reverse proxies in front of gunicorn whose X-Forwarded-For/-Proto to believe (login limits
        # count failures per client address; 0 = clients connect directly).
        "TRUSTED_PROXY_HOPS": int(os.environ.get("TRUSTED_PROXY_HOPS", "0")),
        "PAGE_SIZE": 50,
        # Notice channels: each is off until its server is configured (webapp/notices/).
        "SMS_GATEWAY_URL": os.environ.get("SMS_GATEWAY_URL", ""),
        "SMS_GATEWAY_KEY": os.environ.get("SMS_GATEWAY_KEY", ""),
        "SMS_GATEWAY_SENDER": os.environ.get("SMS_GATEWAY_SENDER", ""),
        "SMS_GATEWAY_TIMEOUT": float(os.environ.get("SMS_GATEWAY_TIMEOUT", "10")),
        "SMS_TEMPLATE": os.environ.get("SMS_TEMPLATE", DEFAULT_SMS_TEMPLATE),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": int(os.environ.get("MAIL_PORT") or 0),  # 0: 465 with MAIL_SSL, 587 with STARTTLS, else 25
        "MAIL_FROM": os.environ.get("MAIL_FROM", ""),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_STARTTLS": _flag("MAIL_STARTTLS"),
        "MAIL_SSL": _flag("MAIL_SSL"),
        "MAIL_TIMEOUT": float(os.environ.get("MAIL_TIMEOUT", "15")),
        # Register import (webapp/imports): upload size, rows per file, minutes a preview is kept.
        "IMPORT_MAX_BYTES": int(os.environ.get("IMPORT_MAX_BYTES", str(5 * 1024 * 1024))),
        "IMPORT_MAX_ROWS": int(os.environ.get("IMPORT_MAX_ROWS", "20000")),
        "IMPORT_DRAFT_MINUTES": int(os.environ.get("IMPORT_DRAFT_MINUTES", "120")),
        "IMPORT_PREVIEW_ERROR_ROWS": 300,  # rows with errors listed; "skip all rows with errors" covers the rest
        # A household not visited for this many days is listed on the worker's "today" screen.
        "VISIT_STALE_DAYS": int(os.environ.get("VISIT_STALE_DAYS", "90")),
    }
