"""A county set-up on loopback: gunicorn app servers and nginx in front, from the example
configuration in docs/deploy/ (the same files a real install copies). Used by
tests/test_scaleout.py and bench/scaleout.py.

nginx runs as root (as the Debian service does) with a private prefix: its configuration, pid,
logs and temporary files all live in one directory of ours, on a free port; the site file is
docs/deploy/nginx/doorstep.conf.template rendered the way envsubst would.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "docs" / "deploy" / "gunicorn.conf.py"
NGINX_TEMPLATE = ROOT / "docs" / "deploy" / "nginx" / "doorstep.conf.template"
NGINX_MAIN = """\
user root;
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path {base}/tmp/body;
    proxy_temp_path {base}/tmp/proxy;
    fastcgi_temp_path {base}/tmp/fastcgi;
    uwsgi_temp_path {base}/tmp/uwsgi;
    scgi_temp_path {base}/tmp/scgi;
    include {base}/doorstep.conf;
}}
"""


class LoopbackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes | dict | None = None,
            headers: dict | None = None, timeout: float = 60.0) -> tuple[int, dict, bytes]:
    """One HTTP request on a fresh connection: (status, headers with lower-case names, body).
    Connection errors raise OSError (http.client.HTTPException is one)."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def wait_until_answering(port: int, path: str, proc: subprocess.Popen | None, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LoopbackError(f"process exited ({proc.returncode}):\n{tail(log)}")
        try:
            if request(port, "GET", path, timeout=10)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise LoopbackError(f"nothing answered on port {port} within {timeout:.0f} s:\n{tail(log)}")


def tail(path: Path, size: int = 4000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else "(no log)"


def _end(proc: subprocess.Popen, sig: int, timeout: float) -> None:
    """Signal our own process; if it outlives ``timeout``, kill the process group it leads."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


class AppServer:
    """``gunicorn -c docs/deploy/gunicorn.conf.py wsgi:app`` on 127.0.0.1:port."""

    def __init__(self, port: int, env: dict, log: Path, workers: int = 2):
        self.port, self.env, self.log, self.workers = port, env, log, workers
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> AppServer:
        self.launch()
        return self.ready(timeout)

    def launch(self) -> None:
        env = {**os.environ, **self.env, "BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(self.workers),
               "GUNICORN_ACCESS_LOG": "", "PYTHONPATH": str(ROOT)}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "wsgi:app"],
                                         cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def ready(self, timeout: float = 90.0) -> AppServer:
        wait_until_answering(self.port, "/login", self.proc, timeout, self.log)
        return self

    def stop(self, quick: bool = False) -> None:
        """SIGTERM, as ``systemctl stop``: requests in flight finish, then it exits.
        ``quick``: SIGQUIT, gunicorn's immediate shutdown (for clearing up after a test)."""
        if self.proc is not None:
            _end(self.proc, signal.SIGQUIT if quick else signal.SIGTERM, 60)


def stop_together(servers: list[AppServer]) -> None:
    """Quick shutdown of several app servers at once (a gunicorn master takes seconds to go)."""
    for server in servers:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGQUIT)
    for server in servers:
        if server.proc is not None:
            _end(server.proc, signal.SIGQUIT, 60)


