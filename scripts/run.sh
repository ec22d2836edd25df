#!/usr/bin/env bash
# Serve Doorstep: migrate, load the demo town into an empty database, start the scheduler
# in the background and gunicorn on 127.0.0.1:8000; stopping gunicorn (Ctrl-C) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
flask() { "$BIN/flask" --app wsgi "$@"; }

flask db upgrade
flask demo --if-empty

scheduler_pid=""
gunicorn_pid=""

stop_all() {
  trap - INT TERM
  for pid in $gunicorn_pid $scheduler_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
}
trap stop_all INT TERM
trap 'stop_all; wait 2>/dev/null || true' EXIT

"$BIN/flask" --app wsgi scheduler &  # not via the function: $! must be the process itself
scheduler_pid=$!
echo "Scheduler started (pid $scheduler_pid)."

# The deployment's own gunicorn settings (BIND, WEB_CONCURRENCY, GUNICORN_TIMEOUT from the environment).
"$BIN/gunicorn" -c docs/deploy/gunicorn.conf.py wsgi:app &
gunicorn_pid=$!

# `wait` returns early when a trapped signal arrives; keep waiting until gunicorn is gone.
status=0
while kill -0 "$gunicorn_pid" 2>/dev/null; do
  wait "$gunicorn_pid" && status=0 || status=$?
done
exit "$status"
