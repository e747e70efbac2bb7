#!/usr/bin/env bash
# e2e-hostile.sh PLUGIN: the real collectd daemon (collectd -f, csv and
# logfile) with one healthy monitor against a fake_pop3.py "ok" server and
# one monitor against each hostile server that never stops talking
# (capa-endless, line-endless, ok-endless, and drip, whose bytes come 100 ms
# apart), plain and inside implicit TLS. Checks that:
#   - the healthy monitor dispatches every interval for ROUNDS rounds (no
#     gap over Interval + 0.5 s) while the others are attacked each round;
#   - each hostile monitor logs exactly one ERROR line, naming the phase and
#     the cause;
#   - SIGTERM, sent while the hostile servers are still sending, makes
#     collectd exit within the largest Timeout + 1 s (measured and printed);
#     SIGKILL is only a bounded fallback, and then the test fails;
#   - every hostile connection ended because the client closed it, never
#     by the server's own safety net.
# E2E_HOSTILE_ROUNDS (default 3) sets how many intervals are watched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

INTERVAL=30           # the plugin's minimum
HEALTHY_TIMEOUT=2
HOSTILE_TIMEOUT=3
ROUNDS=${E2E_HOSTILE_ROUNDS:-3}
BOUND=$((HOSTILE_TIMEOUT + 1)) # largest Timeout + 1 s
SLACK=0.5                      # allowed lateness of a dispatch
HOSTILE=(capa-endless line-endless ok-endless drip)

