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
#   REQUEST=user tests/bench/instructions.sh   # `GET /v1/accounts/users/{id}` forwarded (the stub serves the user)
#   REQUEST=user SHADOW=1 tests/bench/instructions.sh   # the same, shadowed to the in-process service
#                                               # (sample 1.0, every mirror): the difference is a mirror's cost
#   SHADOW=refused tests/bench/instructions.sh  # shadowed, every mirror refused by the budget (max_busy = 0,
#                                               # budget = 0): what a shadowed request costs when not compared
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh

REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-200}
TOP=${TOP:-25}
REQUEST=${REQUEST:-small}
SHADOW=${SHADOW:-}
[ -n "$SHADOW" ] && REQUEST=user
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
if [ "$REQUEST" = user ]; then
  # The stub serves WORK/user.json, written below from the service's answer: a mirror compares equal.
  sed -i "s|server { listen 127.0.0.1:$STUB;|server { listen 127.0.0.1:$STUB; root $WORK; location /v1/accounts/users/ { try_files /user.json =404; }|" "$WORK/stub.conf"
  nginx -c "$WORK/stub.conf" -s reload
  {
    printf '[legacy]\nurl = "http://127.0.0.1:%s"\n' "$STUB"
    if [ "$SHADOW" = refused ]; then
      printf '[shadow]\nmax_busy = 0.0\nbudget = 0.0\n'
    elif [ -n "$SHADOW" ]; then
      printf '[shadow]\nmax_busy = 1.0\n'
    fi
    printf '[[routes]]\nname = "accounts"\nmatch = { prefix = "/v1/accounts" }\ntarget = "service"\n'
    printf '[[routes]]\nname = "get-user"\nmatch = { path = "/v1/accounts/users/{id}", methods = ["GET"] }\ntarget = "legacy"\n'
    [ -n "$SHADOW" ] && printf 'shadow = { to = "service", sample = 1.0, ignore = ["/created_at", "/updated_at"] }\n'
  } > "$WORK/routes/routes.toml"
else
  printf '[legacy]\nurl = "http://127.0.0.1:%s"\n' "$STUB" > "$WORK/routes/routes.toml"
fi
(cd "$WORK/routes" && exec env RUST_LOG=warn GATEWAY_SERVER__WORKERS=1 GATEWAY_SERVER__ACCESS_LOG=false \
  DATABASE_URL="sqlite://$WORK/db.sqlite?mode=rwc" \
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
  "$GATEWAY" serve --routes routes.toml --listen "127.0.0.1:$LISTEN_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  > "$WORK/gateway.out" 2> "$WORK/gateway.err") &
GW_PID=$!
for _ in $(seq 1200); do curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/-/readyz" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/-/readyz" || { echo "the gateway did not start under valgrind:" >&2; cat "$WORK/gateway.err" >&2; exit 1; }

URL_PATH=/small
if [ "$REQUEST" = user ]; then
  # A user made by the service (the accounts route): its JSON is what the stub serves.
  URL_PATH=$(curl -sf -D - -o "$WORK/user.json" -X POST "http://127.0.0.1:$LISTEN_PORT/v1/accounts/users" \
    -H 'content-type: application/json' -d '{"email":"count@example.com","full_name":"Count Instructions"}' \
    | tr -d '\r' | sed -n 's|^location: ||ip')
  [ -n "$URL_PATH" ] || { echo "could not create the user" >&2; exit 1; }
  chmod 644 "$WORK/user.json"
fi

send() { # count: keep-alive GET URL_PATH, one at a time; fails on anything but 200
  python3 - "$LISTEN_PORT" "$1" "$URL_PATH" <<'PY'
import http.client, sys
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    connection.request("GET", sys.argv[3])
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
LABEL="forwarded GET /small"; [ "$REQUEST" = user ] && LABEL="forwarded GET /v1/accounts/users/{id}"
if [ -n "$SHADOW" ]; then
  # Every request must have been mirrored and compared equal (or, refused,
  # none compared and every one counted), or the count is not what it says.
  sleep 2
  outcome=match
  [ "$SHADOW" = refused ] && outcome=dropped_overloaded
  counted=$(curl -sf "http://127.0.0.1:$ADMIN_PORT/-/shadow/routes/get-user" \
    | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["counts"].get(sys.argv[1], 0), d["compared"])' "$outcome")
  read -r outcomes compared <<< "$counted"
  [ "$outcomes" -ge "$((WARMUP + REQUESTS))" ] || { echo "only $outcomes of $((WARMUP + REQUESTS)) requests counted $outcome" >&2; exit 1; }
  if [ "$SHADOW" = refused ]; then
    [ "$compared" -eq 0 ] || { echo "$compared requests compared, none should be" >&2; exit 1; }
    LABEL="$LABEL, shadowed, its mirror refused"
  else
    LABEL="$LABEL with its mirror to the service"
  fi
fi
python3 - "$WORK/annotated.txt" "$REQUESTS" "$TOP" "$LABEL" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
requests, top = int(sys.argv[2]), int(sys.argv[3])
total = int(re.search(r"([\d,]+) \([^)]*\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
print(f"{total / requests:,.0f} instructions per {sys.argv[4]} ({requests} sequential keep-alive requests, callgrind)")
print(f"Top {top} functions by their own instructions, per request:")
rows = re.findall(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(?:\*\s+)?(\S.*?)(?: \[[^\]]*\])?$", text.split("file:function", 1)[1], re.M)
# The threads' entry points (start_thread, tokio's worker loop) are listed
# first with all of their callees' counts: not a function's own work.
rows = [r for r in rows if float(r[1]) < 50]
for count, share, name in rows[:top]:
    print(f"  {int(count.replace(',', '')) / requests:8,.0f}  {share:>5}%  {name[:110]}")
PY
