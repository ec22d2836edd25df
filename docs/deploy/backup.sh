#!/usr/bin/env bash
# One consistent backup of the Doorstep database, safe while the app runs.
#   DATABASE_URL   as for the app (empty: the SQLite file in instance/)
#   BACKUP_DIR     where backups go (default: instance/backups)
#   BACKUP_KEEP_DAYS  backups older than this are removed (default 30; 0 keeps all)
# SQLite: the online backup API (a consistent copy even mid-write). PostgreSQL: pg_dump in its
# custom format (restore with pg_restore; docs/DEPLOY.md, "Restore").
set -euo pipefail
cd "$(dirname "$0")/../.."

dir="${BACKUP_DIR:-instance/backups}"
keep="${BACKUP_KEEP_DAYS:-30}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$dir"
umask 077  # health data: backups readable by their owner only
url="${DATABASE_URL:-}"

case "$url" in
  postgres://*|postgresql://*|postgresql+psycopg://*)
    out="$dir/doorstep-$stamp.dump"
    pg_dump --format=custom --no-owner --file="$out.part" "${url/postgresql+psycopg:/postgresql:}"
    ;;
  ""|sqlite:///*)
    db="${url#sqlite:///}"
    db="${db:-instance/doorstep.sqlite}"
    out="$dir/doorstep-$stamp.sqlite"
    .venv/bin/python - "$db" "$out.part" <<'PY'
import sqlite3, sys
source, target = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)
target.close()
source.close()
PY
    ;;
  *)
    echo "backup.sh: unsupported DATABASE_URL scheme" >&2
    exit 2
    ;;
esac
mv "$out.part" "$out"
echo "$out"
if [ "$keep" -gt 0 ]; then
  find "$dir" -maxdepth 1 -name 'doorstep-*' -type f -mtime +"$keep" -delete
fi
