#!/usr/bin/env bash
# End to end: alerts. The real collectd runs the pop3 plugin against the
# harness's Dovecot with collectd's threshold plugin configured as in the
# man page's ALERTS section, and the exec plugin's NotificationExec hands
# every notification to a consumer script that appends it to a file. Each
# threshold is pushed over its limit with what the harness gives:
#   email_count  WarningMax 2, below the few mailbox's 3 messages
#   response_time WarningMax 0.000001
#   timeleft/certificate WarningMin 1209600 (14 days; the test certificate
#     is valid 2 days)
#   bool/available FailureMin 1, on a monitor whose port is closed at the
#     first collection; a POP3 server starts on that port before the second
#     collection, which must bring the threshold's OKAY.
# About 35 s: two collections, 30 s apart.
#
# usage: tests/e2e/e2e-alerts.sh build/pop3.so
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

dir=$(mktemp -d /tmp/pop3-e2e-alerts.XXXXXX)
chmod 755 "$dir" # Dovecot's processes and the consumer (nobody) traverse it
collectd_pid=
fake_pid=
cleanup() {
  [[ -n $collectd_pid ]] && kill "$collectd_pid" 2>/dev/null || true
  [[ -n $fake_pid ]] && kill "$fake_pid" 2>/dev/null || true
  "$here/../harness/dovecot.sh" stop "$dir/dovecot" || true
  "$here/../harness/keep-logs.sh" "$dir" e2e-alerts
  rm -rf "$dir"
}
trap cleanup EXIT

passed=0
fail() {
  echo "FAIL: $*"
  echo "--- notifications:"; cat "$dir/notify/notifications" 2>/dev/null || true
  echo "--- collectd log:"; cat "$dir/collectd.log" 2>/dev/null || true
  exit 1
}
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }

mkdir -p "$dir/dovecot" "$dir/plugins" "$dir/notify"
chmod 1777 "$dir/notify" # the consumer runs as nobody
"$here/../harness/dovecot.sh" start "$dir/dovecot"
set -a
# shellcheck disable=SC1091
. "$dir/dovecot/env"
set +a
# collectd refuses a symlinked plugin: copy it
cp "$plugin" "$dir/plugins/pop3.so"

