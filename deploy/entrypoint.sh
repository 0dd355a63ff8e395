#!/bin/sh
# The image's entrypoint (also usable as is on a host): wait for the database, then
#   web     migrate (COMPTOIR_MIGRATE_ON_START=1, the default), collect the static files, serve
#   worker  wait until the web has migrated, then run the background tasks and the scheduler
#   any other command: `comptoir <arguments>` (createuser, backup, ...)
# Variables: COMPTOIR_HOST (0.0.0.0), PORT (8000), WEB_CONCURRENCY (web processes, 2),
# COMPTOIR_DB_WAIT_SECONDS (60), COMPTOIR_MIGRATE_ON_START (1).
set -eu

COMPTOIR="${COMPTOIR_BIN:-comptoir}"
role="${1:-web}"

wait_for_database() {
    deadline=$(( $(date +%s) + ${COMPTOIR_DB_WAIT_SECONDS:-60} ))
    # `check --database` opens a connection: it fails until the server accepts one.
    until $COMPTOIR check --database default >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "entrypoint: the database did not answer; the last error:" >&2
            $COMPTOIR check --database default >&2 || true
            exit 1
        fi
        sleep 1
    done
}

case "$role" in
web)
    wait_for_database
    if [ "${COMPTOIR_MIGRATE_ON_START:-1}" = "1" ]; then
        $COMPTOIR migrate --noinput
    fi
    $COMPTOIR collectstatic --noinput -v0
    exec $COMPTOIR serve --host "${COMPTOIR_HOST:-0.0.0.0}" --port "${PORT:-8000}" \
        --workers "${WEB_CONCURRENCY:-2}" --log-level "${COMPTOIR_ACCESS_LOG:-warning}"
    ;;
worker)
    wait_for_database
    deadline=$(( $(date +%s) + ${COMPTOIR_DB_WAIT_SECONDS:-60} * 5 ))
    # The web container migrates; a worker on the old schema would fail its tasks.
    until $COMPTOIR migrate --check >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "entrypoint: migrations are still not applied (is the web running?)" >&2
            exit 1
        fi
        sleep 2
    done
    shift
    exec $COMPTOIR worker "$@"
    ;;
*)
    exec $COMPTOIR "$@"
    ;;
esac
