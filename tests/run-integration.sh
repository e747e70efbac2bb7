#!/usr/bin/env bash
# Starts the test Dovecot instances, runs the integration binary against
# them with their environment, and always stops them by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=$1

dir=$(mktemp -d /tmp/pop3-it.XXXXXX)
cleanup() {
  "$here/dovecot.sh" stop "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT

"$here/dovecot.sh" start "$dir"
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
# A port nothing listens on: bound by the kernel, then released.
POP3_CLOSED_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export POP3_CLOSED_PORT
export POP3_FAKE_SERVER="$here/fake_pop3.py"
"$binary"
