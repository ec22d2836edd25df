"""Test fixtures, in the layout of Flask's flaskr tutorial.

Backends: SQLite by default; ``DOORSTEP_TEST_DB=postgres`` runs the same suite on a
throwaway PostgreSQL cluster started for the session (tests/pgcluster.py), or on
``DOORSTEP_TEST_DATABASE_URL`` when that is set. The schema is made once per session with
``db.create_all()``; every test starts from empty tables.

- ``app`` / ``make_app(**config)``: a fresh app per test on the session's database.
- ``client``, ``runner``: its test client and CLI runner. The client runs every request in
  its own app context, so a test may hold ``db_session`` open and still make requests
  without sharing ``g`` (the logged-in user, scope caches) with them.
- ``fresh_database_url``: an empty database of its own (for migration tests).
- ``db_session``: an app context pushed for the whole test; yields ``db.session``.
- ``live_server``, ``browser``, ``page``: a real HTTP server and Debian's Chromium for
  end-to-end tests (tests using them are marked ``browser`` automatically). Seed the
  server's database with ``with live_server.app_context(): make_town(...)``.

Factories are in tests/factories.py, login helpers in tests/helpers.py. ``tests`` is a
package: a sub-folder of tests needs its own ``__init__.py``.
"""
from __future__ import annotations

import os
import re
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.pgcluster import PgCluster

ROOT = Path(__file__).resolve().parent.parent
BACKEND = os.environ.get("DOORSTEP_TEST_DB", "sqlite").strip().lower() or "sqlite"
CHROMIUM = os.environ.get("DOORSTEP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BROWSER_FIXTURES = {"browser", "page", "live_server"}
SCREENSHOTS = ROOT / "screenshots"

# Never let anything fetch browsers; never write instance/secret_key from a test run.
os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
os.environ.setdefault("SECRET_KEY", "test")

try:
    from hypothesis import settings as _hypothesis_settings

    # Database-backed examples have no stable timing; keep deadlines out of the way.
    _hypothesis_settings.register_profile("doorstep", deadline=None, print_blob=True)
    # `HYPOTHESIS_PROFILE=long` is the bench-style long run (2,000 examples per property).
    _hypothesis_settings.register_profile("long", deadline=None, print_blob=True, max_examples=2000)
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "doorstep"))
except ImportError:  # pragma: no cover
    pass


# -- pytest hooks ---------------------------------------------------------------------------

def pytest_report_header(config):
    return f"doorstep test database: {BACKEND}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if BACKEND not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"DOORSTEP_TEST_DB must be sqlite or postgres, not {BACKEND!r}")
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)
            # Chromium stories are intermittently slow on a loaded 2-core machine (service worker
            # swaps, background refreshes); a story must pass in one of three whole runs.
            # DOORSTEP_BROWSER_RERUNS=0 shows every first failure (hunting flakiness).
            reruns = int(os.environ.get("DOORSTEP_BROWSER_RERUNS", "2"))
            if reruns:
                item.add_marker(pytest.mark.flaky(reruns=reruns))
            item.add_marker(pytest.mark.timeout(180))
        if item.get_closest_marker("postgres_only") and BACKEND != "postgres":
            item.add_marker(pytest.mark.skip(reason="PostgreSQL only: runs under DOORSTEP_TEST_DB=postgres"))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can tell a failed test at teardown."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# -- database -------------------------------------------------------------------------------

def base_config(database_url: str) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": True,
        "SECRET_KEY": "test",
        "SERVER_NAME": None,
    }


def empty_tables(app: Flask) -> None:
    """Remove every row from every table the models define, fast, whatever the FK graph.

    households.head_id → person and person.household_id → household form a cycle, so no
    delete order satisfies both: PostgreSQL truncates all tables in one statement, SQLite
    deletes with foreign-key checks switched off for that one connection."""
    from webapp.audit_lock import create_triggers, drop_triggers
    from webapp.extensions import db

    with app.app_context():
        db.session.remove()
        engine = db.engine
        tables = db.metadata.sorted_tables
        if not tables:
            return
        if engine.dialect.name == "postgresql":
            quote = engine.dialect.identifier_preparer.quote
            with engine.begin() as conn:
                # A connection left inside a transaction would block TRUNCATE forever: fail instead.
                conn.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
                drop_triggers(conn)  # the audit table refuses TRUNCATE otherwise (webapp/audit_lock.py)
                conn.exec_driver_sql(
                    f"TRUNCATE {', '.join(quote(t.name) for t in tables)} RESTART IDENTITY CASCADE"
                )
                create_triggers(conn)
        else:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
                try:
                    drop_triggers(conn)  # the audit table refuses DELETE otherwise
                    for table in reversed(tables):
                        conn.execute(table.delete())
                    create_triggers(conn)
                    conn.commit()
                finally:
                    conn.rollback()
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()