dir=$(mktemp -d /tmp/pop3-e2e-hostile.XXXXXX)
collectd_pid=
fake_pids=()
cleanup() {
  if [[ -n $collectd_pid ]]; then
    kill -KILL "$collectd_pid" 2>/dev/null || true
    wait "$collectd_pid" 2>/dev/null || true
  fi
  local pid
  for pid in "${fake_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${fake_pids[@]}"; do
    for _ in $(seq 1 50); do # at most 5 s each
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  "$here/../harness/keep-logs.sh" "$dir" e2e-hostile
  if [[ -n ${POP3_TEST_LOGS:-} && -d $POP3_TEST_LOGS/e2e-hostile ]]; then
    cp "$dir/passwords.secrets" "$POP3_TEST_LOGS/e2e-hostile/" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

passed=0
failed=0
checks=0
show_log() {
  echo "--- collectd log:"
  cat "$dir/collectd.log" 2>/dev/null || true
}
# fail: the run cannot go on; bad: a check failed, the run goes on so that
# the shutdown is still measured
fail() { echo "FAIL: $*"; show_log; exit 1; }
bad() { checks=$((checks + 1)); failed=$((failed + 1)); echo "not ok $checks - $*"; }
ok() { checks=$((checks + 1)); passed=$((passed + 1)); echo "ok $checks - $*"; }
now() { date +%s.%N; }
# elapsed T0: seconds since T0 (a now() value), 2 decimals
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# gt A B: A > B, as decimals
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

random_password() { # PREFIX
  printf '%s%s\n' "$1" "$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 16)"
}
healthy_password=$(random_password Hostile-Healthy-)
hostile_password=$(random_password Hostile-Fault-)
printf '%s\n%s\n' "$healthy_password" "$hostile_password" > "$dir/passwords.secrets"

mkdir -p "$dir/plugins" "$dir/servers"
cp "$plugin" "$dir/plugins/pop3.so" # collectd refuses a symlinked plugin
certs=$dir/certs
"$here/../harness/make-test-certs.sh" "$certs"

# start_server NAME SCENARIO PASSWORD: a fake_pop3.py on a free port of
# 127.0.0.1; its port lands in $dir/servers/NAME.port
start_server() {
  local name=$1 scenario=$2 password=$3 port_file=$dir/servers/$1.port
  /usr/bin/python3 "$here/../harness/fake_pop3.py" --exit-with-parent --scenario "$scenario" \
    --port-file "$port_file" --password "$password" \
    --cert "$certs/good.pem" --key "$certs/good.key" \
    > "$dir/servers/$name.out" 2>&1 &
  fake_pids+=("$!")
}
port_of() { cat "$dir/servers/$1.port"; }

start_server healthy ok "$healthy_password"
for s in "${HOSTILE[@]}"; do
  start_server "$s" "$s" "$hostile_password"
  start_server "$s-tls" "$s-tls" "$hostile_password"
done
for _ in $(seq 1 100); do # at most 10 s
  missing=0
  for f in healthy "${HOSTILE[@]}" "${HOSTILE[@]/%/-tls}"; do
    [[ -s $dir/servers/$f.port ]] || missing=1
  done
  [[ $missing -eq 0 ]] && break
  sleep 0.1
done
[[ $missing -eq 0 ]] || fail "the fake servers did not start"
ok "started 1 healthy and ${#HOSTILE[@]} x 2 hostile fake servers"

hostile_monitor() { # NAME PORT SSL
  local ca=
  [[ $3 == true ]] && ca="CACert \"$certs/ca.pem\""
  cat <<MON
  <Monitor "$1">
    Spread false
    Host "127.0.0.1"
    Port $2
    SSL $3
    $ca
    User "hostile"
    Password "$hostile_password"
    Timeout $HOSTILE_TIMEOUT
    Description "server that keeps talking"
  </Monitor>
MON
}
{
  cat <<CONF
Hostname "e2e-host"
BaseDir "$dir"
PIDFile "$dir/collectd.pid"
Interval $INTERVAL
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$dir/csv"
</Plugin>
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
  <Monitor "healthy">
    Spread false
    Host "127.0.0.1"
    Port $(port_of healthy)
    User "healthy"
    Password "$healthy_password"
    Interval $INTERVAL
    Timeout $HEALTHY_TIMEOUT
  </Monitor>
CONF
  for s in "${HOSTILE[@]}"; do
    hostile_monitor "$s" "$(port_of "$s")" false
    hostile_monitor "$s-tls" "$(port_of "$s-tls")" true
  done
  echo "</Plugin>"
} > "$dir/collectd.conf"

collectd -f -C "$dir/collectd.conf" > "$dir/collectd.stdout" 2>&1 &
collectd_pid=$!
started=$(now)

# the healthy monitor's email_count lines: "epoch,value"
healthy_values() {
  cat "$dir"/csv/e2e-host/pop3-healthy/email_count-* 2>/dev/null | grep '^[0-9]' || true
}
healthy_count() { healthy_values | wc -l; }
alive() { # PID: running (a zombie counts as gone)
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# --- ROUNDS intervals: the healthy monitor on schedule ------------------
# its first value comes at once; then one per interval
first_wait=$((INTERVAL + 5))
for _ in $(seq 1 $((first_wait * 10))); do
  [[ $(healthy_count) -ge 1 ]] && break
  alive "$collectd_pid" || fail "collectd exited: $(cat "$dir/collectd.stdout")"
  sleep 0.1
done
if [[ $(healthy_count) -ge 1 ]]; then
  ok "the healthy monitor dispatched its first value $(elapsed "$started") s after the start"
else
  bad "no healthy value within ${first_wait} s of the start"
fi
deadline=$(awk -v s="$(now)" -v n="$ROUNDS" -v i="$INTERVAL" -v k="$SLACK" \
  'BEGIN { printf "%.3f", s + (n - 1) * (i + k) + 1 }')
while [[ $(healthy_count) -lt $ROUNDS ]] && gt "$deadline" "$(now)"; do
  alive "$collectd_pid" || fail "collectd exited during the attack"
  sleep 0.1
done
# the hostile collections of this round are still running (drip) or done
sleep 0.3
# gaps between the healthy values' timestamps
gaps=$(healthy_values | awk -F, 'NR > 1 { printf "%.2f ", $1 - prev } { prev = $1 }')
largest=$(healthy_values | awk -F, 'NR > 1 && $1 - prev > m { m = $1 - prev } { prev = $1 } END { printf "%.2f", m }')
wrong=$(healthy_values | awk -F, '$2 + 0 != 7' | wc -l)
if [[ $(healthy_count) -lt $ROUNDS ]]; then
  bad "the healthy monitor lost its schedule: $(healthy_count) value(s) in $ROUNDS intervals (gaps: ${gaps:-none})"
elif gt "$largest" "$(awk -v i="$INTERVAL" -v k="$SLACK" 'BEGIN { print i + k }')"; then
  bad "the healthy monitor lost its schedule: gaps ${gaps}s (interval $INTERVAL s)"
elif [[ $wrong -ne 0 ]]; then
  bad "the healthy monitor dispatched a wrong count"
else
  ok "the healthy monitor kept its schedule for $ROUNDS rounds of attacks: gaps ${gaps}s (at most $INTERVAL + $SLACK s)"
fi

# --- one ERROR line per hostile monitor, naming the phase and the cause ----
# (the exact words are the engine's; these are the phase and keywords)
capa_cause='(CAPA|capabilit).*(too long|too many|too large|too big|at most|more than|exceed|limit)'
line_cause='line.*(too long|longer|at most|exceed|limit)'
cause_of() {
  case $1 in
    capa-endless* | ok-endless*) echo "$capa_cause" ;;
    line-endless*) echo "$line_cause" ;;
    drip*) echo 'Timeout' ;;
  esac
}
for s in "${HOSTILE[@]}" "${HOSTILE[@]/%/-tls}"; do
  lines=$(grep -c "\[error\] pop3 plugin: monitor \"$s\"" "$dir/collectd.log" || true)
  line=$(grep -m 1 "\[error\] pop3 plugin: monitor \"$s\"" "$dir/collectd.log" || true)
  prefix="monitor \"$s\" "
  if [[ $lines -ne 1 ]]; then
    bad "monitor $s: $lines ERROR lines in $ROUNDS rounds, want 1"
  elif ! grep -qiE ": greeting: .*($(cause_of "$s"))" <<< "$line"; then
    bad "monitor $s: the ERROR line does not name the phase and cause: $line"
  else
    ok "monitor $s: one ERROR line: ${line#*"$prefix"}"
  fi
  if find "$dir/csv" -path "*/pop3-$s/email_count-*" | grep -q .; then
    bad "monitor $s dispatched a count"
  fi
