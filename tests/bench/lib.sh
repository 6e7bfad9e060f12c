# Shared by the bench scripts: `. tests/bench/lib.sh` (after `cd` to the repository root).

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_gateway DIR BINARY: serves DIR/routes.toml on ephemeral ports (warn-level
# log, no access log), waits for its ready line, and sets GW_PID (the gateway's
# own pid), LISTEN and ADMIN. Exits with its stderr when it does not start.
start_gateway() {
  local dir=$1 binary=$2
  (cd "$dir" && RUST_LOG=warn GATEWAY_SERVER__ACCESS_LOG=false exec \
    "$binary" serve --routes routes.toml --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    > "$dir/gateway.out" 2> "$dir/gateway.err") &
  GW_PID=$!
  for _ in $(seq 300); do grep -q "gateway ready" "$dir/gateway.out" 2>/dev/null && break; sleep 0.1; done
  grep -q "gateway ready" "$dir/gateway.out" || { echo "the gateway did not start:" >&2; cat "$dir/gateway.err" >&2; exit 1; }
  LISTEN=$(sed -n 's/.*listen=\([^ ]*\) .*/\1/p' "$dir/gateway.out")
  ADMIN=$(sed -n 's/.*admin_listen=\([^ ]*\).*/\1/p' "$dir/gateway.out")
}

# work_dir: sets WORK to a new temporary directory, removed at exit after the
# gateway (GW_PID) and the nginx of WORK/nginx.pid are stopped.
work_dir() {
  WORK=$(mktemp -d)
  trap cleanup_work EXIT
}
cleanup_work() {
  [ -n "${GW_PID:-}" ] && kill "$GW_PID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}

# serve_small PORT [PREFIX...]: the stub legacy of the forwarding benchmarks,
# one nginx worker on PORT answering `GET /small` with 62 bytes of JSON; its
# pid in WORK/nginx.pid. PREFIX runs nginx (`taskset -c 0`, say).
serve_small() {
  local port=$1
  shift
  cat > "$WORK/stub.conf" <<NGINX
daemon on; worker_processes 1; pid $WORK/nginx.pid; error_log $WORK/stub-error.log;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; default_type application/json;
  server { listen 127.0.0.1:$port; location = /small { return 200 '{"ok":true,"service":"legacy","items":[1,2,3],"note":"xxxxxx"}'; } }
}
NGINX
  "$@" nginx -c "$WORK/stub.conf"
}

# accounts_routes PORT: the start of a routes.toml with legacy on PORT and
# /v1/accounts on the service; a script appends its own routes.
accounts_routes() {
  printf '[legacy]\nurl = "http://127.0.0.1:%s"\n\n[[routes]]\nname = "accounts"\nmatch = { prefix = "/v1/accounts" }\ntarget = "service"\n' "$1"
}

# serve_doc PORT: one nginx worker on PORT answering every request with WORK/doc.json.
serve_doc() {
  cat > "$WORK/nginx.conf" <<NGINX
daemon on;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$1;
    root $WORK;
    location / { default_type application/json; rewrite ^ /doc.json break; }
  }
}
NGINX
  # nginx's workers run unprivileged: let them read the document.
  chmod 755 "$WORK" && chmod 644 "$WORK/doc.json"
  nginx -c "$WORK/nginx.conf"
}
