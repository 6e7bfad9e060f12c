#!/usr/bin/env bash
# A/B: two gateway binaries forwarding `GET /small` (62 bytes), measured in turn in one run.
#
# For judging an optimisation on a shared, noisy machine: both binaries
# face the same stub legacy (nginx, one worker), pinned like forward.sh
# (stub and gateway on CPU 0 with one worker, wrk on CPU 1), and run in
# alternation, ROUNDS rounds of WARMUP + DURATION seconds, so drift hits
# both alike. Prints each round, the medians and B's rps ÷ A's.
# Loopback only; bounded: ROUNDS × 2 × (WARMUP + DURATION) seconds of load.
#
#   tests/bench/ab.sh OLD_BINARY NEW_BINARY            # ROUNDS=5 WARMUP=1 DURATION=5
#   ACCESS_LOG=true tests/bench/ab.sh A B               # with the access log on
#   URL_PATH=/64k tests/bench/ab.sh A B                 # another stub answer
#   PINNED=0 tests/bench/ab.sh A B                      # nothing pinned, default workers (forward.sh's unpinned)
#   ENV_B="GATEWAY_SERVER__WORKERS=1" tests/bench/ab.sh A A  # the same binary, B with other settings
#   STUB_CPU=1 tests/bench/ab.sh A B                    # pinned, but the stub on wrk's core, not the gateway's
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BINARY_A BINARY_B" >&2; exit 2; }
A=$(realpath "$1")
B=$(realpath "$2")
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
ACCESS_LOG=${ACCESS_LOG:-false}
URL_PATH=${URL_PATH:-/small}
PINNED=${PINNED:-1}
STUB_CPU=${STUB_CPU:-0}
# Pinned: the stub and the gateways on CPU 0 (one worker), wrk on CPU 1.
CPU0=() CPU1=() WORKERS=()
if [ "$PINNED" = 1 ]; then CPU0=(taskset -c 0) CPU1=(taskset -c 1) WORKERS=(GATEWAY_SERVER__WORKERS=1); fi
STUB_PIN=("${CPU0[@]}")
[ "$PINNED" = 1 ] && STUB_PIN=(taskset -c "$STUB_CPU")

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
WORK=$(mktemp -d)
chmod 755 "$WORK"
cleanup() {
  for pid in ${GW_A:-} ${GW_B:-}; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/stub.pid" ] && kill "$(cat "$WORK/stub.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
STUB=$(free_port)
python3 -c 'import json; print(json.dumps({"items": ["x" * 60] * 1092})[:65536])' > "$WORK/64k"
cat > "$WORK/stub.conf" <<NGINX
daemon on; worker_processes 1; pid $WORK/stub.pid; error_log $WORK/stub-error.log;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; default_type application/json;
  server {
    listen 127.0.0.1:$STUB;
    location = /small { return 200 '{"ok":true,"service":"legacy","items":[1,2,3],"note":"xxxxxx"}'; }
    location = /64k { alias $WORK/64k; }
  }
}
NGINX
"${STUB_PIN[@]}" nginx -c "$WORK/stub.conf"

start() { # name binary [VAR=value...] → sets <name>_PID and <name>_LISTEN
  local name=$1 binary=$2
  shift 2
  mkdir -p "$WORK/$name/routes"
  printf '[legacy]\nurl = "http://127.0.0.1:%s"\n' "$STUB" > "$WORK/$name/routes/routes.toml"
  (cd "$WORK/$name/routes" && exec env RUST_LOG=info "${WORKERS[@]}" GATEWAY_SERVER__ACCESS_LOG="$ACCESS_LOG" \
    DATABASE_URL="sqlite://$WORK/$name/db.sqlite?mode=rwc" "$@" \
    "${CPU0[@]}" "$binary" serve --routes routes.toml --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    > "$WORK/$name/out" 2> "$WORK/$name/err") &
  printf -v "${name}_PID" '%s' "$!"
  for _ in $(seq 300); do grep -q "gateway ready" "$WORK/$name/out" 2>/dev/null && break; sleep 0.1; done
  grep -q "gateway ready" "$WORK/$name/out" || { echo "gateway $name did not start:" >&2; cat "$WORK/$name/err" >&2; exit 1; }
  printf -v "${name}_LISTEN" '%s' "$(sed -n 's/.*listen=\([^ ]*\) .*/\1/p' "$WORK/$name/out")"
}
# shellcheck disable=SC2086 # ENV_A and ENV_B are lists of VAR=value
start A "$A" ${ENV_A:-}; GW_A=$A_PID
# shellcheck disable=SC2086
start B "$B" ${ENV_B:-}; GW_B=$B_PID

measure() { # url → rps
  "${CPU1[@]}" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "$1" > /dev/null
  "${CPU1[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$1" > "$WORK/wrk.txt"
  if grep -qE "Non-2xx|Socket errors" "$WORK/wrk.txt"; then cat "$WORK/wrk.txt" >&2; exit 1; fi
  sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$WORK/wrk.txt"
}
: > "$WORK/rows"
for round in $(seq "$ROUNDS"); do
  a=$(measure "http://$A_LISTEN$URL_PATH")
  b=$(measure "http://$B_LISTEN$URL_PATH")
  echo "round $round: A $a rps, B $b rps" >&2
  echo "$a $b" >> "$WORK/rows"
done
python3 - "$WORK/rows" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
a = statistics.median(r[0] for r in rows)
b = statistics.median(r[1] for r in rows)
paired = statistics.median(r[1] / r[0] for r in rows)
print(f"A {a:,.0f} rps, B {b:,.0f} rps: B/A {b / a:.3f} (median of per-round ratios {paired:.3f})")
PY
