#!/usr/bin/env bash
# Profile: where the gateway's CPU goes when it forwards `GET /small` (62 bytes) under load.
#
# Builds the `profiling` profile (release with symbols) with frame pointers,
# starts a stub legacy (nginx, one worker) and the gateway with one worker,
# both on CPU 0, loads it with wrk from CPU 1, and samples the gateway with
# perf (cpu-clock, frame-pointer call graphs). Writes a flamegraph
# (inferno, installed with cargo if missing) and prints the top functions.
# Loopback only, bounded: WARMUP + DURATION seconds of load.
#
#   tests/bench/profile.sh               # DURATION=10 OUT=target/profile
#   ACCESS_LOG=true tests/bench/profile.sh   # with the default access log on
#   SIDE=service tests/bench/profile.sh      # in-process `GET /v1/accounts/users/{id}` (SQLite) instead
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
OUT=${OUT:-target/profile}
ACCESS_LOG=${ACCESS_LOG:-false}
SIDE=${SIDE:-legacy}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null || ! command -v perf >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk linux-perf >/dev/null
fi
command -v inferno-flamegraph >/dev/null || cargo install --locked -q inferno
RUSTFLAGS="-C force-frame-pointers=yes" cargo build --profile profiling -q -p gateway
GATEWAY="$(cd "$TARGET_DIR/profiling" && pwd)/gateway"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

WORK=$(mktemp -d)
chmod 755 "$WORK"
cleanup() {
  [ -n "${GW_PID:-}" ] && kill "$GW_PID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
STUB=$(free_port)

serve_small "$STUB" taskset -c 0
# routes.toml in a directory of its own: the logs beside it would wake the file watcher.
mkdir -p "$WORK/routes"
printf '[legacy]\nurl = "http://127.0.0.1:%s"\n' "$STUB" > "$WORK/routes/routes.toml"
if [ "$SIDE" = service ]; then
  printf '[[routes]]\nname = "accounts"\nmatch = { prefix = "/v1/accounts" }\ntarget = "service"\n' >> "$WORK/routes/routes.toml"
fi
(cd "$WORK/routes" && exec env RUST_LOG=info DATABASE_URL="sqlite://$WORK/profile.sqlite?mode=rwc" GATEWAY_SERVER__WORKERS=1 GATEWAY_SERVER__ACCESS_LOG="$ACCESS_LOG" \
  taskset -c 0 "$GATEWAY" serve --routes routes.toml --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  > "$WORK/out" 2> "$WORK/err") &
GW_PID=$!
for _ in $(seq 300); do grep -q "gateway ready" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
LISTEN=$(sed -n 's/.*listen=\([^ ]*\) .*/\1/p' "$WORK/out")
URL_PATH=/small
if [ "$SIDE" = service ]; then
  ID=$(curl -sf -X POST "http://$LISTEN/v1/accounts/users" -H 'content-type: application/json' \
    -d '{"email":"profile@example.com","full_name":"Profile User"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  URL_PATH="/v1/accounts/users/$ID"
fi

taskset -c 1 wrk -t1 -c64 -d"${WARMUP}s" "http://$LISTEN$URL_PATH" > /dev/null
taskset -c 1 wrk -t1 -c64 -d"$((DURATION + 2))s" "http://$LISTEN$URL_PATH" > "$OUT/wrk.txt" &
WRK=$!
sleep 1
perf record -e cpu-clock -F 1999 --call-graph fp -p "$GW_PID" -o "$OUT/perf.data" -- sleep "$DURATION" 2> /dev/null
wait "$WRK"
perf script -i "$OUT/perf.data" 2> /dev/null | inferno-collapse-perf > "$OUT/stacks.folded"
inferno-flamegraph --title "gateway: GET $URL_PATH (access_log=$ACCESS_LOG)" < "$OUT/stacks.folded" > "$OUT/flamegraph.svg"
grep -E "Requests/sec" "$OUT/wrk.txt"
echo "flamegraph: $OUT/flamegraph.svg"
echo "top functions (self time):"
perf report -i "$OUT/perf.data" --no-children --stdio --sort symbol 2> /dev/null > "$OUT/report.txt" || true
grep -E '^ +[0-9]' "$OUT/report.txt" | sed -e 's/  */ /g' | cut -c1-160 | head -25
echo "top inclusive (children):"
python3 - "$OUT/stacks.folded" <<'PY'
import collections, sys
total = 0
incl = collections.Counter()
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(" ")
    n = int(n); total += n
    for frame in set(stack.split(";")):
        incl[frame] += n
for frame, n in incl.most_common(40):
    print(f"{100 * n / total:6.1f}%  {frame[:140]}")
PY
