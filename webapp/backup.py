"""Whole-database backups and restores (`flask backup PATH`, `flask restore PATH`).

What must hold:

* A backup is one consistent snapshot taken while the app goes on serving writes: SQLite's
  online backup API copies every page under one read transaction, ``pg_dump`` reads in one
  repeatable-read snapshot. A sync batch is one transaction, so a backup holds a batch
  whole or not at all, and the sync counter agrees with the change seqs it holds.
* A backup file appears only once it is complete (written beside PATH, then renamed), and an
  existing file is never overwritten.
* A restore never overwrites data unless asked (``overwrite``); it replaces the database in
  one step (SQLite: the backup API into the live file; PostgreSQL: ``pg_restore --clean
  --single-transaction``), so a failed restore leaves the old database as it was.
* PostgreSQL's client tools must be at least the server's version: we use the ones installed
  for the server's major version (Debian layout), else ``$PG_BIN_DIR``, else ``$PATH``.
"""
from __future__ import annotations

import glob
import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
# Rows every migrated database has; a database holding only these is empty.
BOOKKEEPING_TABLES = {"alembic_version", "sync_counter"}
DOORSTEP_TABLES = {"area", "user", "sync_record"}  # a SQLite file without these is not ours


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why and what to do."""


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backend_of(engine: sa.Engine) -> str:
    name = engine.dialect.name
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups of {name} databases are not supported")
    return name


def holds_data(engine: sa.Engine) -> bool:
    """True when any table other than the migration bookkeeping has a row."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for name in inspector.get_table_names():
            if name in BOOKKEEPING_TABLES:
                continue
            table = sa.table(name)
            if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is not None:
                return True
    return False


def counts(engine: sa.Engine) -> dict[str, int]:
    """A few row counts, to say what a restore brought back."""
    out = {}
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        for name in ("household", "person", "sync_record", "audit_entry"):
            if name in present:
                out[name] = conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
    return out


# -- SQLite ----------------------------------------------------------------------------------------

def _sqlite_path(engine: sa.Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _sqlite_connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _sqlite_backup(engine: sa.Engine, target: Path) -> None:
    source = _sqlite_connect(_sqlite_path(engine))
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # all pages in one step: one read transaction, one snapshot
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            if copy.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupError("the copy failed its integrity check; nothing was kept")
        finally:
            copy.close()
    finally:
        source.close()


def _check_sqlite_file(path: Path) -> None:
    conn = _sqlite_connect(path, readonly=True)
    try:
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise BackupError(f"{path} is damaged (integrity check failed); nothing was restored")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    if not DOORSTEP_TABLES <= tables:
        raise BackupError(f"{path} is a SQLite file but not a Doorstep backup; nothing was restored")


def _sqlite_restore(engine: sa.Engine, path: Path) -> None:
    engine.dispose()
    source = _sqlite_connect(path, readonly=True)
    try:
        live = _sqlite_connect(_sqlite_path(engine))
        try:
            # Writes every page of the live file under its write lock; readers see old or new, whole.
            source.backup(live)
            live.execute("PRAGMA journal_mode=WAL")
        finally:
            live.close()
    finally:
        source.close()


# -- PostgreSQL ------------------------------------------------------------------------------------

def pg_tool(engine: sa.Engine, name: str) -> str:
    """The path of ``pg_dump``/``pg_restore`` for the server's major version."""
    with engine.connect() as conn:
        major = int(conn.exec_driver_sql("SHOW server_version_num").scalar()) // 10000
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin/{name}")]
    if os.environ.get("PG_BIN_DIR"):
        candidates.insert(0, Path(os.environ["PG_BIN_DIR"]) / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    newer = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if newer and int(Path(newer[-1]).parent.parent.name) >= major:
        return newer[-1]  # a newer client reads and writes an older server's dumps
    found = shutil.which(name)
    if found:
        return found
    raise BackupError(f"{name} for PostgreSQL {major} not found: install postgresql-client-{major} "
                      "or set PG_BIN_DIR to the folder holding it")


def _libpq(engine: sa.Engine) -> tuple[str, dict]:
    """A libpq connection URI without the password, and the environment carrying it."""
    url = engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict, what: str) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"{what} failed: {proc.stderr.strip()[-2000:]}")


def _pg_backup(engine: sa.Engine, target: Path) -> None:
    uri, env = _libpq(engine)
    _run([pg_tool(engine, "pg_dump"), "--format=custom", "--no-owner", f"--file={target}", f"--dbname={uri}"],
         env, "pg_dump")


def _pg_restore(engine: sa.Engine, path: Path) -> None:
    uri, env = _libpq(engine)
    tool = pg_tool(engine, "pg_restore")
    _run([tool, "--list", str(path)], env, f"reading {path}")
    engine.dispose()
    _run([tool, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          "--exit-on-error", f"--dbname={uri}", str(path)], env, "pg_restore")


# -- the two commands ------------------------------------------------------------------------------

def backup(engine: sa.Engine, path: Path) -> dict:
    """Write a backup of the whole database to ``path`` (a new file); returns what was written."""
    backend = backend_of(engine)
    path = Path(path)
    if path.exists():
        raise BackupError(f"{path} already exists; choose a new file name (backups are never overwritten)")
    if not path.parent.is_dir():
        raise BackupError(f"the folder {path.parent} does not exist")
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        (_sqlite_backup if backend == "sqlite" else _pg_backup)(engine, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return {"backend": backend, "file": str(path.resolve()), "bytes": path.stat().st_size,
            "sha256": file_digest(path)}


def restore(engine: sa.Engine, path: Path, *, overwrite: bool) -> dict:
    """Replace the database with the backup at ``path``; refuses a database holding data
    unless ``overwrite``. Returns what was done."""
    backend = backend_of(engine)
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    with open(path, "rb") as f:
        head = f.read(16)
    expected = SQLITE_MAGIC if backend == "sqlite" else PGDUMP_MAGIC
    if not head.startswith(expected):
        kind = "SQLite" if backend == "sqlite" else "PostgreSQL (pg_dump -Fc)"
        raise BackupError(f"{path} is not a {kind} backup; a backup restores into the kind of database it came from")
    if backend == "sqlite":
        _check_sqlite_file(path)
    had_data = holds_data(engine)
    if had_data and not overwrite:
        raise BackupError("the database already holds data; nothing was restored. "
                          "Run again with --yes to replace it with the backup")
    (_sqlite_restore if backend == "sqlite" else _pg_restore)(engine, path)
    return {"backend": backend, "file": str(path.resolve()), "sha256": file_digest(path),
            "replaced_data": had_data, "counts": counts(engine)}
