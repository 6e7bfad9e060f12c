#!/usr/bin/env bash
# Benchmark: what shadowing costs the client.
#
# One run, one machine, one route and path (`GET /v1/accounts/users/{id}`),
# measured four ways, the tables swapped by live reloads: legacy (nginx
# serving the user as JSON) serves with the mirror to the in-process service
# off and on (sample 1.0), then the service (reading the user from SQLite)
# serves with the mirror to legacy off and on. Both sides answer the same
# user, so every comparison is a full structural JSON comparison that should
# end in `match`. wrk measures client-visible throughput and
# p99; the rounds alternate off/on to spread machine noise. Loopback only,
# bounded: ROUNDS x 2 runs of DURATION each.
#
#   tests/bench/shadow.sh            # DURATION=10s CONNECTIONS=32 ROUNDS=2
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-2}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
cargo build --release -q -p gateway
GATEWAY="$(cd "$TARGET_DIR/release" && pwd)/gateway"

work_dir

LEGACY_PORT=$(free_port)

# 1. The gateway, first with the accounts routes on the service.
accounts_routes "$LEGACY_PORT" > "$WORK/routes.toml"
start_gateway "$WORK" "$GATEWAY"
USER_PATH=$(curl -sf -D - -o "$WORK/doc.json" -X POST "http://$LISTEN/v1/accounts/users" \
  -H 'content-type: application/json' -d '{"email":"bench@example.com","full_name":"Bench Mark"}' \
  | tr -d '\r' | sed -n 's|^location: ||ip')

# 2. Legacy: nginx serving the same document.
serve_doc "$LEGACY_PORT"
curl -sf "http://127.0.0.1:$LEGACY_PORT/check" | grep -q bench@example.com || { echo "nginx does not serve the user" >&2; exit 1; }

# 3. The measured tables, swapped in by live reloads: the same route and path,
#    served by `primary`, with and without a mirror to the other side.
table() { # primary shadow(on|off)
  local other=service; [ "$1" = service ] && other=legacy
  {
    printf '[legacy]\nurl = "http://127.0.0.1:%s"\n[shadow]\nmax_in_flight = 256\n' "$LEGACY_PORT"
    printf '[[routes]]\nname = "get-user"\nmatch = { path = "/v1/accounts/users/{id}", methods = ["GET"] }\ntarget = "%s"\n' "$1"
    [ "$2" = on ] && printf 'shadow = { to = "%s", sample = 1.0 }\n' "$other"
  } > "$WORK/routes.toml"
  curl -sf -X POST "http://$ADMIN/-/reload" > /dev/null
}

run() { # name -> "rps p99_ms"
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://$LISTEN$USER_PATH" > "$WORK/wrk-$1.txt"
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk-$1.txt")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' "$WORK/wrk-$1.txt")
  echo "$rps $p99"
}

echo "shadow benchmark: $ROUNDS rounds x (off, on) per primary, $DURATION each, $CONNECTIONS connections, $(nproc) cores"
printf '%-8s %-6s %-6s %12s %10s\n' primary round mode req/s p99_ms
: > "$WORK/results.txt"
for primary in legacy service; do
  for round in $(seq "$ROUNDS"); do
    for mode in off on; do
      table "$primary" "$mode"
      read -r r p < <(run "$primary-$mode-$round")
      printf '%-8s %-6s %-6s %12s %10s\n' "$primary" "$round" "$mode" "$r" "$p"
      echo "$primary $mode $r $p" >> "$WORK/results.txt"
    done
  done
done
sleep 2
echo
python3 - "$WORK/results.txt" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
def mean(primary, mode, column):
    values = [float(r[column]) for r in rows if r[0] == primary and r[1] == mode]
    return sum(values) / len(values)
for primary, mirrored in (("legacy", "service (in-process)"), ("service", "legacy (nginx)")):
    off_rps, on_rps = mean(primary, "off", 2), mean(primary, "on", 2)
    off_p99, on_p99 = mean(primary, "off", 3), mean(primary, "on", 3)
    print(f"{primary} serves, {mirrored} mirrored:")
    print(f"  req/s   off {off_rps:9.0f}   on {on_rps:9.0f}   on/off {on_rps / off_rps:.3f}")
    print(f"  p99 ms  off {off_p99:9.2f}   on {on_p99:9.2f}   on/off {on_p99 / off_p99:.3f}")
PY
echo "shadow outcomes of route \"get-user\" over both directions (every mirror is accounted for):"
curl -sf "http://$ADMIN/-/shadow/routes/get-user" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ", json.dumps(d["counts"]), " match_rate:", d["match_rate"], " top differing fields:", json.dumps(d["top_fields"]))'
