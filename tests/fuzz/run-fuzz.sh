#!/usr/bin/env bash
# run-fuzz.sh BINARY SECONDS [JOBS [SEEDS]]: runs the libFuzzer target
# tests/fuzz/fuzz_session.c for SECONDS in JOBS parallel processes (default 1),
# each on its own copy of the corpus (build/fuzz/corpus, grown from the seeds
# in tests/fuzz/corpus/), and prints how many inputs ran clean. A crash
# leaves its input in build/fuzz/artifacts/ and fails the run; replay it with
# `BINARY FILE`. Logs go to $POP3_TEST_LOGS/fuzz.
# Another target names its seed directory SEEDS; its corpus, artifacts and
# logs are then named after the binary (fuzz_headers: build/fuzz-headers/,
# $POP3_TEST_LOGS/fuzz-headers), so that no two targets share a corpus.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
seconds=$2
jobs=${3:-1}
seeds=$here/corpus
name=fuzz
if [[ -n ${4:-} ]]; then
  seeds=$(cd "$4" && pwd)
  base=$(basename "$binary")
  name=fuzz-${base#fuzz_}
fi
work=$(dirname "$binary")/$name
logs=${POP3_TEST_LOGS:-$root/build/test-logs}/$name
mkdir -p "$work/corpus" "$work/artifacts" "$logs"
# any sanitizer report stops the run, except the known bugs named there
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$here/../harness/ubsan.supp
rm -f "$logs"/job-*.log

# the seeds first, alone: every one must pass as it is
"$binary" -runs=0 "$seeds" > "$logs/seeds.log" 2>&1 || {
  cat "$logs/seeds.log"; echo "fuzz: a seed input fails"; exit 1; }

start=$(date +%s)
pids=()
for j in $(seq 1 "$jobs"); do
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -seed="$((start + j))" \
    -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$seeds" > "$logs/job-$j.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=$?; done
elapsed=$(( $(date +%s) - start ))
runs=$(awk '/^stat::number_of_executed_units:/ { n += $2 } END { print n + 0 }' "$logs"/job-*.log)
corpus=$(find "$work/corpus" -type f | wc -l)
if [[ $status -ne 0 ]]; then
  for f in "$logs"/job-*.log; do
    grep -q -E 'ERROR|invariant|deadly|runtime error' "$f" && tail -n 60 "$f"
  done
  echo "fuzz: FAILED after $runs executions ($jobs job(s), $elapsed s); inputs in $work/artifacts/"
  exit 1
fi
echo "fuzz: $runs executions clean in $elapsed s ($jobs job(s), corpus $corpus inputs)"
echo "$(date -u +%Y-%m-%dT%H:%MZ) $runs executions clean, $jobs job(s), $seconds s" >> "$logs/history.txt"
