#!/usr/bin/env bash
# run-faults.sh BINARY PLUGIN [pending]: the fault matrix and the
# bad-configuration table (tests/host/test_faults.c) through the plugin host,
# against tests/harness/fake_pop3.py. Certificates come from tests/harness/make-test-certs.sh;
# every log is kept under $POP3_TEST_LOGS (default build/test-logs) in
# faults-<build dir>[-pending]/ for tests/harness/check-secrets.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$1
plugin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
logs_root=${POP3_TEST_LOGS:-$root/build/test-logs}
name=faults-$(basename "$(dirname "$plugin")")${1:+-$1}
export FAULT_LOGS=$logs_root/$name
export FAULT_CERTS=$root/build/test-certs
export FAULT_PLUGIN=$plugin
export FAULT_SERVER=$here/../harness/fake_pop3.py
rm -rf "$FAULT_LOGS"
mkdir -p "$FAULT_LOGS"
"$here/../harness/make-test-certs.sh" "$FAULT_CERTS"
status=0
"$binary" "$@" 2>&1 | tee "$FAULT_LOGS/output.txt" || status=$?
exit "$status"
