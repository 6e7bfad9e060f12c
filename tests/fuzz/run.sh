#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time each: tests/fuzz/run.sh [SECONDS] [TARGET…]
#
# SECONDS defaults to 20 (what .ci/run uses); for a long run, e.g. 3600.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Each target starts from its corpus in tests/fuzz/corpus/TARGET (kept in the
# repository, seeded from the test cases); new inputs found are written to a
# scratch copy, so a run leaves the repository unchanged. A crash stops the
# run with the input saved under tests/fuzz/artifacts/TARGET/: turn it into
# a regression test next to the code it broke, and add it to the corpus.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(routes_toml path_match json_compare)
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is needed (cargo install cargo-fuzz --locked)" >&2
  exit 1
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  echo "== fuzz $target for ${seconds}s"
  # -rss_limit_mb and -timeout turn runaway memory or time into findings too.
  status=0
  cargo +nightly fuzz run --fuzz-dir . "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"$scratch/$target.log" 2>&1 || status=$?
  grep -E "(DONE|stat::number_of_executed_units|panicked|ERROR|SUMMARY|Test unit written|^error)" "$scratch/$target.log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$scratch/$target.log" >&2
    echo "fuzz: $target failed (a finding is saved under tests/fuzz/artifacts/$target/)" >&2
    exit 1
  fi
done
echo "fuzz: every target ran ${seconds}s without a failure"
