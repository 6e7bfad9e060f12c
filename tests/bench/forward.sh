#!/usr/bin/env bash
# Benchmark: what the gateway costs per forwarded request, next to nginx and HAProxy.
#
# One run, one machine, loopback only, bounded in time. A stub legacy (nginx,
# one worker) answers `GET|POST /small` (62 bytes of JSON), `GET /64k`
# (65,536 bytes of JSON) and `GET /v1/accounts/users/{id}` (the user JSON the
# service returns for that id). In front of the same stub: nginx and HAProxy
# (one worker/thread each, keep-alive upstream pools, the gateway's header
# work: append X-Forwarded-For, set X-Forwarded-Proto/-Host, keep the
# client's X-Request-Id or make one) and the gateway's release build.
#
# Pinned: the stub, the proxies and the gateway on CPU 0 with one worker
# each (the gateway through GATEWAY_SERVER__WORKERS=1), wrk on CPU 1. Also
# unpinned (default workers, nothing pinned). Each scenario runs ROUNDS
# rounds, each round every target once in turn (so drift hits all alike),
# WARMUP + DURATION each; the table shows medians. It fails if any run had
# socket errors or a non-2xx answer.
#
# Then: shadowing (legacy serves GET user, mirrored to the in-process
# service, sample 1.0) with every mirror running and with the default
# headroom rule, next to nginx's `mirror`; in-process dispatch next to one
# forwarded hop to the same handler; idle RSS; and the memory of N idle
# keep-alive client connections, gateway and nginx.
#
#   tests/bench/forward.sh        # ROUNDS=3 WARMUP=2 DURATION=10 CONNECTIONS=64 IDLE_CONNECTIONS=10000
#   QUICK=1 tests/bench/forward.sh  # 1 round of 3 s: a smoke run of the script itself
#   PARTS=shadow,memory tests/bench/forward.sh   # only some parts: forward, shadow, hop, memory
#   BENCH_GATEWAY_BINARY=/path/to/gateway tests/bench/forward.sh   # measure another build
#   PROFILE_SHADOW=1 PARTS=shadow ROUNDS=1 tests/bench/forward.sh  # also a flat perf profile of each
#                     shadow run (linux-perf), and the functions whose CPU per request grew with mirrors
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
PARTS=${PARTS:-forward,shadow,hop,memory}
part() { [[ ",$PARTS," == *",$1,"* ]]; }
if [ -n "${QUICK:-}" ]; then ROUNDS=1; WARMUP=1; DURATION=3; IDLE_CONNECTIONS=1000; fi
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null || ! command -v haproxy >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx haproxy wrk >/dev/null
fi
if [ -n "${BENCH_GATEWAY_BINARY:-}" ]; then
  GATEWAY=$(realpath "$BENCH_GATEWAY_BINARY")   # another build, e.g. an earlier release to compare with
else
  cargo build --release -q -p gateway
  GATEWAY="$(cd "$TARGET_DIR/release" && pwd)/gateway"
fi
[ "$(nproc)" -ge 2 ] || { echo "pinning needs two CPUs" >&2; exit 1; }

WORK=$(mktemp -d)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for conf in "$WORK"/*.pid; do [ -f "$conf" ] && kill "$(cat "$conf")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
STUB=$(free_port); NGINX=$(free_port); HAPROXY=$(free_port)

# --- The gateway -------------------------------------------------------------
# start_gateway NAME PIN ROUTES [VAR=VALUE...]: starts it from $WORK/NAME/, sets NAME_LISTEN/NAME_ADMIN/NAME_PID.
start_gateway() {
  local name=$1 pin=$2 routes=$3; shift 3
  mkdir -p "$WORK/$name"
  printf '%s\n' "$routes" > "$WORK/$name/routes.toml"
  local run=("$GATEWAY")
  [ "$pin" = pinned ] && run=(taskset -c 0 "$GATEWAY")
  # The logs go elsewhere than the watched directory of routes.toml: a log
  # file beside it would wake the file watcher on every line.
  mkdir -p "$WORK/logs"
  (cd "$WORK/$name" && exec env RUST_LOG=warn GATEWAY_SERVER__ACCESS_LOG=false "$@" \
    "${run[@]}" serve --routes routes.toml --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    > "$WORK/logs/$name.out" 2> "$WORK/logs/$name.err") &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 300); do grep -q "gateway ready" "$WORK/logs/$name.out" 2>/dev/null && break; sleep 0.1; done
  grep -q "gateway ready" "$WORK/logs/$name.out" || { echo "gateway $name did not start:" >&2; cat "$WORK/logs/$name.err" >&2; exit 1; }
  printf -v "${name}_LISTEN" '%s' "$(sed -n 's/.*listen=\([^ ]*\) .*/\1/p' "$WORK/logs/$name.out")"
  printf -v "${name}_ADMIN" '%s' "$(sed -n 's/.*admin_listen=\([^ ]*\).*/\1/p' "$WORK/logs/$name.out")"
  printf -v "${name}_PID" '%s' "$pid"
}
stop_gateway() { local pid_var="${1}_PID"; kill "${!pid_var}" 2>/dev/null || true; wait "${!pid_var}" 2>/dev/null || true; }

