"""A throwaway PostgreSQL cluster for tests and bench scripts.

The server refuses to run as root, so when we are root the cluster is made and run
as the ``postgres`` user. Everything lives in one temporary directory (data, unix
socket, log) that is removed on ``stop()``, and also at interpreter exit should a
caller forget. Nothing listens on TCP: clients connect through the socket in that
directory, so parallel runs never fight over a port.

    with PgCluster() as pg:
        engine = sqlalchemy.create_engine(pg.url)

From a shell (bench scripts): ``python -m tests.pgcluster -- some command`` runs the
command with ``DATABASE_URL`` pointing at a fresh cluster and removes it afterwards.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SERVER_USER = "postgres"


class PgClusterError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """Newest installed server's bin dir (Debian layout), or $PG_BIN_DIR when set."""
    if os.environ.get("PG_BIN_DIR"):
        return Path(os.environ["PG_BIN_DIR"])
    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if not candidates:
        found = shutil.which("initdb")
        if found:
            return Path(found).parent
        raise PgClusterError(
            "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb); "
            "install them with: apt-get install -y postgresql"
        )

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in p.parent.name.split(".") if x.isdigit())

    return max(candidates, key=version)


def _free_port() -> int:
    # Only names the socket file (.s.PGSQL.<port>); still pick one nobody uses on TCP,
    # so the URL also works should someone turn TCP on.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _interrupt_on_sigterm() -> None:
    """A CI time-out sends SIGTERM, which would skip atexit and leave a server running:
    turn it into KeyboardInterrupt (pytest then tears fixtures down), unless someone else
    already handles SIGTERM."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):
        signal.signal(signal.SIGTERM, _raise_interrupt)


class PgCluster:
    def __init__(self, dbname: str = "doorstep_test", *, bin_dir: Path | None = None,
                 port: int | None = None, durable: bool = False):
        self.dbname = dbname
        self.bin_dir = Path(bin_dir) if bin_dir else None
        self.port = port
        self.durable = durable  # fsync off unless asked: a test cluster never survives a crash anyway
        self.base: Path | None = None
        self._started = False

    # -- paths -----------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    @property
    def log_file(self) -> Path:
        return self.base / "postgres.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3) over the unix socket."""
        return f"postgresql+psycopg://{SERVER_USER}@/{self.dbname}?host={self.socket_dir}&port={self.port}"

    @property
    def libpq_kwargs(self) -> dict:
        return {"host": str(self.socket_dir), "port": self.port, "user": SERVER_USER}

    # -- life cycle ------------------------------------------------------------
    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.base)
        if proc.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-4000:] if self.log_file.exists() else ""
            raise PgClusterError(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}"
            )
        return proc

    def start(self) -> PgCluster:
        if self._started:
            return self
        self.bin_dir = self.bin_dir or find_bin_dir()
        self.port = self.port or _free_port()
        self.base = Path(tempfile.mkdtemp(prefix="doorstep-pg-"))
        atexit.register(self.stop)
        _interrupt_on_sigterm()
        try:
            self.socket_dir.mkdir()
            if os.geteuid() == 0:
                pw = pwd.getpwnam(SERVER_USER)
                for path in (self.base, self.socket_dir):
                    os.chown(path, pw.pw_uid, pw.pw_gid)
            self._run(self.bin_dir / "initdb", "-D", self.data_dir, "-U", SERVER_USER,
                      "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
            options = [
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                "-c listen_addresses=''",
                "-c max_connections=200",
            ]
            if not self.durable:
                options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            self._run(self.bin_dir / "pg_ctl", "-D", self.data_dir, "-l", self.log_file,
                      "-o", " ".join(options), "-w", "-t", "60", "start")
            self._started = True
            self.create_database(self.dbname)
        except BaseException:
            self.stop()
            raise
        return self

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(dbname="postgres", autocommit=True, **self.libpq_kwargs) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        """Stop the server and remove every file; safe to call twice."""
        if self.base is None:
            return
        try:
            if self._started and (self.data_dir / "postmaster.pid").exists():
                try:
                    self._run(self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "stop")
                except PgClusterError:
                    pass
        finally:
            self._started = False
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
            atexit.unregister(self.stop)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    """``python -m tests.pgcluster [--db NAME] -- CMD ...``: run CMD against a fresh cluster."""
    dbname = "doorstep"
    if argv[:1] == ["--db"]:
        dbname, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    with PgCluster(dbname) as pg:
        if not argv:
            print(pg.url)
            print("cluster is up; press Enter to stop it", file=sys.stderr)
            try:
                input()
            except (EOFError, KeyboardInterrupt):
                pass
            return 0
        env = dict(os.environ, DATABASE_URL=pg.url)
        return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
