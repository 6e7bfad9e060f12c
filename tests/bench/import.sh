#!/usr/bin/env bash
# Benchmark: `migration import-users` with ROWS users (default 1 000 000).
#
# Generates a JSON Lines export (and the same rows as CSV) with random v4
# ids, then, with a release build, times:
#   - the import into a fresh SQLite file, and a second run of the same file
#     (idempotence: every row `unchanged`);
#   - the same into a fresh database on a throwaway PostgreSQL cluster
#     (started here on loopback, as the `postgres` user when root; default
#     durability settings);
#   - the CSV file into another fresh SQLite file.
# Each run must end with the expected counts, or the script fails.
# Everything lives in one temporary directory, removed at exit.
#
#   tests/bench/import.sh                 # ROWS=1000000
#   ROWS=2000000 tests/bench/import.sh    # the peak RSS must not grow with ROWS
#   IMPORT_BIN=target/debug/migration ROWS=100000 tests/bench/import.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

ROWS=${ROWS:-1000000}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

if [ ! -x "$PGBIN/initdb" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
if [ -n "${IMPORT_BIN:-}" ]; then
  BIN="$(cd "$(dirname "$IMPORT_BIN")" && pwd)/$(basename "$IMPORT_BIN")"
else
  cargo build --release -q -p migration
  BIN="$PWD/$TARGET_DIR/release/migration"
  [[ "$TARGET_DIR" = /* ]] && BIN="$TARGET_DIR/release/migration"
fi

WORK=$(mktemp -d)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  if [ -f "$WORK/pg/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "generating $ROWS rows..."
python3 - "$ROWS" "$WORK/users.jsonl" "$WORK/users.csv" <<'PY'
import csv, json, random, sys, uuid
from datetime import datetime, timedelta, timezone
rows, jsonl_path, csv_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = random.Random(42)
epoch = datetime(2010, 1, 1, tzinfo=timezone.utc)
with open(jsonl_path, "w") as jf, open(csv_path, "w", newline="") as cf:
    writer = csv.writer(cf, lineterminator="\n")
    writer.writerow(["id", "email", "full_name", "is_active", "created_at", "updated_at"])
    for n in range(rows):
        user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = epoch + timedelta(microseconds=rng.randrange(400_000_000_000_000))
        updated = created + timedelta(microseconds=rng.randrange(50_000_000_000_000))
        row = {
            "id": user_id,
            "email": f"User.{n}@Example.com",
            "full_name": f"Legacy User {n}",
            "is_active": n % 7 != 0,
            "created_at": created.isoformat().replace("+00:00", "Z"),
            "updated_at": updated.isoformat().replace("+00:00", "Z"),
        }
        jf.write(json.dumps(row, separators=(",", ":")) + "\n")
        writer.writerow([row["id"], row["email"], row["full_name"],
                         "true" if row["is_active"] else "false",
                         row["created_at"], row["updated_at"]])
PY
echo "export: $(du -h "$WORK/users.jsonl" | cut -f1) JSON Lines, $(du -h "$WORK/users.csv" | cut -f1) CSV"

# The throwaway PostgreSQL cluster.
mkdir -p "$WORK/pg"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$WORK/pg"
chmod 755 "$WORK"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$WORK/pg/initdb.log"
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $WORK/pg" start >/dev/null
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qAt -c 'CREATE DATABASE accounts'
PG_URL="postgres://postgres@127.0.0.1:$PGPORT/accounts"

results=()
# run LABEL URL FILE EXPECTED_COUNTS
run() {
  local label=$1 url=$2 file=$3 expected=$4 summary
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" \
    "$BIN" --database-url "$url" import-users "$file" >"$WORK/out.txt" 2>"$WORK/err.txt" || {
      echo "$label failed:"; cat "$WORK/out.txt" "$WORK/err.txt"; exit 1; }
  summary=$(grep '^read=' "$WORK/out.txt")
  if [[ "$summary" != "$expected "* ]]; then
    echo "$label: expected '$expected', got '$summary'"; exit 1
  fi
  read -r wall rss_kb <"$WORK/time.txt"
  local rate
  rate=$(python3 -c "print(f'{$ROWS / $wall:,.0f}')")
  printf '%-24s %8ss %12s rows/s %6s MiB   %s\n' "$label" "$wall" "$rate" "$((rss_kb / 1024))" "$summary"
  results+=("$label $wall")
}

FIRST="read=$ROWS inserted=$ROWS updated=0 unchanged=0 rejected=0"
AGAIN="read=$ROWS inserted=0 updated=0 unchanged=$ROWS rejected=0"
echo "import-users benchmark: $ROWS rows, $(nproc) cores, $BIN"
printf '%-24s %9s %19s %10s   %s\n' run wall rate max_rss summary
run "sqlite jsonl (fresh)" "sqlite://$WORK/sqlite/jsonl.sqlite?mode=rwc" "$WORK/users.jsonl" "$FIRST"
run "sqlite jsonl (again)" "sqlite://$WORK/sqlite/jsonl.sqlite?mode=rwc" "$WORK/users.jsonl" "$AGAIN"
run "postgres jsonl (fresh)" "$PG_URL" "$WORK/users.jsonl" "$FIRST"
run "postgres jsonl (again)" "$PG_URL" "$WORK/users.jsonl" "$AGAIN"
run "sqlite csv (fresh)" "sqlite://$WORK/sqlite/csv.sqlite?mode=rwc" "$WORK/users.csv" "$FIRST"
count=$(as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qAt -d accounts -c 'SELECT count(*) FROM users')
[ "$count" = "$ROWS" ] || { echo "postgres holds $count users, expected $ROWS"; exit 1; }
echo "ok: every run ended with the expected counts; postgres holds $count users"
