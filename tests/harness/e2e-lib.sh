# tests/harness/e2e-lib.sh: what the end-to-end scripts that run servers of
# their own share (tests/e2e/e2e-shipping.sh, tests/e2e/e2e-prometheus.sh).
# Source it after setting: dir (the run's directory, whose *.log files a
# failure shows), pids (an array of every PID the script started), PY (the
# Python used for small helpers) and STOP_WAIT (seconds from SIGTERM to
# SIGKILL).
# shellcheck shell=bash

passed=0

stop_pid() { # PID: SIGTERM, wait (bounded), SIGKILL; returns its exit status
  local pid=$1 i status=0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_WAIT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "# pid $pid ignored SIGTERM for ${STOP_WAIT}s: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || status=$?
  return "$status"
}

fail() {
  echo "FAIL: $*"
  local f
  for f in "$dir"/*.log "$dir"/*/*.log; do
    [[ -f $f ]] || continue
    echo "--- $f (last 30 lines):"
    tail -n 30 "$f"
  done
  exit 1
}
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
elapsed() { "$PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }
alive() { kill -0 "$1" 2>/dev/null; }

# free_ports N: N distinct ports free right now for both TCP and UDP on
# 127.0.0.1 (all held until all are picked, so they differ)
free_ports() {
  "$PY" - "$1" <<'PYEOF'
import socket, sys
want, held, ports = int(sys.argv[1]), [], []
while len(ports) < want:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    held.append(t)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    held.append(u)
    ports.append(port)
print(" ".join(map(str, ports)))
PYEOF
}

# wait_until SECONDS WHAT CMD...: poll CMD every 0.1 s until it succeeds
wait_until() {
  local limit=$1 what=$2 i
  shift 2
  for ((i = 0; i < limit * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  fail "$what: not within ${limit}s"
}

# harness_monitors: the <Monitor> blocks of the harness Dovecot's three
# mailboxes (its env loaded): few in plain text with a PasswordFile, many
# over implicit TLS, empty over STARTTLS
harness_monitors() {
  cat <<CONF
  <Monitor "few">
    Spread false
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    User "$POP3_USER_FEW"
    PasswordFile "$POP3_PASSWORD_FILE_FEW"
  </Monitor>
  <Monitor "many">
    Spread false
    Host "localhost"
    Port $POP3S_PORT
    SSL true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_MANY"
    Password "$POP3_PASS_MANY"
    Timeout 10
  </Monitor>
  <Monitor "empty">
    Spread false
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    StartTLS true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_EMPTY"
    Password "$POP3_PASS_EMPTY"
  </Monitor>
CONF
}
