"""The nightly backup (docs/deploy/backup.sh, run by doorstep-backup.timer) restores to the same register.

SQLite: the online backup API, taken while a writer holds the database in WAL mode. PostgreSQL:
pg_dump, restored with pg_restore into an empty database as docs/DEPLOY.md says.
"""
from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import make_family, make_town
from webapp.extensions import db
from webapp.models import Area, Household, Person

ROOT = Path(__file__).resolve().parent.parent
BACKUP = ROOT / "docs" / "deploy" / "backup.sh"


def _backup(database_url: str, backup_dir: Path) -> Path:
    env = {**os.environ, "DATABASE_URL": database_url, "BACKUP_DIR": str(backup_dir), "BACKUP_KEEP_DAYS": "30"}
    done = subprocess.run([str(BACKUP)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    made = Path(done.stdout.strip().splitlines()[-1])
    assert made.parent == backup_dir and made.exists()
    assert stat.S_IMODE(made.stat().st_mode) == 0o600  # health data
    assert not list(backup_dir.glob("*.part"))
    return made


def test_a_sqlite_backup_taken_while_the_app_writes_holds_every_committed_row(tmp_path):
    live = tmp_path / "doorstep.sqlite"
    writer = sqlite3.connect(live)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT)")
    writer.executemany("INSERT INTO person (name) VALUES (?)", [(f"人{n}",) for n in range(500)])
    writer.commit()
    writer.execute("INSERT INTO person (name) VALUES ('未提交')")  # a transaction still open
    made = _backup(f"sqlite:///{live}", tmp_path / "backups")
    writer.rollback()
    writer.close()
    copy = sqlite3.connect(made)
    assert copy.execute("SELECT count(*), min(name) FROM person").fetchone() == (500, "人0")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.postgres_only
def test_a_postgresql_backup_restores_into_an_empty_database(app, _schema, fresh_database_url, tmp_path):
    with app.app_context():
        town = make_town("T01", villages=2)
        for village in town.children:
            make_family(village.children[0], size=3)
        expected = {model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
                    for model in (Area, Household, Person)}
    made = _backup(_schema.replace("postgresql+psycopg://", "postgresql://"), tmp_path / "backups")
    target = fresh_database_url.replace("postgresql+psycopg://", "postgresql://")
    restored = subprocess.run(["pg_restore", "--no-owner", "-d", target, str(made)], capture_output=True,
                              text=True, timeout=120)
    assert restored.returncode == 0, restored.stderr
    engine = sa.create_engine(fresh_database_url)
    try:
        with engine.connect() as conn:
            got = {name: conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar() for name in expected}
            names = conn.execute(sa.text("SELECT count(DISTINCT name) FROM person")).scalar()
    finally:
        engine.dispose()
    assert got == expected and expected["person"] == 6 and names >= 1
