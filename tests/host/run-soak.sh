#!/usr/bin/env bash
# run-soak.sh BINARY PLUGIN: tests/host/soak.c under valgrind memcheck: >= 1000
# collections (SOAK_ROUNDS x 5 monitors, mixed success and failure) through
# the plugin host, then shutdown. Fails on any memcheck error or any block
# definitely lost. Logs (valgrind's too) in $POP3_TEST_LOGS/soak.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$1
plugin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
export SOAK_LOGS=${POP3_TEST_LOGS:-$root/build/test-logs}/soak
export SOAK_CERTS=$root/build/test-certs
export SOAK_PLUGIN=$plugin
export SOAK_SERVER=$here/../harness/fake_pop3.py
rm -rf "$SOAK_LOGS"
mkdir -p "$SOAK_LOGS"
"$here/../harness/make-test-certs.sh" "$SOAK_CERTS"
status=0
valgrind --tool=memcheck --error-exitcode=1 --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --num-callers=40 --suppressions="$here/../harness/valgrind.supp" \
  --log-file="$SOAK_LOGS/valgrind.log" "$binary" 2>&1 |
  tee "$SOAK_LOGS/output.txt" || status=$?
errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$SOAK_LOGS/valgrind.log" | tail -n 1)
lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$SOAK_LOGS/valgrind.log" | tail -n 1)
lost=${lost:-0}
if [[ $status -ne 0 || ${errors:-x} != 0 || $lost != 0 ]]; then
  tail -n 80 "$SOAK_LOGS/valgrind.log"
  echo "soak: FAILED (exit $status, memcheck errors ${errors:-?}, definitely lost $lost bytes)"
  exit 1
fi
echo "soak: valgrind memcheck: 0 errors, 0 bytes definitely lost"
