#!/usr/bin/env bash
# `make bench`: every benchmark of bench/, one after the other, then a summary table.
#
#   make bench                                    # all of them, at their full default sizes
#   make bench ONLY=load                          # some of them (comma- or space-separated)
#   make bench ONLY=load ARGS="--duration 10"     # ARGS go to each benchmark ONLY names
#   ONLY=load bench/run.sh --duration 10          # the same without make
#
# A benchmark is a module bench/<name>.py run as `python -m bench.<name>`; each writes
# bench/results/<name>.json and .md and exits 0 (targets met), 1 (a target missed) or 2
# (the run failed). They run in the order below (new ones before the load test, which
# runs last), each to its end even when one before it failed. The exit status is the
# worst: 2 if any run failed, else 1 if any target was missed, else 0.
#
# Before ONLY existed, ARGS went to the ticket API benchmark, the only one; `make bench
# ARGS=...` without ONLY still means that (bench.tickets_api alone, with those arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

ORDER=(tickets_api eventlog email_ingest knowledge_search sla admin_desk assignment portal help_center reports automation webhooks)
LAST=load

available=()
for name in "${ORDER[@]}"; do
    [ -f "bench/$name.py" ] && available+=("$name")
done
for file in bench/*.py; do
    name=$(basename "$file" .py)
    [[ " ${ORDER[*]} $LAST " == *" $name "* ]] && continue
    grep -q '^if __name__ == "__main__":' "$file" && available+=("$name")
done
[ -f "bench/$LAST.py" ] && available+=("$LAST")

ONLY=${ONLY:-}
if [ -z "$ONLY" ] && [ "$#" -gt 0 ]; then
    echo "== ARGS without ONLY: running bench.tickets_api alone (ONLY=... picks others)"
    ONLY=tickets_api
fi
selected=()
if [ -z "$ONLY" ]; then
    selected=("${available[@]}")
else
    for name in ${ONLY//,/ }; do
        if [[ " ${available[*]} " != *" $name "* ]]; then
            echo "No benchmark named '$name'; there are: ${available[*]}" >&2
            exit 2
        fi
        selected+=("$name")
    done
fi

source scripts/embedded_db_guard.sh
trap stop_embedded_db EXIT

results=()
worst=0
for name in "${selected[@]}"; do
    echo
    echo "==== bench.$name $*"
    started=$SECONDS
    set +e
    python -m "bench.$name" "$@"
    status=$?
    set -e
    elapsed=$((SECONDS - started))
    case $status in
        0) verdict="passed" ;;
        1) verdict="target missed" ;;
        *) verdict="run failed" ;;
    esac
    results+=("$(printf '%-18s %-14s %4d %4dm%02ds  bench/results/%s.md' \
        "$name" "$verdict" "$status" $((elapsed / 60)) $((elapsed % 60)) "$name")")
    if [ "$status" -ge 128 ]; then  # interrupted (Ctrl-C): don't start the next one
        worst=2
        break
    fi
    if [ "$status" -ne 0 ] && { [ "$status" -ne 1 ] || [ "$worst" -eq 0 ]; }; then
        worst=$((status == 1 ? 1 : 2))
    fi
done

echo
echo "==== make bench: summary"
printf '%-18s %-14s %4s %8s  %s\n' benchmark result exit time report
printf '%s\n' "${results[@]}"
exit "$worst"
