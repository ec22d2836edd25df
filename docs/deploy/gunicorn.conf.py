"""Gunicorn settings for a Doorstep app server: ``gunicorn -c docs/deploy/gunicorn.conf.py wsgi:app``.

Used as-is by ``make run``, the systemd unit and the scale-out test (tests/test_scaleout.py).
Every value can be changed from the environment, so one file serves every machine.

* Sync workers, no threads. A sync request is short CPU work plus a database transaction;
  threaded workers with keep-alive held up worse here under many phones syncing at once
  (one slow client ties a thread and the GIL is shared). nginx in front buffers slow phones,
  so a sync worker is never stuck writing to a bad mobile connection.
* WEB_CONCURRENCY workers, default 2. Gunicorn's rule of thumb is 2 per CPU core + 1; each
  worker holds its own database connections, so mind PostgreSQL's max_connections across servers.
* The access log names method, path and status, never the query string: a register search
  (``?q=…``) carries a person's name, and logs never carry personal data.
"""
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
worker_class = "sync"
threads = 1
# A town-sized register import is one request of about 20 s (README, "Register import").
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# `systemctl stop` / SIGTERM: requests in flight finish, then the worker exits.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 2
# Recycle workers now and then so a slow leak never grows; jitter keeps them from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
# Heartbeat files in memory: a busy disk must not make the master think a worker hung.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Gunicorn itself trusts X-Forwarded-Proto only from these addresses; the app's own rule is
# PROXY_HOPS (werkzeug ProxyFix). Keep both to where nginx runs.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
proc_name = "doorstep-web"
# No runtime control socket (gunicornc): its default path ($HOME/.gunicorn/gunicorn.ctl) is shared by
# every gunicorn of one user and is read-only under the systemd unit; systemctl does that job.
control_socket_disable = True
