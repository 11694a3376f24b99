#!/usr/bin/env bash
# Browser tests against a real Crewboard: gunicorn + a Celery worker (the Procfile, under
# honcho) on a free port, with a throwaway database, broker and admin password, driven by
# headless Debian Chromium through playwright-core. `make browser-test` runs this from the
# checkout's root after `make install`. e2e/seed_review.py adds the review tests' project.
#
# Environment: PYTHON_BIN (default .venv/bin), CHROMIUM (default /usr/bin/chromium),
# SPECS (default all: "dashboard.spec.mjs review.spec.mjs board.spec.mjs live.spec.mjs
# plan_edit.spec.mjs"), KEEP_TMP=1 keeps the temporary folder (database, logs) for a look
# afterwards, BROWSER_TESTS_OPTIONAL=1 (CI) skips the tests, saying why, and succeeds when
# Chromium is missing and cannot be installed here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${PYTHON_BIN:-$ROOT/.venv/bin}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
read -r -a SPEC_FILES <<<"${SPECS:-dashboard.spec.mjs review.spec.mjs board.spec.mjs live.spec.mjs plan_edit.spec.mjs}"

say() { printf '\n==> %s\n' "$*"; }

# Without Chromium there is nothing to drive: a failure, unless the caller (CI) said the
# browser tests may be skipped on a machine that cannot have it.
no_chromium() {
	echo "$1" >&2
	if [[ "${BROWSER_TESTS_OPTIONAL:-}" == 1 ]]; then
		echo "Browser tests skipped: Chromium is not available on this machine." >&2
		exit 0
	fi
	exit 1
}

# 1. Chromium, from Debian's packages. Playwright's own browser download does not work here.
if [[ ! -x "$CHROMIUM" ]]; then
	say "$CHROMIUM is missing; installing Debian's chromium package"
	if ! command -v apt-get >/dev/null 2>&1; then
		no_chromium "error: apt-get is not available, so Chromium cannot be installed automatically.
Install Chromium yourself and point CHROMIUM=/path/to/chromium at it."
	fi
	SUDO=()
	if [[ "$(id -u)" != 0 ]]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			SUDO=(sudo -n)
		else
			no_chromium "error: installing Chromium needs root (or sudo): apt-get install -y chromium"
		fi
	fi
	"${SUDO[@]}" apt-get update || true
	DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends chromium ||
		no_chromium "error: apt-get could not install chromium."
	if [[ ! -x "$CHROMIUM" ]]; then
		no_chromium "error: apt-get finished but $CHROMIUM is still missing."
	fi
fi
"$CHROMIUM" --version 2>/dev/null || true

# 2. playwright-core, exactly as locked.
say "npm ci in e2e/"
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)

