#!/usr/bin/env bash
# Instructions per forwarded request, counted with callgrind: repeatable on a
# noisy machine where wall-clock benchmarks are not.
#
# Starts a stub legacy (nginx, one worker, `GET /small`: 62 bytes) and the
# gateway (one worker, access log off) under `valgrind --tool=callgrind`,
# sends WARMUP keep-alive requests one at a time on one connection, zeroes
# the counters, sends REQUESTS more, and prints the instructions per request
# (user space, every thread of the gateway) and the functions that take the
# most of them (their own instructions, callees excluded). Sequential
# requests on one connection: the cost of a request when nothing else is
# queued, not under load (use forward.sh or ab.sh for that; the two can
# disagree, see the README's "Performance").
# Loopback only; bounded: the requests, under valgrind (about a minute).
#
#   tests/bench/instructions.sh                        # the release build
#   tests/bench/instructions.sh target/release/gateway # another binary
#   REQUESTS=5000 TOP=40 tests/bench/instructions.sh
#   CALLGRIND_OUT=/tmp/cg.out tests/bench/instructions.sh  # keep the dump: callers, callees
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh

REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-200}
TOP=${TOP:-25}
if [ $# -ge 1 ]; then
  GATEWAY=$(realpath "$1")
else
  cargo build --release -q -p gateway
  GATEWAY="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)/gateway"
fi
if ! command -v valgrind >/dev/null || ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind nginx >/dev/null
fi

work_dir
chmod 755 "$WORK"
STUB=$(free_port)
serve_small "$STUB"

LISTEN_PORT=$(free_port)
ADMIN_PORT=$(free_port)
mkdir -p "$WORK/routes"
printf '[legacy]\nurl = "http://127.0.0.1:%s"\n' "$STUB" > "$WORK/routes/routes.toml"
(cd "$WORK/routes" && exec env RUST_LOG=warn GATEWAY_SERVER__WORKERS=1 GATEWAY_SERVER__ACCESS_LOG=false \
  DATABASE_URL="sqlite://$WORK/db.sqlite?mode=rwc" \
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
  "$GATEWAY" serve --routes routes.toml --listen "127.0.0.1:$LISTEN_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  > "$WORK/gateway.out" 2> "$WORK/gateway.err") &
GW_PID=$!
for _ in $(seq 1200); do curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/-/readyz" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/-/readyz" || { echo "the gateway did not start under valgrind:" >&2; cat "$WORK/gateway.err" >&2; exit 1; }

send() { # count: keep-alive GET /small, one at a time; fails on anything but 200
  python3 - "$LISTEN_PORT" "$1" <<'PY'
import http.client, sys
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    connection.request("GET", "/small")
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"answered {response.status}")
PY
}
send "$WARMUP"
callgrind_control -z "$GW_PID" > /dev/null 2>&1
send "$REQUESTS"
callgrind_control -d "$GW_PID" > /dev/null 2>&1
DUMP=$(ls "$WORK"/callgrind.out.* | head -1)
callgrind_annotate --threshold=100 "$DUMP" > "$WORK/annotated.txt"
# CALLGRIND_OUT=FILE keeps the dump, for callgrind_annotate --tree=caller or kcachegrind.
[ -n "${CALLGRIND_OUT:-}" ] && cp "$DUMP" "$CALLGRIND_OUT"
python3 - "$WORK/annotated.txt" "$REQUESTS" "$TOP" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
requests, top = int(sys.argv[2]), int(sys.argv[3])
total = int(re.search(r"([\d,]+) \([^)]*\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
print(f"{total / requests:,.0f} instructions per forwarded GET /small ({requests} sequential keep-alive requests, callgrind)")
print(f"Top {top} functions by their own instructions, per request:")
rows = re.findall(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(?:\*\s+)?(\S.*?)(?: \[[^\]]*\])?$", text.split("file:function", 1)[1], re.M)
# The threads' entry points (start_thread, tokio's worker loop) are listed
# first with all of their callees' counts: not a function's own work.
rows = [r for r in rows if float(r[1]) < 50]
for count, share, name in rows[:top]:
    print(f"  {int(count.replace(',', '')) / requests:8,.0f}  {share:>5}%  {name[:110]}")
PY
