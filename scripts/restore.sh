#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into a NEW database, then verify it.
#
#   scripts/restore.sh BACKUP_DIRECTORY [DATABASE_NAME]
#
# DATABASE_NAME defaults to the configured database's name; it must not exist yet, or be
# empty (a restore never lands on live data). The server is the configured one
# (DATABASE_URL, or the embedded server). Steps, each stopping the script on failure:
#   1. the checksums of the backup;
#   2. pg_restore of the whole archive in one transaction (all or nothing), owners and
#      grants left to the restoring user. A custom-format restore loads each table's rows
#      before it creates the table's triggers, so the event log's append-only and
#      stamping triggers do not fire on the restored rows: their recorded_at and row hash
#      stay those that were sealed;
#   3. media.tar into MEDIA_ROOT (files already there are kept);
#   4. `manage.py check` (the schema matches this code) and `manage.py verify_eventlog`
#      (every event and seal as it was) on the restored database.
# Then point DATABASE_URL at it (the script prints it) and start the processes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

src=${1:?usage: scripts/restore.sh BACKUP_DIRECTORY [DATABASE_NAME]}
src=$(cd "$src" && pwd)
eval "$("$PYTHON" scripts/pg_tools.py env)"
target=${2:-$PGDATABASE}

echo "== checking $src"
(cd "$src" && sha256sum --check --quiet SHA256SUMS)

echo "== creating database $target"
"$PYTHON" scripts/pg_tools.py create-empty "$target"

echo "== restoring with $PG_BIN/pg_restore"
"$PG_BIN/pg_restore" --exit-on-error --single-transaction --no-owner --no-acl \
    --dbname="$target" "$src/database.dump"

echo "== restoring media into $MEDIA_ROOT"
mkdir -p "$MEDIA_ROOT"
tar -C "$MEDIA_ROOT" --skip-old-files -xf "$src/media.tar"

url="$TARGET_URL_PREFIX$target${TARGET_URL_SUFFIX:-}"
echo "== verifying"
DATABASE_URL="$url" "$PYTHON" manage.py check
DATABASE_URL="$url" "$PYTHON" manage.py verify_eventlog
echo "Restored. Run the desk on it with DATABASE_URL=$url"