routes_forwarding() { # legacy url → everything to legacy but the accounts writes
  cat <<TOML
[legacy]
url = "$1"
[shadow]
max_busy = ${2:-0.8}
[[routes]]
name = "accounts"
match = { prefix = "/v1/accounts" }
target = "service"
[[routes]]
name = "get-user"
match = { path = "/v1/accounts/users/{id}", methods = ["GET"] }
target = "legacy"
${3:-}
TOML
}

# A user to serve: created through the in-process service, its JSON saved for the stub.
start_gateway seed unpinned "$(routes_forwarding "http://127.0.0.1:$STUB")"
USER_PATH=$(curl -sf -D - -o "$WORK/user.json" -X POST "http://$seed_LISTEN/v1/accounts/users" \
  -H 'content-type: application/json' -d '{"email":"bench@example.com","full_name":"Bench Mark"}' \
  | tr -d '\r' | sed -n 's|^location: ||ip')
[ -n "$USER_PATH" ] || { echo "could not create the user" >&2; exit 1; }
stop_gateway seed
DB_DIR="$WORK/seed/data"

# --- The stub legacy and the two reference proxies --------------------------
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
small = json.dumps({"ok": True, "service": "legacy", "items": [1, 2, 3], "note": "x" * 6}, separators=(",", ":"))
assert len(small) == 62, len(small)
open(f"{work}/small.json", "w").write(small)
big = '{"data":"' + "x" * (65536 - 11) + '"}'
assert len(big) == 65536
open(f"{work}/64k.json", "w").write(big)
post = json.dumps({"payload": "y" * (4096 - 14)}, separators=(",", ":"))
assert len(post) == 4096, len(post)
open(f"{work}/post.json", "w").write(post)
PY
chmod 644 "$WORK"/*.json

cat > "$WORK/stub.conf" <<NGINX
daemon on; worker_processes 1; pid $WORK/stub.pid; error_log $WORK/stub-error.log;
events { worker_connections 16384; }
http {
  access_log off; keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$STUB; root $WORK; default_type application/json;
    location = /small { client_body_buffer_size 16k; return 200 '$(cat "$WORK/small.json")'; }
    location = /64k { try_files /64k.json =404; }
    location /v1/accounts/users/ { try_files /user.json =404; }
    location /mirrored/v1/accounts/users/ { try_files /user.json =404; }
  }
}
NGINX
cat > "$WORK/nginx.conf" <<NGINX
daemon on; worker_processes 1; pid $WORK/nginx.pid; error_log $WORK/nginx-error.log;
events { worker_connections 16384; }
http {
  access_log off; keepalive_requests 1000000;
  upstream legacy { server 127.0.0.1:$STUB; keepalive 128; keepalive_requests 1000000; }
  map \$http_x_request_id \$forwarded_request_id { "" \$request_id; default \$http_x_request_id; }
  server {
    listen 127.0.0.1:$NGINX;
    location = /mirror { internal; proxy_pass http://legacy\$request_uri; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location / {
      proxy_pass http://legacy; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Request-Id \$forwarded_request_id;
    }
    location /mirrored/ {
      mirror /mirror; mirror_request_body on;
      rewrite ^/mirrored(/.*)$ \$1 break;
      proxy_pass http://legacy; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Request-Id \$forwarded_request_id;
    }
  }
}
NGINX
cat > "$WORK/haproxy.cfg" <<HAPROXY
global
  nbthread 1
  maxconn 8000
  pidfile $WORK/haproxy.pid
  daemon
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  option forwardfor
  http-reuse always
frontend front
  bind 127.0.0.1:$HAPROXY
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Request-Id %[uuid] unless { req.hdr(x-request-id) -m found }
  default_backend legacy
backend legacy
  server stub 127.0.0.1:$STUB maxconn 1024
HAPROXY

start_proxies() { # pinned|unpinned
  local pin=()
  [ "$1" = pinned ] && pin=(taskset -c 0)
  for conf in stub nginx; do [ -f "$WORK/$conf.pid" ] && kill "$(cat "$WORK/$conf.pid")" 2>/dev/null; done
  [ -f "$WORK/haproxy.pid" ] && kill "$(cat "$WORK/haproxy.pid")" 2>/dev/null
  sleep 0.5
  local workers=1
  [ "$1" = unpinned ] && workers=auto
  sed -i "s/worker_processes [^;]*;/worker_processes $workers;/" "$WORK/nginx.conf"
  "${pin[@]}" nginx -c "$WORK/stub.conf"
  "${pin[@]}" nginx -c "$WORK/nginx.conf"
  if [ "$1" = pinned ]; then sed -i 's/^  nbthread .*/  nbthread 1/' "$WORK/haproxy.cfg"; else sed -i "s/^  nbthread .*/  nbthread $(nproc)/" "$WORK/haproxy.cfg"; fi
  "${pin[@]}" haproxy -q -f "$WORK/haproxy.cfg"
  sleep 0.5
  curl -sf "http://127.0.0.1:$STUB/small" | grep -q legacy || { echo "the stub does not answer" >&2; exit 1; }
}