done
if grep -q '\[error\] pop3 plugin: monitor "healthy"' "$dir/collectd.log"; then
  bad "the healthy monitor logged an error"
else
  ok "the healthy monitor logged no error"
fi

# --- SIGTERM while the servers still send --------------------------------
sending=0
for s in "${HOSTILE[@]}" "${HOSTILE[@]/%/-tls}"; do
  log=$dir/servers/$s.port.log
  floods=$(grep -c ' FLOOD ' "$log" || true)
  ends=$(grep -c ' FLOOD-END ' "$log" || true)
  [[ $floods -gt $ends ]] && sending=$((sending + floods - ends))
done
term_at=$(now)
kill -TERM "$collectd_pid"
give_up=$(awk -v t="$term_at" -v b="$BOUND" 'BEGIN { printf "%.3f", t + b + 10 }')
while alive "$collectd_pid" && gt "$give_up" "$(now)"; do # at most BOUND + 10 s
  sleep 0.02
done
took=$(elapsed "$term_at")
if alive "$collectd_pid"; then
  kill -KILL "$collectd_pid" 2>/dev/null || true
  wait "$collectd_pid" 2>/dev/null || true
  collectd_pid=
  echo "# collectd still running $took s after SIGTERM, with $sending hostile connection(s) still sending then: SIGKILL (bound: largest Timeout + 1 s = $BOUND s)"
  bad "SIGTERM: collectd did not exit within $took s; killed (the bound is $BOUND s)"
else
  status=0
  wait "$collectd_pid" || status=$?
  collectd_pid=
  echo "# collectd exited $took s after SIGTERM, with $sending hostile connection(s) still sending then (bound: largest Timeout + 1 s = $BOUND s)"
  if gt "$took" "$BOUND"; then
    bad "SIGTERM: collectd took $took s to exit; the bound is $BOUND s"
  elif [[ $status -ne 0 ]]; then
    bad "SIGTERM: collectd exited with status $status"
  else
    ok "SIGTERM: collectd exited with status 0 in $took s (at most $BOUND s)"
  fi
fi

# --- every attack ended by the client closing, none by the safety net ------
sleep 0.5 # the servers notice the last close at their next send
for s in "${HOSTILE[@]}" "${HOSTILE[@]/%/-tls}"; do
  log=$dir/servers/$s.port.log
  floods=$(grep -c ' FLOOD ' "$log" || true)
  closed=$(grep -c ' FLOOD-END .* client-closed$' "$log" || true)
  if [[ $floods -lt $ROUNDS ]]; then
    bad "server $s: $floods attack(s) in $ROUNDS rounds (the monitor was not collected every interval)"
    attacks_ok=0
  elif [[ $closed -ne $floods ]]; then
    bad "server $s: $floods attack(s), $closed ended by the client closing: $(grep ' FLOOD-END ' "$log" | tr '\n' ';')"
    attacks_ok=0
  fi
done
if [[ ${attacks_ok:-1} -eq 1 ]]; then
  ok "every attack ($(cat "$dir"/servers/*.port.log | grep -c ' FLOOD ') in all) ended with the client closing its connection"
fi
leaked=0
for secret in "$healthy_password" "$hostile_password"; do
  grep -qF -- "$secret" "$dir/collectd.log" "$dir/collectd.stdout" && leaked=1
done
if [[ $leaked -eq 0 ]]; then ok "no password in the log"; else bad "a password reached the log"; fi
if [[ $failed -gt 0 ]]; then
  show_log | tail -n 60
  echo "# e2e-hostile: $failed of $checks checks FAILED"
  exit 1
fi
echo "# e2e-hostile: $passed checks passed"
