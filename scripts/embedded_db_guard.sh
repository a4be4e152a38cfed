# Sourced by run.sh and test.sh. With no DATABASE_URL, start the embedded PostgreSQL
# (nixflow/platform/embedded_db.py) and stop it again on exit -- unless it was already running
# when we came, in which case it belongs to someone else (another `make run`).
if [ -z "${DATABASE_URL:-}" ]; then
    if "${VENV:-.venv}/bin/python" -m nixflow.platform.embedded_db status >/dev/null; then
        NIXFLOW_STOP_DB=no
    else
        NIXFLOW_STOP_DB=yes
        "${VENV:-.venv}/bin/python" -m nixflow.platform.embedded_db start
    fi
else
    NIXFLOW_STOP_DB=no
fi

stop_embedded_db() {
    if [ "$NIXFLOW_STOP_DB" = yes ]; then
        "${VENV:-.venv}/bin/python" -m nixflow.platform.embedded_db stop || true
    fi
}
