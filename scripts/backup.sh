#!/usr/bin/env bash
# Back up NixFlow: the database (pg_dump, custom format) and the uploaded files (MEDIA_ROOT).
#
#   scripts/backup.sh [DIRECTORY]     # default: var/backups/<UTC time>
#
# Reads the database and MEDIA_ROOT as the application does (DATABASE_URL, or the embedded
# server), with a pg_dump of the server's own major version (scripts/pg_tools.py). Writes
#   database.dump   pg_dump --format=custom: one consistent snapshot, taken while the
#                   desk keeps running (it blocks no writer)
#   media.tar       MEDIA_ROOT, archived *after* the dump: every file a dumped row names
#                   is in it (files uploaded meanwhile are extra, and harmless)
#   MANIFEST        when, from which server, with which tools
#   SHA256SUMS      checked by scripts/restore.sh before it touches anything
# and checks that pg_restore can read the archive. docs/operations.md, "Backup and
# restore", has the whole procedure.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

eval "$("$PYTHON" scripts/pg_tools.py env)"
dest=${1:-var/backups/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

echo "== dumping $PGDATABASE (PostgreSQL $SERVER_MAJOR) with $PG_BIN/pg_dump"
"$PG_BIN/pg_dump" --format=custom --compress=6 --file="$dest/database.dump.partial"
mv "$dest/database.dump.partial" "$dest/database.dump"

if [ -n "${STORAGE_URL:-}" ]; then
    # Files are in the bucket, not under MEDIA_ROOT: version or replicate the bucket
    # after the dump (docs/storage.md, "Backups with object storage").
    echo "== files are in object storage (STORAGE_URL): not in this backup" >&2
fi
echo "== archiving $MEDIA_ROOT"
if [ -d "$MEDIA_ROOT" ]; then
    tar -C "$MEDIA_ROOT" -cf "$dest/media.tar" .
else
    tar -cf "$dest/media.tar" --files-from /dev/null
fi

"$PG_BIN/pg_restore" --list "$dest/database.dump" >/dev/null  # the archive reads back
{
    echo "created: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "database: $PGDATABASE"
    echo "server_major: $SERVER_MAJOR"
    echo "pg_dump: $("$PG_BIN/pg_dump" --version)"
    echo "media_root: $MEDIA_ROOT"
    echo "object_storage: $([ -n "${STORAGE_URL:-}" ] && echo "yes, files not in media.tar" || echo no)"
} >"$dest/MANIFEST"
(cd "$dest" && sha256sum database.dump media.tar MANIFEST >SHA256SUMS)
echo "$dest"
