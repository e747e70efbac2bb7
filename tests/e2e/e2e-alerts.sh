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
#   duration/oldest_message WarningMax 300, FailureMax 900, on a monitor with
#     CollectMessageAge true whose oldest message arrived 20 minutes before
#     the start; before the second collection the test swaps the mailbox's
#     messages for one that arrived 2 minutes ago, which must bring OKAY.
#     Its newest message (10 minutes) and the phase durations of the same
#     type must raise nothing. The same threshold on a second monitor,
#     "draining", whose 1200 messages are all taken out before the second
#     collection: an empty mailbox has no age value, and the plugin's own
#     OKAY for duration/oldest_message says the queue was drained.
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

# The consumer (nobody runs it, so it is copied where nobody can reach it)
cp "$here/../harness/notify-consumer.sh" "$dir/notify.sh"
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
    <Type "duration">
      Instance "oldest_message"
      DataSource "seconds"
      WarningMax 300
      FailureMax 900
      Interesting false
      # Not in the recipe: every phase duration is far below 5 s, so this
      # warns for them if the block reaches beyond oldest_message.
      WarningMin 5
    </Type>
  </Plugin>
</Plugin>
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
  <Monitor "few-ssl">
    Spread false
    Host "localhost"
    Port $POP3S_PORT
    SSL true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_FEW"
    Password "$POP3_PASS_FEW"
  </Monitor>
  <Monitor "comes-back">
    Spread false
    Host "127.0.0.1"
    Port $port
    User "alerts"
    Password "secret"
    Timeout 3
  </Monitor>
  <Monitor "aging">
    Spread false
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    User "$POP3_USER_BEARER"
    Auth "oauthbearer"
    TokenFile "$POP3_TOKEN_FILE_BEARER"
    CollectMessageAge true
  </Monitor>
  <Monitor "draining">
    Spread false
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    User "$POP3_USER_MANY"
    Password "$POP3_PASS_MANY"
    CollectMessageAge true
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
# current VALUE of the last notification matching PATTERN (threshold messages
# say "is currently 1234.000000" and, on OKAY, "Current value of ... is 12.0")
current() {
  grep -E -- "$1" "$log" | tail -n 1 |
    sed -nE 's/.*(is currently|Current value of "seconds" is) ([0-9]+(\.[0-9]+)?).*/\2/p'
}
# near VALUE EXPECTED: within 5 s below (the notification's way to the
# consumer) and 1 s above (whole-second dates)
near() { [[ -n $1 ]] && /usr/bin/python3 -c 'import sys; v, e = map(float, sys.argv[1:]); sys.exit(not e - 5 <= v <= e + 1)' "$1" "$2"; }
what='Host e2e-host, plugin pop3 \(instance aging\) type duration \(instance oldest_message\)'
age_failure="^severity=FAILURE $p=aging type=duration type_instance=oldest_message message=$what: \
Data source \"seconds\" is currently [0-9]+\.[0-9]+\. That is above the failure threshold of 900\.000000\.\$"
expect 5 "$age_failure" \
  "oldest message 20 min old over FailureMax 900: FAILURE, pop3-aging/duration-oldest_message"
age=$(current "$age_failure")
want=$(($(date +%s) - POP3_BEARER_FIRST_DATE))
near "$age" "$want" || fail "FAILURE says the oldest message is $age s old, expected about $want s"
ok "the FAILURE gives the oldest message's age: $age s (expected about $want s)"

# Between the collections, the mailbox of the aging monitor (the test's own
# Dovecot) trades its messages for one that arrived 2 minutes ago.
maildir=$dir/dovecot/home/$POP3_USER_BEARER/Maildir
[[ -d $maildir/cur ]] || fail "no maildir at $maildir"
arrived=$(($(date +%s) - 120))
fresh=$arrived.M1P$$.pop3test
{
  printf 'Received: from sender.example.test by localhost (test); %s\r\n' \
    "$(LC_ALL=C date -u -d "@$arrived" '+%a, %d %b %Y %H:%M:%S +0000')"
  printf 'From: <sender@example.test>\r\nTo: <%s@example.test>\r\n' "$POP3_USER_BEARER"
  printf 'Subject: fresh\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\nfresh\r\n'
} > "$maildir/tmp/$fresh"
chown nobody:nogroup "$maildir/tmp/$fresh"
mv "$maildir/tmp/$fresh" "$maildir/new/$fresh"
rm -f "$maildir"/cur/*.pop3test,*
[[ -z $(ls "$maildir/cur") ]] || fail "old messages left in $maildir/cur: $(ls "$maildir/cur")"
ok "aging's mailbox now holds one message, arrived 2 minutes ago"
drain_failure="^severity=FAILURE $p=draining type=duration type_instance=oldest_message message=.*above the failure threshold of 900\.000000\.\$"
expect 5 "$drain_failure" "draining: its 200 h old message over FailureMax 900: FAILURE"
drained=$dir/dovecot/home/$POP3_USER_MANY/Maildir
rm -f "$drained"/cur/*.pop3test,*
[[ -z $(find "$drained/cur" "$drained/new" -type f) ]] || fail "messages left in $drained"
ok "draining's mailbox is now empty"
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

age_okay="^severity=OKAY $p=aging type=duration type_instance=oldest_message message=$what: \
All data sources are within range again\. Current value of \"seconds\" is [0-9]+\.[0-9]+\.\$"
expect 10 "$age_okay" "fresh mailbox: OKAY, pop3-aging/duration-oldest_message"
age=$(current "$age_okay")
want=$(($(date +%s) - arrived))
near "$age" "$want" || fail "OKAY says the oldest message is $age s old, expected about $want s"
ok "the OKAY gives the fresh message's age: $age s (expected about $want s)"
expect 10 "^severity=OKAY $p=draining type=duration type_instance=oldest_message message=monitor \"draining\" 127\.0\.0\.1:$POP3_PLAIN_PORT: the mailbox is empty, no message waits\$" \
  "drained mailbox: the plugin's OKAY for pop3-draining/duration-oldest_message"
# Every monitor dispatches phase durations, aging also newest_message.
! grep -E "^severity=[A-Z]+ $p=[^ ]+ type=duration " "$log" | grep -Eqv " $p=(aging|draining) type=duration type_instance=oldest_message " ||
  fail "a duration notification other than oldest_message's: the threshold reaches too far"
n=$(grep -Ec "^severity=[A-Z]+ $p=[^ ]+ type=duration " "$log")
[[ $n -eq 4 ]] || fail "$n duration notifications, expected oldest_message's FAILURE and OKAY for aging and draining"
ok "oldest_message's threshold: just its FAILURE and OKAY, twice; nothing for newest_message nor any phase duration"

kill -TERM "$collectd_pid"
for _ in $(seq 1 100); do kill -0 "$collectd_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$collectd_pid" 2>/dev/null && fail "collectd did not stop within 10 s"
wait "$collectd_pid" || fail "collectd -f exited with $?"
collectd_pid=
ok "collectd -f stopped"

echo "--- notifications received:"
cat "$log"
echo "# e2e-alerts: $passed checks passed"