class Nginx:
    """nginx from docs/deploy/nginx/doorstep.conf.template, balancing over ``upstream_ports``."""

    def __init__(self, base: Path, upstream_ports: list[int], port: int | None = None):
        self.base, self.upstream_ports = base, upstream_ports
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"

    def site(self) -> str:
        """The site file as `envsubst` makes it from the template (only ${DOORSTEP_…} is ours)."""
        values = {
            "DOORSTEP_UPSTREAMS": " ".join(f"server 127.0.0.1:{p};" for p in self.upstream_ports),
            "DOORSTEP_LISTEN": f"127.0.0.1:{self.port}",
            "DOORSTEP_SERVER_NAME": "localhost",
            "DOORSTEP_STATIC": str(ROOT / "static"),
            "DOORSTEP_ACCESS_LOG": str(self.base / "access.log"),
        }
        text = string.Template(NGINX_TEMPLATE.read_text()).safe_substitute(values)
        if re.search(r"\$\{DOORSTEP_[A-Z_]+\}", text):
            raise LoopbackError("the nginx template has a placeholder this harness does not fill")
        return text

    def start(self, timeout: float = 30.0) -> Nginx:
        if not Path(self.binary).exists():
            raise LoopbackError("nginx is not installed (apt-get install nginx; the Makefile's test packages)")
        (self.base / "tmp").mkdir(parents=True, exist_ok=True)
        (self.base / "doorstep.conf").write_text(self.site())
        conf = self.base / "nginx.conf"
        conf.write_text(NGINX_MAIN.format(base=self.base))
        log = self.base / "error.log"
        check = subprocess.run([self.binary, "-t", "-p", str(self.base), "-e", str(log), "-c", str(conf)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise LoopbackError(f"nginx -t refused the configuration:\n{check.stderr}")
        self.proc = subprocess.Popen([self.binary, "-p", str(self.base), "-e", str(log), "-c", str(conf),
                                      "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_until_answering(self.port, "/static/manifest.webmanifest", self.proc, timeout, log)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _end(self.proc, signal.SIGTERM, 30)


class Device:
    """A phone's outbox against the balancer: a batch is resent, unchanged, until a 200 answer
    acknowledges it (any connection error or 5xx counts as "no answer", as on a phone)."""

    def __init__(self, port: int, username: str, password: str = "pw"):
        self.port, self.username, self.password = port, username, password
        self.headers: dict[str, str] = {}
        self.device_id: str | None = None
        self.retries = 0
        self.failures: list[str] = []

    def _send(self, path: str, body: dict, deadline: float) -> dict:
        pause = 0.1
        while True:
            try:
                status, _, raw = self.request_json(path, body)
                if status == 200:
                    return json.loads(raw)
                problem = f"{status} {raw[:200]!r}"
                if status < 500:
                    raise LoopbackError(f"{self.username}: {path} answered {problem}")
            except OSError as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            self.retries += 1
            self.failures.append(problem)
            if time.monotonic() > deadline:
                raise LoopbackError(f"{self.username}: {path} got no answer: {self.failures[-5:]}")
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def request_json(self, path: str, body: dict) -> tuple[int, dict, bytes]:
        return request(self.port, "POST", path, body, self.headers)

    def login(self, timeout: float = 60.0) -> Device:
        answer = self._send("/api/login", {"username": self.username, "password": self.password,
                                           "device_name": f"{self.username}-phone"}, time.monotonic() + timeout)
        self.headers = {"Authorization": f"Bearer {answer['token']}"}
        self.device_id = answer["device_id"]
        return self

    def sync(self, records: list[dict], cursor: str | None = None, timeout: float = 90.0) -> dict:
        return self._send("/api/sync", {"device_id": self.device_id, "cursor": cursor, "records": records},
                          time.monotonic() + timeout)

    def pull_all(self) -> list[dict]:
        """Every change in scope from the start, page after page."""
        changes, cursor = [], None
        while True:
            answer = self.sync([], cursor)
            changes += answer["changes"]
            cursor = answer["cursor"]
            if not answer["more"]:
                return changes


def household_records(group_id: str, tag: str, count: int, client_time: str) -> list[dict]:
    """``count`` new households, each with its head: what a worker records door to door."""
    import uuid

    records = []
    for n in range(count):
        hid, pid = str(uuid.uuid4()), str(uuid.uuid4())
        records.append({"id": str(uuid.uuid4()), "type": "household", "entity_id": hid, "base_version": 0,
                        "client_time": client_time,
                        "data": {"group_id": group_id, "number": f"{tag}-{n}", "address": f"新村 {tag}-{n} 号"}})
        records.append({"id": str(uuid.uuid4()), "type": "person", "entity_id": pid, "base_version": 0,
                        "client_time": client_time,
                        "data": {"household_id": hid, "name": "陈秀英", "sex": "F", "birth_date": "1988-03-02",
                                 "id_number": None, "phone": "13912345678", "relation": "户主",
                                 "status": "resident", "away_place": "", "away_contact": "", "enrolled": False}})
    return records
