#!/usr/bin/env bash
# Soak: a bounded run at a steady rate through a forwarded route, an
# in-process route and a shadowed route at once.
#
# nginx plays legacy; the gateway serves GET /legacy/… (forwarded), GET
# /v1/accounts/users/{id} (in-process, SQLite) and GET /v1/shadowed/{id}
# (legacy answers, mirrored to the service and compared). A Python driver
# (stdlib only) sends RATE requests per second to each route on keep-alive
# connections, for DURATION seconds, and reports:
#   - errors (anything but a 200, or a failed exchange): must be 0;
#   - p50/p99 latency of each route in the first and the last minute;
#   - the gateway's RSS at start (after warm-up) and at the end, and the
#     growth, which must stay under MAX_RSS_GROWTH_MIB (default 16 MiB).
# Exits non-zero when a bound is broken. Loopback only.
#
#   tests/bench/soak.sh                        # DURATION=300 RATE=50, release build
#   DURATION=120 SOAK_GATEWAY=target/debug/gateway tests/bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh

DURATION=${DURATION:-300}
RATE=${RATE:-50}
MAX_RSS_GROWTH_MIB=${MAX_RSS_GROWTH_MIB:-16}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
if [ -z "${SOAK_GATEWAY:-}" ]; then
  cargo build --release -q -p gateway
  SOAK_GATEWAY="$TARGET_DIR/release/gateway"
fi
GATEWAY="$(cd "$(dirname "$SOAK_GATEWAY")" && pwd)/$(basename "$SOAK_GATEWAY")"

work_dir

LEGACY_PORT=$(free_port)

{ accounts_routes "$LEGACY_PORT"; cat <<TOML; } > "$WORK/routes.toml"

[[routes]]
name = "shadowed"
match = { path = "/v1/shadowed/{id}", methods = ["GET"] }
target = "legacy"
shadow = { to = "service", sample = 1.0 }
TOML
start_gateway "$WORK" "$GATEWAY"
USER_PATH=$(curl -sf -D - -o "$WORK/doc.json" -X POST "http://$LISTEN/v1/accounts/users" \
  -H 'content-type: application/json' -d '{"email":"soak@example.com","full_name":"Soak Test"}' \
  | tr -d '\r' | sed -n 's|^location: ||ip')
USER_ID=${USER_PATH##*/}

serve_doc "$LEGACY_PORT"

echo "soak: ${DURATION}s at ${RATE} req/s on each of 3 routes, gateway pid $GW_PID ($GATEWAY)"
python3 - "$LISTEN" "$USER_ID" "$DURATION" "$RATE" "$GW_PID" "$MAX_RSS_GROWTH_MIB" <<'PY'
import http.client, sys, threading, time

listen, user_id, duration, rate, pid, max_growth = sys.argv[1:]
duration, rate, max_growth = int(duration), float(rate), float(max_growth)
host, port = listen.rsplit(":", 1)
routes = {
    "forwarded": "/legacy/page",
    "in-process": f"/v1/accounts/users/{user_id}",
    "shadowed": f"/v1/shadowed/{user_id}",
}

def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise SystemExit("the gateway is gone")

lock = threading.Lock()
samples = {name: [] for name in routes}   # (seconds since start, latency s)
errors = {name: 0 for name in routes}

def drive(name, path, start):
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    interval, n = 1.0 / rate, 0
    while True:
        due = start + n * interval
        if due - start >= duration:
            break
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent = time.monotonic()
        try:
            conn.request("GET", path)
            reply = conn.getresponse()
            reply.read()
            ok = reply.status == 200
        except Exception:
            ok = False
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
        took = time.monotonic() - sent
        with lock:
            if ok:
                samples[name].append((sent - start, took))
            else:
                errors[name] += 1
        n += 1

# Warm-up, then the start figure.
for path in routes.values():
    for _ in range(200):
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("GET", path); c.getresponse().read(); c.close()
time.sleep(2)
rss_start = rss_mib()
start = time.monotonic()
threads = [threading.Thread(target=drive, args=(n, p, start)) for n, p in routes.items()]
for t in threads: t.start()
for t in threads: t.join()
rss_end = rss_mib()

def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")

window = min(60, duration / 2)
print(f"{'route':<11} {'requests':>8} {'errors':>6} {'p50 first':>10} {'p99 first':>10} {'p50 last':>9} {'p99 last':>9}  (ms; first/last {window:.0f} s)")
for name in routes:
    first = [l for t, l in samples[name] if t < window]
    last = [l for t, l in samples[name] if t >= duration - window]
    print(f"{name:<11} {len(samples[name]) + errors[name]:>8} {errors[name]:>6} {pct(first, .5):>10.2f} {pct(first, .99):>10.2f} {pct(last, .5):>9.2f} {pct(last, .99):>9.2f}")
growth = rss_end - rss_start
print(f"RSS: {rss_start:.1f} MiB at start, {rss_end:.1f} MiB at the end, growth {growth:+.1f} MiB (bound {max_growth:.0f} MiB)")
failed = False
if sum(errors.values()):
    print(f"FAIL: {sum(errors.values())} errors"); failed = True
if growth > max_growth:
    print("FAIL: RSS grew past the bound"); failed = True
sys.exit(1 if failed else 0)
PY
