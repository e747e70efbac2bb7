#!/usr/bin/env bash
# tests/e2e/server-matrix.sh PLUGIN: the plugin inside the real collectd daemon
# against every POP3 server Debian ships, in every mode (plain, SSL,
# STARTTLS), with every login method each server offers (and Auth auto),
# over IPv4 and IPv6. Every value must equal the server's own STAT, taken
# with Python's poplib. More rows per mode turn CollectMessageAge on: their
# ages must match the dates poplib reads with TOP (and those the test wrote).
#
#   SERVERS="dovecot cyrus" tests/e2e/server-matrix.sh build/pop3.so
#
# SERVERS (default: dovecot cyrus courier mailutils popa3d) picks the
# servers; each one is tests/servers/NAME.sh start|stop DIR, which writes
# DIR/env (SERVER_* keys; see tests/servers/dovecot.sh). A server whose
# script is missing or does not start is a failure, never skipped. The
# servers start in parallel and are stopped by PID on exit; the logs, the
# configuration without its passwords and the table are kept in
# $POP3_TEST_LOGS/matrix (default build/test-logs/matrix).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[[ $# -eq 1 && -f $1 ]] || { echo "usage: $0 PLUGIN.so" >&2; exit 2; }
plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PY=/usr/bin/python3 # not PATH's python: it may be a pyenv shim
START_TIMEOUT=300   # seconds for a server script to start its server (it
                    # may install its packages first)
STOP_TIMEOUT=30     # seconds for a server script to stop it
WAIT=75             # seconds for every monitor's two collections (Interval 30)
TERM_LIMIT=5        # seconds collectd may take to exit after SIGTERM
read -r -a servers <<<"${SERVERS:-dovecot cyrus courier mailutils popa3d}"
[[ ${#servers[@]} -gt 0 ]] || { echo "SERVERS is empty" >&2; exit 2; }
export POP3_TEST_LOGS=${POP3_TEST_LOGS:-$root/build/test-logs}

began=$(date +%s)
dir=$(mktemp -d /tmp/pop3-matrix.XXXXXX)
chmod 755 "$dir" # the servers' unprivileged processes must traverse it
collectd_pid=
helper_pid=
declare -A start_pid=() state=()
status=0

alive() { # PID: running (not a zombie)
  local s
  [[ -r /proc/$1/stat ]] || return 1
  s=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $s && $s != Z ]]
}

# stop_pid PID LIMIT: SIGTERM, wait up to LIMIT seconds, then SIGKILL;
# prints the seconds it took; fails when SIGKILL was needed.
stop_pid() {
  local pid=$1 limit=$2 t0 i
  t0=$(date +%s.%N)
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    echo "killed"
    return 1
  fi
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }'
}

env_value() { # NAME KEY: a value of the server's env, read as the contract says
  [[ -r $dir/$1/env ]] || return 0
  (
    set +u -a
    # shellcheck disable=SC1090
    . "$dir/$1/env"
    printf '%s\n' "${!2:-}"
  )
}

