#!/usr/bin/env bash
# Starts the test Dovecot instances, runs the integration binaries against
# them with their environment, one after the other (all of them, even when
# one fails), and always stops them by PID.
#   tests/engine/run-integration.sh BINARY...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if (($# == 0)); then
  echo "usage: $0 BINARY..." >&2
  exit 2
fi

dir=$(mktemp -d /tmp/pop3-it.XXXXXX)
# logs kept for tests/harness/check-secrets.sh, e.g. test_integration-build-asan
logname=$(basename "$1")-$(basename "$(dirname "$1")")
cleanup() {
  "$here/../harness/dovecot.sh" stop "$dir" || true
  "$here/../harness/keep-logs.sh" "$dir" "$logname"
  rm -rf "$dir"
}
trap cleanup EXIT

"$here/../harness/dovecot.sh" start "$dir"
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
# A port nothing listens on: bound by the kernel, then released.
POP3_CLOSED_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export POP3_CLOSED_PORT
export POP3_FAKE_SERVER="$here/../harness/fake_pop3.py"
rc=0
for binary in "$@"; do
  "$binary" 2>&1 | tee -a "$dir/output.txt" || rc=1
done
((rc == 0))