# 3. A throwaway Crewboard.
TMP="$(mktemp -d -t crewboard-e2e.XXXXXX)"
SERVER_PID=""
stop_server() {
	local status=$?
	if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		say "Stopping Crewboard (honcho pid $SERVER_PID)"
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		# honcho passes the TERM on to gunicorn and the worker and exits when both have.
		for _ in $(seq 1 50); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$SERVER_PID" 2>/dev/null; then
			echo "honcho did not stop within 10 s; killing its process group" >&2
			kill -KILL -- "-$SERVER_PID" 2>/dev/null || kill -KILL "$SERVER_PID" 2>/dev/null || true
		fi
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if [[ "${KEEP_TMP:-}" == 1 ]]; then
		echo "Kept $TMP (database, broker, server.log)."
	else
		rm -rf "$TMP"
	fi
	exit "$status"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE_URL="http://127.0.0.1:$PORT"

# The real environment wins over the checkout's .env, so these keep the run away from
# the developer's database, broker, Redis and LLM settings.
export SECRET_KEY="e2e-$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(40))')"
export DEBUG=false
export ALLOWED_HOSTS=127.0.0.1,localhost
export DATABASE_URL="sqlite:///$TMP/db.sqlite3"
export REDIS_URL=""
export CELERY_BROKER_URL="filesystem://"
export CELERY_BROKER_DIR="$TMP/broker"
export LLM_PROVIDER=offline
export WORKSPACES_DIR="$TMP/worktrees" REPOS_DIR="$TMP/repos" DEMO_REPOSITORY_DIR="$TMP/demo-repo"
export PYTHONUNBUFFERED=1
# gunicorn's control socket: this run's own, not the checkout's that a `make run` uses.
export GUNICORN_CONTROL_SOCKET="$TMP/gunicorn.ctl"

say "Bootstrapping a throwaway database in $TMP"
"$BIN/python" manage.py bootstrap --verbosity 0 --password-file "$TMP/admin-password.txt"
# The review tests' project: a repository of its own and two tasks waiting for review.
REVIEW_REPO="$("$BIN/python" e2e/seed_review.py "$TMP")"
# The board tests' project: three tasks to do, one waiting for another.
"$BIN/python" e2e/seed_board.py
# The live tests' running project and its external agent's key; the coding demo's coder
# made the built-in one, whichever coding CLIs var/tools/ holds.
LIVE_AGENT_KEY="$("$BIN/python" e2e/seed_live.py)"
# The plan-editing tests' project: two features, a sub-feature with two tasks, requirements.
"$BIN/python" e2e/seed_plan.py

say "Starting gunicorn + Celery worker (Procfile's web and worker, honcho) on $BASE_URL"
# Only web and worker: the tests need no beat, and beat's schedule file lives in the
# checkout's var/, where a `make run` beside this one uses it.
# setsid: its own process group, so a stuck server can be killed as a whole.
setsid env PATH="$BIN:$PATH" "$BIN/honcho" start --no-colour --env /dev/null \
	--procfile Procfile --port "$PORT" web worker >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

ready=""
for _ in $(seq 1 120); do
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		break
	fi
	if curl -fsS -o /dev/null "$BASE_URL/readyz" 2>/dev/null; then
		ready=1
		break
	fi
	sleep 0.25
done
if [[ -z "$ready" ]]; then
	echo "error: Crewboard did not become ready at $BASE_URL/readyz within 30 s. Its log:" >&2
	cat "$TMP/server.log" >&2
	exit 1
fi
echo "Crewboard is ready."

# A coding run's later stages go to the queue of the host that holds its worktree
# (host.<name>), which every worker also serves; without it the coding steps would wait.
for _ in $(seq 1 120); do
	grep -q "celery@.* ready" "$TMP/server.log" && break
	sleep 0.25
done
if ! grep -q '\.> host\.' "$TMP/server.log"; then
	echo "error: the worker does not serve its host's queue (host.<name>). Its log:" >&2
	cat "$TMP/server.log" >&2
	exit 1
fi

# 4. The browser tests, one file after the other.
say "Browser tests (node --test, in e2e/: ${SPEC_FILES[*]})"
status=0
(
	cd e2e
	BASE_URL="$BASE_URL" \
		ADMIN_PASSWORD_FILE="$TMP/admin-password.txt" \
		REVIEW_REPO="$REVIEW_REPO" \
		LIVE_AGENT_KEY="$LIVE_AGENT_KEY" \
		CHROMIUM="$CHROMIUM" \
		node --test --test-concurrency=1 --test-reporter=spec "${SPEC_FILES[@]}"
) || status=$?

# A traceback in gunicorn or the worker is a failure even when every page looked right
# (a worker task that crashed, say).
if grep -q "Traceback" "$TMP/server.log"; then
	echo >&2
	echo "The server log holds a traceback:" >&2
	grep -n -A 30 "Traceback" "$TMP/server.log" | head -n 120 >&2
	[[ "$status" != 0 ]] || status=1
fi
if [[ "$status" != 0 ]]; then
	echo >&2
	echo "Browser tests failed (exit $status). Last 40 lines of the server log:" >&2
	tail -n 40 "$TMP/server.log" >&2
	echo "Screenshots (FAILED-* at the failing step): e2e/screenshots/; KEEP_TMP=1 keeps the database and log." >&2
else
	echo "Screenshots: e2e/screenshots/"
fi
exit "$status"
