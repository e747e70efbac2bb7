#!/usr/bin/env bash
# keep-logs.sh DIR NAME: before a suite removes its scratch directory DIR,
# copies the logs and outputs in it (*.log, *.out, *.stdout, *.stderr,
# stderr, *.txt, the harness's env files and *.secrets, which name the test
# passwords)
# to $POP3_TEST_LOGS/NAME, replacing what an earlier run kept there. Does
# nothing when POP3_TEST_LOGS is unset. tests/harness/check-secrets.sh greps them.
set -uo pipefail
src=$1
name=$2
[[ -n ${POP3_TEST_LOGS:-} && -d $src ]] || exit 0
dest=$POP3_TEST_LOGS/$name
rm -rf "$dest"
mkdir -p "$dest"
cd "$src" || exit 0
find . -type f -size -20M \( -name '*.log' -o -name '*.out' -o -name '*.stdout' \
  -o -name '*.stderr' -o -name stderr -o -name '*.txt' -o -name env \
  -o -name '*.secrets' \) \
  -print0 2>/dev/null |
  while IFS= read -r -d '' f; do
    mkdir -p "$dest/$(dirname "$f")"
    cp -p "$f" "$dest/$f" 2>/dev/null || true
  done
exit 0
