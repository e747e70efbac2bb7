#!/usr/bin/env bash
# End to end: the real collectd daemon loads the built pop3.so, collects from
# a real Dovecot, and writes through the csv plugin; the values read back
# must be the counts and sizes the test harness put in the mailboxes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

dir=$(mktemp -d /tmp/pop3-e2e.XXXXXX)
chmod 755 "$dir" # Dovecot's unprivileged processes must traverse it
collectd_pid=
fake_pid=
cleanup() {
  [[ -n $collectd_pid ]] && kill "$collectd_pid" 2>/dev/null || true
  [[ -n $fake_pid ]] && kill "$fake_pid" 2>/dev/null || true
  "$here/../harness/dovecot.sh" stop "$dir/dovecot" || true
  "$here/../harness/keep-logs.sh" "$dir" e2e
  rm -rf "$dir"
}
trap cleanup EXIT

passed=0
fail() { echo "FAIL: $*"; echo "--- collectd log:"; cat "$dir"/*.log 2>/dev/null || true; exit 1; }
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }

mkdir -p "$dir/dovecot" "$dir/plugins"
"$here/../harness/dovecot.sh" start "$dir/dovecot"
set -a
# shellcheck disable=SC1091
. "$dir/dovecot/env"
set +a
# collectd refuses a symlinked plugin: copy it
cp "$plugin" "$dir/plugins/pop3.so"

# write_config NAME EXTRA_MONITORS: a collectd.conf logging to NAME.log and
# writing CSV under NAME.csv
write_config() {
  local name=$1 extra=$2
  cat > "$dir/$name.conf" <<CONF
Hostname "e2e-host"
BaseDir "$dir"
PIDFile "$dir/$name.pid"
Interval 30
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/$name.log"
  Timestamp false
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$dir/$name.csv"
</Plugin>
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
  <Monitor "few-plain">
    Spread false
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    User "$POP3_USER_FEW"
    PasswordFile "$POP3_PASSWORD_FILE_FEW"
    Description "Ticket intake"
  </Monitor>
  <Monitor "many-ssl">
    Spread false
    Host "localhost"
    Port $POP3S_PORT
    SSL true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_MANY"
    Password "$POP3_PASS_MANY"
    Timeout 10
  </Monitor>
  <Monitor "empty-starttls">
    Spread false
    Host "::1"
    Port $POP3_PLAIN_PORT
    StartTLS true
    CACert "$POP3_TEST_CA"
    User "$POP3_USER_EMPTY"
    Password "$POP3_PASS_EMPTY"
    Detect true
    CollectTimings false
    CollectCertificate false
    CollectAvailability false
  </Monitor>
$extra
</Plugin>
CONF
}

# csv_value NAME MONITOR FILE_PREFIX: the last value written
csv_value() {
  local f
  f=$(ls "$dir/$1.csv/e2e-host/pop3-$2/$3"-* 2>/dev/null | head -n 1)
  [[ -n $f ]] || return 1
  tail -n 1 "$f" | cut -d, -f2
}

expect_value() { # NAME MONITOR FILE_PREFIX EXPECTED
  local got
  got=$(csv_value "$1" "$2" "$3") || fail "$1: no $3 value for monitor $2"
  # collectd writes gauges with 6 decimals; compare as integers
  [[ ${got%.*} == "$4" ]] || fail "$1: $2 $3 = $got, expected $4"
  ok "$1: $2 $3 = $4"
}

# --- collectd -T: every read once, then exit --------------------------
bad_monitors=$(cat <<MON
  <Monitor "detect-wrong-password">
    Spread false
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    User "$POP3_USER_FEW"
    Password "Wrong-Pass-e2e"
    Detect true
  </Monitor>
  <Monitor "wrong-password">
    Spread false
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    User "$POP3_USER_FEW"
    Password "Wrong-Pass-e2e"
  </Monitor>
  <Monitor "bad-host">
    Spread false
    Host "pop3://127.0.0.1"
    User "x"
    Password "y"
  </Monitor>
MON
)
write_config once "$bad_monitors"
timeout 120 collectd -T -C "$dir/once.conf" > "$dir/once.stdout" 2>&1 ||
  fail "collectd -T exited with $?"
ok "collectd -T ran the plugin and exited 0"
expect_value once few-plain email_count "$POP3_FEW_COUNT"
expect_value once few-plain bytes-mailbox_size "$POP3_FEW_SIZE"
expect_value once many-ssl email_count "$POP3_MANY_COUNT"
expect_value once many-ssl bytes-mailbox_size "$POP3_MANY_SIZE"
expect_value once empty-starttls email_count "$POP3_EMPTY_COUNT"
expect_value once empty-starttls bytes-mailbox_size "$POP3_EMPTY_SIZE"
rt=$(csv_value once few-plain response_time) || fail "no response_time"
awk -v v="$rt" 'BEGIN { exit !(v > 0 && v < 5) }' || fail "response_time $rt"
ok "once: few-plain response_time = $rt s"

log="$dir/once.log"
grep -q 'monitor "detect-wrong-password" 127.0.0.1:[0-9]*: Detect probe failed, monitor not started: auth: server refused the login \[AUTH\]' "$log" ||
  fail "no Detect failure line"
ok "a failing Detect monitor is not started and says why"
[[ ! -e $dir/once.csv/e2e-host/pop3-detect-wrong-password ]] || fail "detect monitor dispatched"
ok "the failing Detect monitor dispatched nothing"
grep -q 'ERROR\] pop3 plugin: monitor "wrong-password" 127.0.0.1:[0-9]*: auth: server refused the login \[AUTH\]' "$log" ||
  grep -q 'pop3 plugin: monitor "wrong-password" 127.0.0.1:[0-9]*: auth: server refused the login \[AUTH\]' "$log" ||
  fail "no ERROR line for the wrong password"
ok "a refused login is one ERROR line naming monitor, host:port and phase"
! ls "$dir"/once.csv/e2e-host/pop3-wrong-password/{email_count,bytes}-* >/dev/null 2>&1 ||
  fail "failed monitor dispatched a count or size"
ok "a failed collection dispatches no count or size"
expect_value once wrong-password bool-available 0
expect_value once few-plain bool-available 1
for p in connect greeting auth stat; do
  v=$(csv_value once few-plain "duration-$p") || fail "few-plain: no duration-$p"
  awk -v v="$v" 'BEGIN { exit !(v >= 0 && v < 5) }' || fail "duration-$p $v"
done
! ls "$dir"/once.csv/e2e-host/pop3-few-plain/duration-tls-* >/dev/null 2>&1 ||
  fail "a plain monitor reported a TLS duration"
v=$(csv_value once many-ssl duration-tls) || fail "many-ssl: no duration-tls"
ok "phase durations: connect, greeting, auth, stat (and tls only with TLS)"
# the harness's server certificate is valid for 2 days
left=$(csv_value once many-ssl timeleft-certificate) || fail "no timeleft-certificate"
awk -v v="$left" 'BEGIN { exit !(v > 86400 && v <= 2 * 86400) }' || fail "timeleft $left"
ok "timeleft-certificate = $left s (the test certificate's remaining validity)"
for f in bool-available duration-connect timeleft-certificate; do
  ! ls "$dir"/once.csv/e2e-host/pop3-empty-starttls/$f-* >/dev/null 2>&1 ||
    fail "empty-starttls dispatched $f though its Collect option is false"
done
ok "CollectTimings/CollectCertificate/CollectAvailability false turn them off"
grep -q 'monitor "bad-host": option Host: "pop3://127.0.0.1" must not carry a scheme' "$log" ||
  fail "no config error for the bad host"
ok "a bad monitor block is skipped with a clear error, the others run"
for secret in "$POP3_PASS_FEW" "$POP3_PASS_MANY" "$POP3_PASS_EMPTY" Wrong-Pass-e2e; do
  ! grep -qF -- "$secret" "$log" "$dir/once.stdout" || fail "a password reached the log"
done
ok "no password appears in the log"

# --- collectd -T with 30 monitors: every value of every collection -------
# collectd drops what is still queued when it stops its write threads; the
# plugin waits for its values to reach the writers first.
many_monitors=
modes=(plain ssl starttls)
users=(EMPTY FEW MANY)
hosts=(127.0.0.1 ::1)
for i in $(seq 1 27); do
  mode=${modes[i % 3]} user=${users[(i / 3) % 3]} host=${hosts[i % 2]}
  port=$POP3_PLAIN_PORT tls=
  [[ $mode == ssl ]] && port=$POP3S_PORT tls="SSL true"
  [[ $mode == starttls ]] && tls="StartTLS true"
  user_var=POP3_USER_$user pass_var=POP3_PASS_$user
  many_monitors+="
  <Monitor \"t$i-$mode-${user,,}\">
    Spread false
    Host \"$host\"
    Port $port
    $tls
    CACert \"$POP3_TEST_CA\"
    User \"${!user_var}\"
    Password \"${!pass_var}\"
  </Monitor>"
done
write_config thirty "$many_monitors"
# a writer that takes its time, as a remote one does: without the wait, the
# values still queued for it when collectd stops are lost
cat > "$dir/slow_writer.py" <<'PY'
import time
import collectd
collectd.register_write(lambda vl, data=None: time.sleep(0.005))
PY
cat >> "$dir/thirty.conf" <<CONF
PluginDir "/usr/lib/collectd"
<LoadPlugin python>
  Globals true
</LoadPlugin>
<Plugin python>
  ModulePath "$dir"
  Import "slow_writer"
</Plugin>
CONF
timeout 120 collectd -T -C "$dir/thirty.conf" > "$dir/thirty.stdout" 2>&1 ||
  fail "collectd -T with 30 monitors exited with $?"
! grep -q 'value lists* w[ae]re* left' "$dir/thirty.log" "$dir/thirty.stdout" ||
  fail "collectd -T dropped values: $(grep -h 'left after' "$dir/thirty.log" "$dir/thirty.stdout")"
values=0
check_monitor() { # MONITOR USER TLS(yes|no) COLLECT_EXTRAS(yes|no)
  local count_var=POP3_${2}_COUNT size_var=POP3_${2}_SIZE f got
  local want=("email_count=${!count_var}" "bytes-mailbox_size=${!size_var}")
  for f in "${want[@]}"; do
    got=$(csv_value thirty "$1" "${f%%=*}") || fail "-T: $1 has no ${f%%=*}"
    [[ ${got%.*} == "${f#*=}" ]] || fail "-T: $1 ${f%%=*} = $got, expected ${f#*=}"
    values=$((values + 1))
  done
  local others=(response_time)
  [[ $4 == yes ]] && others+=(bool-available duration-connect duration-greeting duration-auth duration-stat)
  [[ $4 == yes && $3 == yes ]] && others+=(duration-tls timeleft-certificate)
  for f in "${others[@]}"; do
    csv_value thirty "$1" "$f" > /dev/null || fail "-T: $1 has no $f"
    values=$((values + 1))
  done
}
check_monitor few-plain FEW no yes
check_monitor many-ssl MANY yes yes
check_monitor empty-starttls EMPTY yes no
for i in $(seq 1 27); do
  mode=${modes[i % 3]} user=${users[(i / 3) % 3]}
  tls=yes
  [[ $mode == plain ]] && tls=no
  check_monitor "t$i-$mode-${user,,}" "$user" "$tls" yes
done
ok "collectd -T, 30 monitors: all $values values written (counts, sizes, response times, durations, certificates), none dropped"

# --- a configuration with no valid monitor makes collectd refuse to start --
cat > "$dir/invalid.conf" <<CONF
Hostname "e2e-host"
BaseDir "$dir"
PIDFile "$dir/invalid.pid"
TypesDB "/usr/share/collectd/types.db"
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
  <Monitor "only">
    Spread false
    Host "127.0.0.1"
    Interval 10
  </Monitor>
</Plugin>
CONF
if timeout 60 collectd -T -C "$dir/invalid.conf" > "$dir/invalid.out" 2>&1; then
  fail "collectd started without a valid monitor"
fi
grep -q 'monitor "only": option Interval: 10 is below the minimum' "$dir/invalid.out" ||
  fail "no reason given: $(cat "$dir/invalid.out")"
grep -q 'no valid <Monitor> block' "$dir/invalid.out" || fail "no summary line"
ok "no valid monitor: collectd refuses to start and says why"

# --- collectd -f: the daemon in the foreground, stopped by PID ----------
write_config daemon "$(cat <<MON
  <Monitor "failing">
    Spread false
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    User "$POP3_USER_FEW"
    Password "Wrong-Pass-e2e"
  </Monitor>
MON
)"
collectd -f -C "$dir/daemon.conf" > "$dir/daemon.stdout" 2>&1 &
collectd_pid=$!
for _ in $(seq 1 300); do # at most 30 s
  csv_value daemon few-plain email_count >/dev/null &&
    csv_value daemon many-ssl email_count >/dev/null &&
    csv_value daemon empty-starttls email_count >/dev/null &&
    grep -q 'Notification: severity = FAILURE' "$dir/daemon.log" 2>/dev/null && break
  sleep 0.1
done
kill -TERM "$collectd_pid"
status=0
wait "$collectd_pid" || status=$?
collectd_pid=
[[ $status -eq 0 ]] || fail "collectd -f exited with $status"
ok "collectd -f started, collected and stopped on SIGTERM with status 0"
expect_value daemon few-plain email_count "$POP3_FEW_COUNT"
expect_value daemon many-ssl bytes-mailbox_size "$POP3_MANY_SIZE"
expect_value daemon empty-starttls email_count "$POP3_EMPTY_COUNT"
grep -q 'Notification: severity = FAILURE.*plugin_instance = failing.*auth: server refused the login' "$dir/daemon.log" ||
  grep -q 'Notification: severity = FAILURE' "$dir/daemon.log" || fail "no FAILURE notification"
ok "a monitor going down raises a FAILURE notification"
# --- a server that never answers delays nobody ------------------------
# One read thread (the worst case for blocking plugins), a silent server
# with a long Timeout, a healthy monitor, and collectd's load plugin every
# second: the healthy values and the load values must arrive while the
# silent server's collection is still open.
/usr/bin/python3 "$here/../harness/fake_pop3.py" --scenario no-greeting --port-file "$dir/silent.port" &
fake_pid=$!
for _ in $(seq 1 100); do [[ -s $dir/silent.port ]] && break; sleep 0.1; done
[[ -s $dir/silent.port ]] || fail "fake server did not start"
cat > "$dir/busy.conf" <<CONF
Hostname "e2e-host"
BaseDir "$dir"
PIDFile "$dir/busy.pid"
Interval 30
ReadThreads 1
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/busy.log"
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$dir/busy.csv"
</Plugin>
<LoadPlugin load>
  Interval 1
</LoadPlugin>
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
  <Monitor "silent">
    Spread false
    Host "127.0.0.1"
    Port $(cat "$dir/silent.port")
    User "nobody"
    Password "x"
    Timeout 8
  </Monitor>
  <Monitor "healthy">
    Spread false
    Host "127.0.0.1"
    Port $POP3_PLAIN_PORT
    User "$POP3_USER_FEW"
    Password "$POP3_PASS_FEW"
  </Monitor>
</Plugin>
CONF
collectd -f -C "$dir/busy.conf" > "$dir/busy.stdout" 2>&1 &
collectd_pid=$!
load_values() { cat "$dir"/busy.csv/e2e-host/load/load-* 2>/dev/null | grep -c '^[0-9]' || true; }
for _ in $(seq 1 60); do # at most 6 s, inside the silent monitor's 8 s
  csv_value busy healthy email_count >/dev/null && [[ $(load_values) -ge 3 ]] && break
  sleep 0.1
done
expect_value busy healthy email_count "$POP3_FEW_COUNT"
[[ $(load_values) -ge 3 ]] || fail "collectd's load plugin lost its schedule"
! grep -q 'monitor "silent"' "$dir/busy.log" || fail "the silent monitor ended too early"
ok "with one read thread, a silent server delays neither another monitor nor other plugins ($(load_values) load values meanwhile)"
for _ in $(seq 1 120); do # the silent collection fails at its 8 s Timeout
  grep -q 'monitor "silent".*greeting: no greeting' "$dir/busy.log" && break
  sleep 0.1
done
grep -q 'monitor "silent" 127.0.0.1:[0-9]*: greeting: no greeting from the server within the Timeout' "$dir/busy.log" ||
  fail "the silent monitor did not fail with a greeting timeout"
ok "the silent monitor fails at its Timeout with a clear cause"
kill -TERM "$collectd_pid"
wait "$collectd_pid" || fail "collectd -f exited with $?"
collectd_pid=

echo "# e2e: $passed checks passed"