# The consumer: collectd-exec(5) gives a notification on stdin as header
# lines, a blank line, then the message. One line per notification.
cat > "$dir/notify.sh" <<'SH'
#!/bin/sh
severity= plugin= pinst= type= tinst=
while IFS= read -r line && [ -n "$line" ]; do
  case $line in
    Severity:*) severity=${line#Severity: } ;;
    Plugin:*) plugin=${line#Plugin: } ;;
    PluginInstance:*) pinst=${line#PluginInstance: } ;;
    Type:*) type=${line#Type: } ;;
    TypeInstance:*) tinst=${line#TypeInstance: } ;;
  esac
done
message=$(tr '\n' ' ' | sed 's/ *$//')
printf 'severity=%s plugin=%s plugin_instance=%s type=%s type_instance=%s message=%s\n' \
  "$severity" "$plugin" "$pinst" "$type" "$tinst" "$message" >> "$1"
SH
chmod 755 "$dir/notify.sh"
log=$dir/notify/notifications

# A port with nothing listening: bound, then released.
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cat > "$dir/collectd.conf" <<CONF
Hostname "e2e-host"
BaseDir "$dir"
PIDFile "$dir/collectd.pid"
Interval 30
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/collectd.log"
  Timestamp false
</Plugin>
LoadPlugin exec
<Plugin exec>
  NotificationExec "nobody" "$dir/notify.sh" "$log"
</Plugin>
LoadPlugin threshold
<Plugin threshold>
  <Plugin "pop3">
    <Type "email_count">
      WarningMax 2
      FailureMax 500
    </Type>
    <Type "bool">
      Instance "available"
      FailureMin 1
    </Type>
    <Type "timeleft">
      Instance "certificate"
      WarningMin 1209600
    </Type>
    <Type "response_time">
      WarningMax 0.000001
    </Type>
  </Plugin>
</Plugin>
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
  <Monitor "few-ssl">
    Host "localhost"
    Port $POP3S_PORT
    SSL true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_FEW"
    Password "$POP3_PASS_FEW"
  </Monitor>
  <Monitor "comes-back">
    Host "127.0.0.1"
    Port $port
    User "alerts"
    Password "secret"
    Timeout 3
  </Monitor>
</Plugin>
CONF

start=$SECONDS
collectd -f -C "$dir/collectd.conf" > "$dir/collectd.stdout" 2>&1 &
collectd_pid=$!

# wait_for SECONDS PATTERN: until a notification line matches (ERE)
wait_for() {
  local limit=$1 pattern=$2 i
  for ((i = 0; i < limit * 10; i++)); do
    grep -Eq -- "$pattern" "$log" 2>/dev/null && return 0
    kill -0 "$collectd_pid" 2>/dev/null || fail "collectd exited early"
    sleep 0.1
  done
  return 1
}
expect() { # SECONDS PATTERN WHAT
  wait_for "$1" "$2" || fail "no notification: $3 (pattern: $2)"
  ok "$3"
}

p='plugin=pop3 plugin_instance'
expect 15 "^severity=WARNING $p=few-ssl type=email_count type_instance= message=.*above the warning threshold of 2" \
  "email_count 3 over WarningMax 2: WARNING, pop3-few-ssl/email_count"
expect 5 "^severity=WARNING $p=few-ssl type=response_time type_instance= message=.*above the warning threshold" \
  "response_time over WarningMax 0.000001: WARNING, pop3-few-ssl/response_time"
expect 5 "^severity=WARNING $p=few-ssl type=timeleft type_instance=certificate message=.*below the warning threshold of 1209600" \
  "certificate valid under 14 days: WARNING, pop3-few-ssl/timeleft-certificate"
expect 5 "^severity=FAILURE $p=comes-back type=bool type_instance=available message=.*below the failure threshold of 1" \
  "closed port, available 0 under FailureMin 1: FAILURE, pop3-comes-back/bool-available"
expect 5 "^severity=FAILURE $p=comes-back type= type_instance= message=.*connect" \
  "the plugin's own FAILURE notification for the closed port"
# collectd 5.12 sends OKAY for a threshold's first value in range, so the
# monitor that is up may get one; never a WARNING or a FAILURE.
! grep -Eq "^severity=(WARNING|FAILURE) $p=few-ssl type=bool" "$log" ||
  fail "an availability alert for the monitor that is up"
ok "no availability alert for the monitor that is up"

# The server comes up on the closed port before the second collection.
/usr/bin/python3 "$here/../harness/fake_pop3.py" --scenario ok --port "$port" \
  --port-file "$dir/fake.port" --exit-with-parent &
fake_pid=$!
for _ in $(seq 1 50); do [[ -s $dir/fake.port ]] && break; sleep 0.1; done
[[ -s $dir/fake.port ]] || fail "the POP3 server did not start on port $port"

expect 40 "^severity=OKAY $p=comes-back type=bool type_instance=available message=" \
  "server back: OKAY, pop3-comes-back/bool-available"
expect 5 "^severity=OKAY $p=comes-back type= type_instance= message=.*collecting again" \
  "the plugin's own OKAY notification on recovery"
grep -q ' CMD STAT$' "$dir/fake.port.log" || fail "the second collection did not reach STAT"
ok "recovered after $((SECONDS - start)) s"

kill -TERM "$collectd_pid"
for _ in $(seq 1 100); do kill -0 "$collectd_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$collectd_pid" 2>/dev/null && fail "collectd did not stop within 10 s"
wait "$collectd_pid" || fail "collectd -f exited with $?"
collectd_pid=
ok "collectd -f stopped"

echo "--- notifications received:"
cat "$log"
echo "# e2e-alerts: $passed checks passed"
