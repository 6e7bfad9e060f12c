#!/usr/bin/env bash
# Property-based test of the accounts API from its own OpenAPI document.
#
# Builds the gateway, starts it on 127.0.0.1 (ephemeral ports) with the
# repository's routes.toml, a throwaway SQLite database and a stub legacy
# backend, and runs schemathesis (pinned in tests/api/requirements.txt,
# installed into a virtualenv) against the document the gateway serves:
# every check, every phase (examples, coverage, fuzzing, stateful through the
# document's links: register -> read -> change -> deactivate), a fixed seed,
# bounded in examples and time. Fails on any failure, on a request that
# reached legacy, or when the stateful phase did not follow every link.
# Stops everything it started on exit.
#
# Knobs (environment): ST_SEED (default 20261201), ST_MAX_EXAMPLES (100 per
# operation), ST_MAX_TIME (90 s: fuzzing and stateful testing repeat until it
# is spent), ST_VENV (default target/schemathesis-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."

SEED="${ST_SEED:-20261201}"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-100}"
MAX_TIME="${ST_MAX_TIME:-90}"
VENV="$(realpath -m "${ST_VENV:-${CARGO_TARGET_DIR:-target}/schemathesis-venv}")"
REQUIREMENTS="tests/api/requirements.txt"

work="$(mktemp -d "${TMPDIR:-/tmp}/schemathesis.XXXXXX")"
gateway_pid=""
legacy_pid=""
stop() {
  local status=$?
  for pid in "$gateway_pid" "$legacy_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "$status" -ne 0 ] && [ -s "$work/gateway.log" ]; then
    echo "-- the gateway's last log lines:" >&2
    tail -n 20 "$work/gateway.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

# Waits up to $2 seconds for file $1 to hold a line matching $3; prints that line.
wait_for_line() {
  local file=$1 seconds=$2 pattern=$3 line
  for _ in $(seq $((seconds * 10))); do
    if line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null); then
      echo "$line"
      return 0
    fi
    sleep 0.1
  done
  echo "no line matching '$pattern' in $file within ${seconds}s:" >&2
  cat "$file" >&2 || true
  return 1
}

echo "== schemathesis: virtualenv ($VENV)"
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.installed" 2>/dev/null; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
      rm -rf "$VENV"
      python3 -m venv "$VENV"
    else
      echo "python3 -m venv failed: install python3-venv" >&2
      exit 1
    fi
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/requirements.installed"
fi
"$VENV/bin/st" --version

echo "== schemathesis: building the gateway"
# The same build `cargo test --workspace` makes (dev-dependencies' features
# included), so after the tests this compiles nothing.
gateway_bin="$(
  cargo build --workspace --bins --tests --locked --message-format=json-render-diagnostics |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    target = message.get("target", {})
    if (message.get("reason") == "compiler-artifact" and target.get("name") == "gateway"
            and "bin" in target.get("kind", []) and not message["profile"]["test"]):
        print(message["executable"])
'
)"
[ -x "$gateway_bin" ] || { echo "cargo reported no gateway binary" >&2; exit 1; }

echo "== schemathesis: a stub legacy and the gateway on 127.0.0.1"
mkdir -p "$work/legacy" "$work/routes" "$work/data" "$work/run"
# Legacy answers 404 to everything and logs each request: none may arrive.
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work/legacy" \
  >"$work/legacy.out" 2>"$work/legacy.log" &
legacy_pid=$!
legacy_port="$(wait_for_line "$work/legacy.out" 10 'Serving HTTP on' | sed -E 's/.* port ([0-9]+).*/\1/')"
# The repository's table, with legacy at the stub.
sed -E "s|^url = \"http://127\.0\.0\.1:8000\"|url = \"http://127.0.0.1:$legacy_port\"|" routes.toml \
  >"$work/routes/routes.toml"
grep -q "127.0.0.1:$legacy_port" "$work/routes/routes.toml" ||
  { echo "routes.toml no longer names legacy as http://127.0.0.1:8000" >&2; exit 1; }
# In a directory of its own: no .env or gateway.toml of the checkout applies.
(
  cd "$work/run"
  exec env DATABASE_URL="sqlite://$work/data/accounts.sqlite?mode=rwc" \
    GATEWAY_ROUTES="$work/routes/routes.toml" \
    GATEWAY_LISTEN=127.0.0.1:0 GATEWAY_ADMIN_LISTEN=127.0.0.1:0 \
    GATEWAY_SERVER__ACCESS_LOG=false RUST_LOG="${RUST_LOG:-warn}" \
    "$gateway_bin" serve >"$work/gateway.out" 2>"$work/gateway.log"
) &
gateway_pid=$!
ready="$(wait_for_line "$work/gateway.out" 60 '^gateway ready ')"
listen="$(sed -E 's/.* listen=([^ ]+).*/\1/' <<<"$ready")"
echo "$ready"

echo "== schemathesis: run (seed $SEED, at most $MAX_EXAMPLES examples per operation, ${MAX_TIME}s)"
started=$SECONDS
set +e
(
  cd "$work"
  "$VENV/bin/st" run "http://$listen/v1/openapi.json" \
    --checks all \
    --mode all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --max-time "$MAX_TIME" \
    --workers 1 \
    --request-timeout 10 \
    --generation-database none \
    --no-color
) | tee "$work/st.log"
st_status=${PIPESTATUS[0]}
set -e
echo "schemathesis took $((SECONDS - started))s"

failed=0
if [ "$st_status" -ne 0 ]; then
  echo "schemathesis failed (exit status $st_status)" >&2
  failed=1
fi
legacy_requests="$(grep -c '" [0-9][0-9][0-9] ' "$work/legacy.log" || true)"
if [ "$legacy_requests" -ne 0 ]; then
  echo "$legacy_requests request(s) reached legacy; the document's operations are the service's:" >&2
  head -n 5 "$work/legacy.log" >&2
  failed=1
fi
links="$(grep -E 'API Links:' "$work/st.log" || true)"
covered="$(sed -nE 's/.*API Links: *([0-9]+) covered.*/\1/p' <<<"$links")"
total="$(sed -nE 's/.* ([0-9]+) total.*/\1/p' <<<"$links")"
if [ -z "$covered" ] || [ "$covered" != "$total" ] || [ "$total" -lt 12 ]; then
  echo "the stateful phase did not follow every link: ${links:-no stateful phase}" >&2
  failed=1
fi
cases="$(sed -nE 's/^ *([0-9]+) generated, ([0-9]+) passed.*/\2/p' "$work/st.log")"
echo "schemathesis: ${cases:-0} passed, $(grep -cE '^[0-9]+\. Test Case ID' "$work/st.log" || true) failed"
exit "$failed"