# keep_server_logs NAME: the files (or directories of files) its env names
# in SERVER_LOGS, into server-logs/NAME as *.log, for tests/harness/keep-logs.sh;
# *.log files inside DIR are kept where they are
keep_server_logs() {
  local path f dest
  for path in $(env_value "$1" SERVER_LOGS); do
    [[ -e $path ]] || continue
    while IFS= read -r -d '' f; do
      [[ $f == "$dir"/*.log ]] && continue
      dest=${f#/}
      dest=$dir/server-logs/$1/${dest//\//_}
      mkdir -p "$dir/server-logs/$1"
      cp "$f" "${dest%.log}.log" 2>/dev/null || true
    done < <(find "$path" -type f -size -20M -print0 2>/dev/null)
  done
}

# helper ARGS...: tests/e2e/server_matrix.py in the background, waited for with
# the wait builtin, so that a signal is handled at once
helper() {
  "$PY" "$here/server_matrix.py" "$@" &
  helper_pid=$!
  local rc=0
  wait "$helper_pid" || rc=$?
  helper_pid=
  return "$rc"
}

cleanup() {
  local rc=$? name pid took key
  [[ $status -ne 0 ]] || status=$rc # set -e ended the run: keep its status
  trap - INT TERM
  if [[ -n $helper_pid ]] && alive "$helper_pid"; then
    stop_pid "$helper_pid" 5 >/dev/null || true
  fi
  if [[ -n $collectd_pid ]] && alive "$collectd_pid"; then
    stop_pid "$collectd_pid" 10 >/dev/null || true
  fi
  for name in "${!start_pid[@]}"; do # a start still running
    if alive "${start_pid[$name]}"; then
      stop_pid "${start_pid[$name]}" 5 >/dev/null || true
    fi
  done
  for name in "${servers[@]}"; do
    [[ -x $here/../servers/$name.sh && -d $dir/$name ]] || continue
    timeout "$STOP_TIMEOUT" "$here/../servers/$name.sh" stop "$dir/$name" \
      >>"$dir/stop-$name.log" 2>&1 || echo "# $name: stop failed (stop-$name.log)"
    for pid in $(env_value "$name" SERVER_PIDS | tr ',' ' '); do
      [[ $pid =~ ^[0-9]+$ ]] || continue
      for _ in 1 2 3 4 5 6 7 8 9 10; do # 1 s of grace after the stop
        alive "$pid" || break
        sleep 0.1
      done
      alive "$pid" || continue
      took=$(stop_pid "$pid" 5) || true
      echo "FAIL - $name: PID $pid still ran after its stop ($took)"
      status=1
    done
    keep_server_logs "$name"
  done
  "$here/../harness/keep-logs.sh" "$dir" matrix
  if [[ -d $POP3_TEST_LOGS/matrix ]]; then
    cp "$dir/servers-table.md" "$dir/collectd.conf.txt" "$POP3_TEST_LOGS/matrix/" 2>/dev/null || true
    # the passwords, for tests/harness/check-secrets.sh
    for name in "${servers[@]}"; do
      for key in SERVER_PASS_EMPTY SERVER_PASS_FEW SERVER_PASS_MANY; do
        env_value "$name" "$key"
      done
    done | grep -v '^$' >"$POP3_TEST_LOGS/matrix/passwords.secrets" || true
  fi
  rm -rf "$dir"
  echo "# server matrix: $(($(date +%s) - began)) s; logs in $POP3_TEST_LOGS/matrix"
  exit "$status"
}
trap cleanup EXIT
trap 'echo "# server matrix: interrupted"; status=130; exit 130' INT TERM

# --- the servers, in parallel --------------------------------------------
for name in "${servers[@]}"; do
  [[ $name =~ ^[a-z0-9]+$ ]] || { echo "bad server name: $name" >&2; status=2; exit 2; }
  if [[ ! -x $here/../servers/$name.sh ]]; then
    state[$name]=missing
    continue
  fi
  mkdir -p "$dir/$name"
  timeout "$START_TIMEOUT" "$here/../servers/$name.sh" start "$dir/$name" \
    >"$dir/start-$name.log" 2>&1 &
  start_pid[$name]=$!
done
up=()
for name in "${servers[@]}"; do
  [[ -n ${start_pid[$name]:-} ]] || continue
  rc=0
  wait "${start_pid[$name]}" || rc=$?
  unset "start_pid[$name]"
  if [[ $rc -eq 0 && -r $dir/$name/env ]]; then
    state[$name]=up
    up+=("$name")
  else
    state[$name]=failed
    echo "# $name: start failed (exit $rc); tail of start-$name.log:"
    tail -n 15 "$dir/start-$name.log" | sed 's/^/#   /'
  fi
done
for name in "${servers[@]}"; do echo "$name ${state[$name]}"; done >"$dir/status"
echo "# servers: $(for n in "${servers[@]}"; do printf '%s=%s ' "$n" "${state[$n]}"; done)($(($(date +%s) - began)) s)"

# --- reference values, configuration, the daemon ----------------------------
if [[ ${#up[@]} -gt 0 ]]; then
  mkdir -p "$dir/plugins"
  cp "$plugin" "$dir/plugins/pop3.so" # collectd refuses a symlinked plugin
  # a delivery stamp (Cyrus's LMTP Received:) must not be older than this
  POP3_MATRIX_BEGAN=$began helper prepare "$dir" "$dir/plugins" "${up[@]}"
  collectd -f -C "$dir/collectd.conf" >"$dir/collectd.stdout" 2>&1 &
  collectd_pid=$!
  helper wait "$dir" "$WAIT" "$collectd_pid"
  if alive "$collectd_pid"; then
    took=$(stop_pid "$collectd_pid" 10) || true
    rc=0
    wait "$collectd_pid" || rc=$?
    echo "stopped=$took exit=$rc limit=$TERM_LIMIT" >"$dir/daemon"
  else
    rc=0
    wait "$collectd_pid" || rc=$?
    echo "stopped=early exit=$rc limit=$TERM_LIMIT" >"$dir/daemon"
  fi
  collectd_pid=
fi

helper report "$dir" || status=1