def dispose(app: Flask) -> None:
    from webapp.extensions import db

    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def create_schema(app: Flask) -> None:
    from webapp.extensions import db

    with app.app_context():
        db.create_all()
    dispose(app)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """The session's database: a SQLite file, or a throwaway PostgreSQL cluster."""
    if BACKEND == "postgres":
        external = os.environ.get("DOORSTEP_TEST_DATABASE_URL")
        if external:
            yield external
            return
        with PgCluster("doorstep_test") as cluster:
            yield cluster.url
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'doorstep_test.sqlite'}"


@pytest.fixture(scope="session")
def _schema(database_url):
    from webapp import create_app

    create_schema(create_app(base_config(database_url)))
    return database_url


@pytest.fixture
def fresh_database_url(database_url, tmp_path):
    """A brand-new database with no tables, on the session's backend, dropped afterwards:
    for tests that build the schema themselves (migrations). Use it with
    ``make_app(SQLALCHEMY_DATABASE_URI=fresh_database_url)``."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        return
    name = f"doorstep_fresh_{uuid.uuid4().hex[:12]}"
    server = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with server.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


class IsolatedClient(FlaskClient):
    """Run each request in an app context of its own.

    Flask 3.1 reuses an already pushed app context for a request, which would share ``g``
    (Flask-Login's cached user, scope caches) and the SQLAlchemy session between the test
    body and every request, and between two clients of one test."""

    def open(self, *args, **kwargs):
        if self.preserve_context:
            return super().open(*args, **kwargs)
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def make_app(_schema):
    """``make_app(**config)``: an app on the test database with extra config; tables start empty."""
    from webapp import create_app

    made: list[Flask] = []
    emptied: set[str] = set()

    def factory(**overrides) -> Flask:
        app = create_app({**base_config(_schema), **overrides})
        app.test_client_class = IsolatedClient
        if app.config["SQLALCHEMY_DATABASE_URI"] == _schema and _schema not in emptied:
            empty_tables(app)
            emptied.add(_schema)
        made.append(app)
        return app

    yield factory
    for app in made:
        dispose(app)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db_session(app):
    """``db.session`` inside an app context that lasts the whole test."""
    from webapp.extensions import db

    with app.app_context():
        yield db.session
        db.session.remove()


# -- live server and browser -----------------------------------------------------------------

class LiveServer:
    """The app served over real HTTP by werkzeug in a thread, on a SQLite file of its own."""

    def __init__(self, app: Flask):
        from werkzeug.serving import make_server

        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)
        self._thread.start()

    def app_context(self):
        """Seed or inspect the server's database: ``with live_server.app_context(): ...``."""
        return self.app.app_context()

    def reset(self) -> None:
        empty_tables(self.app)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        dispose(self.app)

    def __str__(self) -> str:
        return self.url


@pytest.fixture(scope="session")
def _live_server(tmp_path_factory):
    from webapp import create_app

    path = tmp_path_factory.mktemp("live") / "doorstep_live.sqlite"
    app = create_app(base_config(f"sqlite:///{path}"))
    create_schema(app)
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def live_server(_live_server):
    """The session's live server, with its tables emptied for this test."""
    _live_server.reset()
    yield _live_server
    with _live_server.app_context():
        from webapp.extensions import db

        db.session.remove()


@pytest.fixture
def village(live_server):
    """The browser stories' village on the live server (tests/factories.make_story_village)."""
    from tests.factories import make_story_village

    with live_server.app_context():
        return make_story_village()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright. Missing Chromium is a failure, not a skip."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. Browser tests need Debian's chromium package "
            "(apt-get install -y chromium fonts-noto-cjk; `make test` installs it). "
            "Playwright's own browser downloads are not used.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A phone-sized page (360×640, zh-CN, touch); a screenshot is kept when the test fails."""
    context = browser.new_context(
        viewport={"width": 360, "height": 640},
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
        try:
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        except Exception:  # a failed screenshot must not hide the test's own failure
            pass
    context.close()