# --- Measuring ---------------------------------------------------------------
# measure NAME URL [wrk args...] → "rps p50_ms p99_ms"; fails on errors or non-2xx.
measure() {
  local name=$1 url=$2; shift 2
  local wrk=(wrk)
  [ "${PINNED:-}" = 1 ] && wrk=(taskset -c 1 wrk)
  "${wrk[@]}" -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "$@" "$url" > /dev/null
  # A command to run between warm-up and measurement (the shadow runs reset their counts).
  if [ -n "${AFTER_WARMUP:-}" ]; then eval "$AFTER_WARMUP"; fi
  "${wrk[@]}" -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" > "$WORK/wrk-$name.txt"
  if grep -qE '^(  Non-2xx|  Socket errors)' "$WORK/wrk-$name.txt"; then
    echo "$name: errors or non-2xx answers:" >&2; cat "$WORK/wrk-$name.txt" >&2; exit 1
  fi
  python3 - "$WORK/wrk-$name.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
print(f"{rps:.0f} {p50:.3f} {p99:.3f}")
PY
}

post_lua() {
  cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$WORK/post.json"):read("*a")
wrk.headers["Content-Type"] = "application/json"
LUA
  echo "$WORK/post.lua"
}

RESULTS="$WORK/results.txt"
: > "$RESULTS"
# CPU 0's time per request, pinned: where each target's cost goes.
# proc_cpu PID → "user_ticks system_ticks involuntary_switches" (all threads).
proc_cpu() {
  local switches=0 n
  for status in /proc/"$1"/task/*/status; do
    n=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$status" 2>/dev/null) && switches=$((switches + ${n:-0}))
  done
  echo "$(awk '{print $14, $15}' "/proc/$1/stat") $switches"
}
# target_pid TARGET → the process that serves it (nginx: its one worker), empty for direct.
target_pid() {
  case $1 in
    nginx) pgrep -P "$(cat "$WORK/nginx.pid")" | head -1 ;;
    haproxy) cat "$WORK/haproxy.pid" ;;
    gateway) echo "$fwd_PID" ;;
  esac
}
CPU_ROWS="$WORK/cpu.txt"
: > "$CPU_ROWS"
# scenario SCENARIO PATH [wrk args...]: every target once per round, ROUNDS rounds.
scenario() {
  local scenario=$1 path=$2; shift 2
  for round in $(seq "$ROUNDS"); do
    for target in direct nginx haproxy gateway; do
      local base
      case $target in
        direct) base="127.0.0.1:$STUB" ;; nginx) base="127.0.0.1:$NGINX" ;;
        haproxy) base="127.0.0.1:$HAPROXY" ;; gateway) base="$fwd_LISTEN" ;;
      esac
      local pid="" stub_pid snapshot=""
      if [ "$PINNED" = 1 ]; then
        pid=$(target_pid "$target"); stub_pid=$(pgrep -P "$(cat "$WORK/stub.pid")" | head -1)
        snapshot="echo \"\$(proc_cpu $stub_pid) \$([ -n '$pid' ] && proc_cpu $pid || echo 0 0 0)\" > $WORK/cpu-before"
      fi
      read -r rps p50 p99 < <(AFTER_WARMUP="$snapshot" measure "$scenario-$target-$round" "http://$base$path" "$@")
      echo "$scenario|$target|$rps|$p50|$p99" >> "$RESULTS"
      if [ -n "$snapshot" ]; then
        local requests
        requests=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$WORK/wrk-$scenario-$target-$round.txt")
        echo "$scenario|$target|$requests|$(cat "$WORK/cpu-before")|$(proc_cpu "$stub_pid") $([ -n "$pid" ] && proc_cpu "$pid" || echo 0 0 0)" >> "$CPU_ROWS"
      fi
      printf '  %-34s %-8s round %s: %8s rps  p50 %7s ms  p99 %7s ms\n' "$scenario" "$target" "$round" "$rps" "$p50" "$p99" >&2
    done
  done
}

echo "forward benchmark: $ROUNDS rounds, ${WARMUP}s warm-up + ${DURATION}s, $CONNECTIONS connections, $(nproc) CPUs" >&2

if part forward; then
# Pinned.
PINNED=1
start_proxies pinned
start_gateway fwd pinned "$(routes_forwarding "http://127.0.0.1:$STUB")" GATEWAY_SERVER__WORKERS=1 DATABASE_URL="sqlite://$DB_DIR/project-alpha.sqlite?mode=rwc"
scenario "GET 62 B" /small
scenario "GET 64 KiB" /64k
scenario "POST 4 KiB JSON" /small -s "$(post_lua)"
stop_gateway fwd
start_gateway fwd pinned "$(routes_forwarding "http://127.0.0.1:$STUB")" GATEWAY_SERVER__WORKERS=1 GATEWAY_SERVER__ACCESS_LOG=true RUST_LOG=info DATABASE_URL="sqlite://$DB_DIR/project-alpha.sqlite?mode=rwc"
# The access log goes to a file, as a log collector would read it.
scenario "GET 62 B, access log on" /small
stop_gateway fwd

# Unpinned.
PINNED=0
start_proxies unpinned
start_gateway fwd unpinned "$(routes_forwarding "http://127.0.0.1:$STUB")" DATABASE_URL="sqlite://$DB_DIR/project-alpha.sqlite?mode=rwc"
scenario "unpinned GET 62 B" /small
stop_gateway fwd

python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = [line.strip().split("|") for line in open(sys.argv[1]) if line.strip()]
scenarios = list(dict.fromkeys(r[0] for r in rows))
def med(s, t, i):
    values = [float(r[i]) for r in rows if r[0] == s and r[1] == t]
    return statistics.median(values) if values else float("nan")
print()
print("| scenario | direct rps | nginx | HAProxy | gateway | p99 ms: direct / nginx / HAProxy / gateway |")
print("|---|---|---|---|---|---|")
for s in scenarios:
    direct = med(s, "direct", 2)
    ratios = [med(s, t, 2) / direct for t in ("nginx", "haproxy", "gateway")]
    p99 = " / ".join(f"{med(s, t, 4):.2f}" for t in ("direct", "nginx", "haproxy", "gateway"))
    print(f"| {s} | {direct:,.0f} | {ratios[0]:.3f} | {ratios[1]:.3f} | {ratios[2]:.3f} | {p99} |")
PY
python3 - "$CPU_ROWS" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys
# Per pinned run: requests, then (stub user, stub system, stub switches, target
# user, target system, target switches) before and after the measured window.
tick_us = 1e6 / int(sys.argv[2])
rows = {}
for line in open(sys.argv[1]):
    scenario, target, requests, before, after = line.strip().split("|")
    b, a = list(map(int, before.split())), list(map(int, after.split()))
    d = [y - x for x, y in zip(b, a)]
    n = int(requests)
    rows.setdefault((scenario, target), []).append(
        (d[3] * tick_us / n, d[4] * tick_us / n, d[5] / n, (d[0] + d[1]) * tick_us / n))
print()
print("CPU 0's time per request, pinned (medians of the rounds; clock ticks of 10 ms over the measured window):")
print()
print("| scenario | target | user µs | system µs | involuntary switches | stub µs (user + system) |")
print("|---|---|---|---|---|---|")
for (scenario, target), runs in rows.items():
    m = [statistics.median(r[i] for r in runs) for i in range(4)]
    if target == "direct":
        print(f"| {scenario} | direct | | | | {m[3]:.1f} |")
    else:
        print(f"| {scenario} | {target} | {m[0]:.1f} | {m[1]:.1f} | {m[2]:.2f} | {m[3]:.1f} |")
PY
fi

# --- Shadowing, pinned -------------------------------------------------------
SHADOW_ROWS="$WORK/shadow.txt"
: > "$SHADOW_ROWS"
# CPU time (user + system, all threads) a process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
shadow_run() { # label max_busy shadow-line
  start_gateway shd pinned "$(routes_forwarding "http://127.0.0.1:$STUB" "$2" "$3")" GATEWAY_SERVER__WORKERS=1 DATABASE_URL="sqlite://$DB_DIR/project-alpha.sqlite?mode=rwc"
  # Each run counts the comparisons of its measured window only: the
  # warm-up's first second, before the headroom rule has seen the load,
  # runs every mirror.
  # The gateway's CPU time is read over the same window: what a request
  # costs the gateway, apart from what the machine's noise does to rps.
  local reset="cpu_ticks $shd_PID > $WORK/cpu-start"
  [ -n "$3" ] && reset="curl -sf -X POST http://$shd_ADMIN/-/shadow/routes/get-user/reset > /dev/null; $reset"
  local profile=""
  if [ -n "${PROFILE_SHADOW:-}" ]; then
    # Sampled from CPU 1 (wrk's), over the measured window: the gateway's own CPU 0 is left alone.
    profile="$WORK/perf-$(echo "$1" | tr -c 'a-z0-9' '-').data"
    reset="$reset; (taskset -c 1 perf record -q -e cpu-clock -F 999 -p $shd_PID -o $profile -- sleep $DURATION > /dev/null 2>&1 &)"
  fi
  read -r rps _ p99 < <(AFTER_WARMUP="$reset" measure "shadow-$1" "http://$shd_LISTEN$USER_PATH")
  local ticks=$(($(cpu_ticks "$shd_PID") - $(cat "$WORK/cpu-start")))
  if [ -n "$profile" ]; then
    for _ in $(seq 100); do pgrep -f "perf record .*$profile" > /dev/null || break; sleep 0.2; done
    perf report -i "$profile" --no-children --stdio --sort symbol -F overhead,sample,symbol 2> /dev/null \
      | awk -v label="$1" -v rps="$rps" '/^ +[0-9.]+%/ {n=$2; $1=""; $2=""; print label "|" rps "|" n "|" substr($0, 3)}' >> "$WORK/profiles.txt" || true
  fi
  sleep 2
  local counts
  counts=$(curl -sf "http://$shd_ADMIN/-/shadow/routes/get-user" | python3 -c 'import json,sys; d=json.load(sys.stdin); c=d["counts"]; print(d["compared"], sum(c.values()))' 2>/dev/null || echo "0 0")
  echo "$1|$rps|$p99|$counts|$ticks" >> "$SHADOW_ROWS"
  stop_gateway shd
}
PINNED=1
: > "$WORK/profiles.txt"
if [ -n "${PROFILE_SHADOW:-}" ] && ! command -v perf > /dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf > /dev/null
fi
part shadow && start_proxies pinned
for round in $(seq "$ROUNDS"); do
  part shadow || break
  shadow_run off 0.8 ""
  shadow_run "on, every mirror (max_busy = 1.0)" 1.0 'shadow = { to = "service", sample = 1.0, ignore = ["/created_at", "/updated_at"] }'
  shadow_run "on, default headroom" 0.8 'shadow = { to = "service", sample = 1.0, ignore = ["/created_at", "/updated_at"] }'
  read -r rps _ _ < <(measure "nginx-plain-$round" "http://127.0.0.1:$NGINX$USER_PATH"); echo "nginx off|$rps|0|0 0" >> "$SHADOW_ROWS"
  read -r rps _ _ < <(measure "nginx-mirror-$round" "http://127.0.0.1:$NGINX/mirrored$USER_PATH"); echo "nginx mirror|$rps|0|0 0" >> "$SHADOW_ROWS"
done

# --- In-process dispatch next to one forwarded hop, pinned ------------------
HOP_ROWS="$WORK/hop.txt"
: > "$HOP_ROWS"
if part hop; then
part shadow || start_proxies pinned
start_gateway svc pinned "$(routes_forwarding "http://127.0.0.1:$STUB" 0.8 'target = "service"' | sed '/^target = "legacy"$/d')" GATEWAY_SERVER__WORKERS=1 DATABASE_URL="sqlite://$DB_DIR/project-alpha.sqlite?mode=rwc"
start_gateway hop pinned "$(routes_forwarding "http://$svc_LISTEN")" GATEWAY_SERVER__WORKERS=1 DATABASE_URL="sqlite://$DB_DIR/project-alpha.sqlite?mode=rwc"
for round in $(seq "$ROUNDS"); do
  read -r rps _ _ < <(measure "in-process-$round" "http://$svc_LISTEN$USER_PATH"); echo "in-process|$rps" >> "$HOP_ROWS"
  read -r rps _ _ < <(measure "one-hop-$round" "http://$hop_LISTEN$USER_PATH"); echo "one hop|$rps" >> "$HOP_ROWS"
done
fi

# --- Memory -------------------------------------------------------------------
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hold_idle() { # name host:port count: holds that many keep-alive connections open after one request each, until killed
  python3 - "$2" "$3" > "$WORK/hold-$1.out" 2>&1 <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
held = []
for _ in range(int(sys.argv[2])):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n")
    held.append(s)
for s in held:
    s.recv(65536)
print("held", flush=True)
time.sleep(600)
PY
  HOLDER=$!
}
conn_cost() { # name host:port pid → "name|rss before KiB|rss after KiB"
  local before after
  before=$(rss_kib "$3")
  hold_idle "$1" "$2" "$IDLE_CONNECTIONS"
  for _ in $(seq 600); do grep -q held "$WORK/hold-$1.out" 2>/dev/null && break; sleep 0.1; done
  grep -q held "$WORK/hold-$1.out" || { echo "could not hold $IDLE_CONNECTIONS connections to $1:" >&2; cat "$WORK/hold-$1.out" >&2; exit 1; }
  sleep 1
  after=$(rss_kib "$3")
  kill "$HOLDER" 2>/dev/null || true
  wait "$HOLDER" 2>/dev/null || true
  echo "$1|$before|$after"
}
MEM_ROWS="$WORK/mem.txt"
: > "$MEM_ROWS"
IDLE_RSS=0
if part memory; then
  [ -f "$WORK/nginx.pid" ] || start_proxies pinned
  start_gateway idle pinned "$(routes_forwarding "http://127.0.0.1:$STUB")" GATEWAY_SERVER__WORKERS=1 DATABASE_URL="sqlite://$DB_DIR/project-alpha.sqlite?mode=rwc"
  sleep 2
  IDLE_RSS=$(rss_kib "$idle_PID")
  conn_cost gateway "$idle_LISTEN" "$idle_PID" > "$MEM_ROWS"
  NGINX_WORKER=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)
  conn_cost nginx "127.0.0.1:$NGINX" "$NGINX_WORKER" >> "$MEM_ROWS"
fi

python3 - "$SHADOW_ROWS" "$HOP_ROWS" "$MEM_ROWS" "$IDLE_RSS" "$IDLE_CONNECTIONS" "$DURATION" "$(getconf CLK_TCK)" "$WORK/profiles.txt" <<'PY'
import statistics, sys
shadow = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
duration, tick = float(sys.argv[6]), 1 / float(sys.argv[7])
med = lambda label, i: statistics.median(float(r[i]) for r in shadow if r[0] == label)
print()
if shadow:
  off = med("off", 1)
  print("Shadowing, pinned (GET user; legacy serves, the in-process service is mirrored, sample 1.0):")
  for label in ("on, every mirror (max_busy = 1.0)", "on, default headroom"):
    rows = [r for r in shadow if r[0] == label]
    compared = sum(int(r[3].split()[0]) for r in rows)
    attempts = sum(int(r[3].split()[1]) for r in rows)
    share = compared / attempts if attempts else 0.0
    print(f"  gateway {label}: keeps {med(label, 1) / off:.3f} of its unshadowed {off:,.0f} rps; compared {compared} of {attempts} requests of the route ({share:.1%})")
    # Each round ran off, every mirror, default in a row: their ratios see the least drift.
    offs = [float(r[1]) for r in shadow if r[0] == "off"]
    paired = statistics.median(float(r[1]) / o for r, o in zip(rows, offs))
    print(f"    median of the per-round ratios to the same round's unshadowed run: {paired:.3f}")
  cpu = lambda label: statistics.median(int(r[4]) * tick * 1e6 / (float(r[1]) * duration) for r in shadow if r[0] == label and len(r) > 4)
  print(f"  gateway CPU per request (user + system, all threads, over the measured window): unshadowed {cpu('off'):.1f} µs, every mirror {cpu('on, every mirror (max_busy = 1.0)'):.1f} µs, default headroom {cpu('on, default headroom'):.1f} µs ({cpu('on, default headroom') / cpu('off') - 1:+.1%})")
  print(f"  nginx with `mirror`: keeps {med('nginx mirror', 1) / med('nginx off', 1):.3f} of its own {med('nginx off', 1):,.0f} rps (mirrored to the stub)")
profiles = [l.rstrip("\n").split("|", 3) for l in open(sys.argv[8]) if l.count("|") >= 3]
if profiles:
  # µs of CPU per request by function (999 samples a second of CPU), summed over the rounds.
  per_request = {}
  for label, rps, samples, symbol in profiles:
    per_request.setdefault(label, {})
    per_request[label][symbol] = per_request[label].get(symbol, 0.0) + int(samples) / 999 * 1e6 / (float(rps) * duration)
  off = per_request.get("off", {})
  for label in ("on, default headroom", "on, every mirror (max_busy = 1.0)"):
    on = per_request.get(label)
    if not on:
      continue
    grown = sorted(((on.get(f, 0.0) - off.get(f, 0.0), f) for f in set(on) | set(off)), reverse=True)
    print(f"  perf, CPU per request that grew from unshadowed to {label} (µs; {sum(on.values()):.1f} against {sum(off.values()):.1f} in all):")
    for delta, f in grown[:20]:
      print(f"    {delta:+6.2f}  {f[:120]}")
hop = [l.strip().split("|") for l in open(sys.argv[2]) if l.strip()]
hmed = lambda label: statistics.median(float(r[1]) for r in hop if r[0] == label)
if hop:
  print(f"In-process GET user: {hmed('in-process'):,.0f} rps; through one forwarded hop: {hmed('one hop'):,.0f} rps; ratio {hmed('in-process') / hmed('one hop'):.2f}x")
if int(sys.argv[4]):
  print(f"Idle RSS of a freshly started gateway: {int(sys.argv[4]) / 1024:.1f} MiB")
n = int(sys.argv[5])
for line in open(sys.argv[3]):
    name, before, after = line.strip().split("|")
    print(f"{n} idle keep-alive connections: {name} {int(before) / 1024:.1f} -> {int(after) / 1024:.1f} MiB, {(int(after) - int(before)) * 1024 / n / 1000:.2f} KB each")
PY
