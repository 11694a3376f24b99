#!/usr/bin/env bash
# The suite under CPU pressure: RUNS times (default 3), each in its own random order,
# beside `stress-ng --cpu STRESS_CPUS` (default 2). A test that leans on elapsed time or
# on how work happens to be shared between processes fails here first. Each run's log is
# kept in var/under-load/; the summary prints one line per run with its seed, and the
# exit status is non-zero when any run failed. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
STRESS_CPUS=${STRESS_CPUS:-2}
# The bound on a test's wait for another process (tests/hang.py): a hang, never slowness.
export TEST_HANG_S=${TEST_HANG_S:-1800}
LOG_DIR=var/under-load

if ! command -v stress-ng >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends stress-ng >/dev/null ||
            { $SUDO apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
                $SUDO apt-get install -y --no-install-recommends stress-ng >/dev/null; }
    fi
    command -v stress-ng >/dev/null 2>&1 || { echo "make test-under-load needs stress-ng (Debian: apt-get install stress-ng)" >&2; exit 1; }
fi

mkdir -p "$LOG_DIR"
stress_pid=
stop_stress() { [[ -z $stress_pid ]] || kill "$stress_pid" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop_stress EXIT

failed=0
for run in $(seq "$RUNS"); do
    seed=$(( (RANDOM << 15) | RANDOM ))
    log="$LOG_DIR/run-$run.log"
    stress-ng --cpu "$STRESS_CPUS" --timeout 0 --quiet &
    stress_pid=$!
    started=$(date +%s)
    if .venv/bin/pytest -q -p no:cacheprovider --randomly-seed="$seed" "$@" >"$log" 2>&1; then
        outcome=passed
    else
        outcome=FAILED
        failed=1
    fi
    stop_stress
    stress_pid=
    echo "run $run/$RUNS seed $seed: $outcome in $(( $(date +%s) - started )) s, $(tail -n1 "$log")"
done
exit $failed
