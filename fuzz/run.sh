#!/usr/bin/env bash
# Fuzz the REST API with schemathesis against a real Crewboard on PostgreSQL: gunicorn on a
# free port, a throwaway database, the demo project and an external agent (fuzz/seed.py).
# Runs the examples, coverage, fuzzing and stateful phases twice, as a person (token) and
# as an external agent (agent key), and fails on any 5xx or any response that is not what
# the OpenAPI schema says. `make fuzz` runs this from the checkout's root.
#
# Environment:
#   FUZZ_DATABASE_URL  the throwaway database, created and dropped here
#                      (default postgres://postgres@127.0.0.1:5432/crewboard_fuzz)
#   REDIS_URL          Redis for the cache and broker (default: none, a filesystem broker)
#   FUZZ_EXAMPLES      test cases per operation and phase (default 10)
#   PYTHON_BIN         default .venv/bin; KEEP_TMP=1 keeps the server log and reports
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${PYTHON_BIN:-$ROOT/.venv/bin}"
DB_URL="${FUZZ_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/crewboard_fuzz}"
EXAMPLES="${FUZZ_EXAMPLES:-10}"

say() { printf '\n==> %s\n' "$*"; }

DB_NAME="${DB_URL##*/}"
DB_SERVER="${DB_URL%/*}/postgres"
psql_admin() { psql "$DB_SERVER" -v ON_ERROR_STOP=1 -qtAc "$1"; }

TMP="$(mktemp -d -t crewboard-fuzz.XXXXXX)"
SERVER_PID=""
cleanup() {
	local status=$?
	if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	psql_admin "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" || true
	if [[ "${KEEP_TMP:-}" == 1 ]]; then
		echo "Kept $TMP (server.log, schemathesis reports)."
	else
		rm -rf "$TMP"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE_URL="http://127.0.0.1:$PORT"

# The real environment wins over the checkout's .env: these keep the run away from the
# developer's database, broker and LLM settings.
export SECRET_KEY="fuzz-$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(40))')"
export DEBUG=false
export ALLOWED_HOSTS=127.0.0.1,localhost
export DATABASE_URL="$DB_URL"
export REDIS_URL="${REDIS_URL:-}"
# Its own cache keys: the bad credentials it sends are counted per address, and a run
# soon after another must not start out throttled by the last one's counts.
export CACHE_KEY_PREFIX="fuzz-$PORT-$$"
if [[ -z "$REDIS_URL" ]]; then
	export CELERY_BROKER_URL="filesystem://" CELERY_BROKER_DIR="$TMP/broker"
fi
export LLM_PROVIDER=offline
export WORKSPACES_DIR="$TMP/worktrees" REPOS_DIR="$TMP/repos" DEMO_REPOSITORY_DIR="$TMP/demo-repo"
export PYTHONUNBUFFERED=1

say "A throwaway database: $DB_NAME"
psql_admin "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)"
psql_admin "CREATE DATABASE \"$DB_NAME\""
"$BIN/python" manage.py bootstrap --verbosity 0 --skip-collectstatic \
	--password-file "$TMP/admin-password.txt"
SEED="$("$BIN/python" fuzz/seed.py)"
eval "$SEED"
export PROJECT_SLUG RUN_ID

say "Starting gunicorn on $BASE_URL"
setsid "$BIN/gunicorn" config.wsgi --bind "127.0.0.1:$PORT" --workers 2 --timeout 60 \
	--control-socket "$TMP/gunicorn.ctl" --error-logfile - >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
	curl -fsS -o /dev/null "$BASE_URL/healthz" 2>/dev/null && break
	kill -0 "$SERVER_PID" 2>/dev/null || break
	sleep 0.25
done
if ! curl -fsS -o /dev/null "$BASE_URL/healthz"; then
	echo "error: gunicorn did not come up. Its log:" >&2
	cat "$TMP/server.log" >&2
	exit 1
fi

status=0
fuzz_as() {  # fuzz_as <name> <Authorization header> [schemathesis options...]
	local name=$1 authorization=$2
	shift 2
	say "schemathesis as $name ($EXAMPLES examples per operation and phase)"
	# One worker: Python 3.11's ast.parse, which hypothesis calls to describe its lambdas,
	# is not thread-safe ("AST constructor recursion depth mismatch").
	"$BIN/st" --config-file fuzz/schemathesis.toml run "$BASE_URL/api/schema/" \
		--url "$BASE_URL" \
		--header "Authorization: $authorization" \
		--phases examples,coverage,fuzzing,stateful \
		--checks not_a_server_error,response_schema_conformance,content_type_conformance \
		--max-examples "$EXAMPLES" \
		--seed 14 \
		--workers 1 \
		--no-color \
		--report junit --report-dir "$TMP/report-$name" "$@" || status=1
}
fuzz_as person "Token $USER_TOKEN"
# An agent key opens only the external-agent endpoints; every other one answers it 401.
fuzz_as agent "Agent $AGENT_KEY" \
	--include-path-regex '/(agents/heartbeat|tasks/claim|runs/\{run_id\}/[a-z-]+)/$'


# A 5xx that schemathesis saw is reported above; a traceback the server logged for a
# response it still gave as a 4xx is a failure too.
if grep -q "Traceback" "$TMP/server.log"; then
	echo >&2
	echo "The server log holds a traceback:" >&2
	grep -n -A 30 "Traceback" "$TMP/server.log" | head -n 200 >&2
	status=1
fi
[[ "$status" == 0 ]] && echo "Fuzzing found no 5xx and no response off the schema."
exit "$status"
