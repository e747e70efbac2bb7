#!/usr/bin/env bash
# Shipping to Prometheus, end to end: collectd with the plugin exposes the
# values with write_prometheus, a real Prometheus server scrapes it every
# second, and the exact counts and sizes of the test mailboxes come out of
# Prometheus's HTTP API. The three harness monitors collect the message age:
# its series must carry the age of the arrival dates the harness wrote, to
# the second, as of the sample's own timestamp (empty: no age series). The
# documented alert rules are loaded into that Prometheus and must fire for
# exactly the mailboxes they describe.
#
#   Dovecot (harness) <- collectd pop3 + write_prometheus (127.0.0.1:P)
#                        <- prometheus scrape (1 s) -> /api/v1/query
#
# usage: tests/e2e/e2e-prometheus.sh build/pop3.so
# Every server is private to the run: its own config and data under a temp
# dir, 127.0.0.1 only, free ports, stopped by PID; every wait is bounded.
# The plugin's Interval is at least 30 s, so collectd makes one read: the
# one it runs at start-up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ $# -eq 1 ]] || { echo "usage: $0 PLUGIN.so" >&2; exit 2; }
plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

PY=/usr/bin/python3
TYPESDB=/usr/share/collectd/types.db
EDGE_HOST=mail-edge.example.com
START_WAIT=30 # seconds for a server to come up
DATA_WAIT=20  # seconds for the first read to be scraped into Prometheus
STOP_WAIT=10  # seconds between SIGTERM and SIGKILL

for cmd in prometheus promtool collectd curl; do
  command -v "$cmd" >/dev/null || { echo "FAIL: $cmd not installed (tests/harness/install-deps.sh)"; exit 1; }
done

dir=$(mktemp -d /tmp/pop3-prom.XXXXXX)
chmod 755 "$dir" # Dovecot's unprivileged processes must traverse it
pids=()          # every process this script started, stopped by PID
t_start=$(date +%s.%N)

# shellcheck source=tests/harness/e2e-lib.sh
. "$here/../harness/e2e-lib.sh"

cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid" || true; done
  "$here/../harness/dovecot.sh" stop "$dir/dovecot" || true
  "$here/../harness/keep-logs.sh" "$dir" e2e-prometheus
  if [[ -n ${KEEP_PROMETHEUS_DIR:-} ]]; then echo "# kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

# --- Dovecot: the mailboxes whose counts and sizes must arrive -------------
mkdir -p "$dir/dovecot" "$dir/plugins" "$dir/collectd" "$dir/prometheus/data"
"$here/../harness/dovecot.sh" start "$dir/dovecot"
set -a
# shellcheck disable=SC1091
. "$dir/dovecot/env"
set +a
cp "$plugin" "$dir/plugins/pop3.so" # collectd refuses a symlinked plugin
# P_DOWN: a port nothing listens on, for a monitor that must be unavailable
read -r P_EXPORTER P_PROM P_DOWN <<<"$(free_ports 3)"

# --- collectd: pop3 monitors, write_prometheus on 127.0.0.1 ----------------
c=$dir/collectd
cat >"$c/collectd.conf" <<CONF
Hostname "$EDGE_HOST"
BaseDir "$c"
PIDFile "$c/collectd.pid"
Interval 30
TypesDB "$TYPESDB"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$c/collectd.log"
  PrintSeverity true
</Plugin>
LoadPlugin write_prometheus
<Plugin write_prometheus>
  Host "127.0.0.1"
  Port "$P_EXPORTER"
</Plugin>
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
$(harness_monitors | sed '/^  <Monitor /a\    CollectMessageAge true')
  <Monitor "down">
    Host "127.0.0.1"
    Port $P_DOWN
    User "nobody"
    Password "unused"
    Timeout 5
  </Monitor>
</Plugin>
CONF

# --- Prometheus: scrape collectd every second, evaluate the alert rules ----
p=$dir/prometheus
# The rules README.md documents (thresholds as there), checked by promtool
# and evaluated by the server.
cat >"$p/pop3-rules.yml" <<'RULES'
groups:
  - name: pop3
    rules:
      - alert: POP3MailboxTooFull
        expr: collectd_pop3_email_count > 1000
        for: 0s
        annotations:
          summary: "{{ $labels.pop3 }} on {{ $labels.exported_instance }} holds {{ $value }} messages"
      - alert: POP3MailboxUnavailable
        expr: collectd_pop3_bool{type="available"} == 0
        for: 0s
        annotations:
          summary: "{{ $labels.pop3 }} on {{ $labels.exported_instance }}: the last collection failed"
      - alert: POP3OldestMessageTooOld
        expr: collectd_pop3_duration_seconds{type="oldest_message"} > 3600
        for: 0s
        annotations:
          summary: "{{ $labels.pop3 }} on {{ $labels.exported_instance }}: the oldest message arrived {{ $value | humanizeDuration }} ago"
RULES
cat >"$p/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $p/pop3-rules.yml
scrape_configs:
  - job_name: collectd
    static_configs:
      - targets: ["127.0.0.1:$P_EXPORTER"]
CONF
promtool check config "$p/prometheus.yml" >"$p/promtool.log" 2>&1 ||
  fail "promtool check config: $(cat "$p/promtool.log")"
ok "promtool $(promtool --version 2>&1 | awk 'NR == 1 { print $3 }') accepts the config and the alert rules"

t_servers=$(date +%s.%N)
prometheus --config.file="$p/prometheus.yml" --storage.tsdb.path="$p/data" \
  --web.listen-address="127.0.0.1:$P_PROM" --log.level=info \
  >"$p/prometheus.log" 2>&1 &
prom_pid=$!
pids+=("$prom_pid")
collectd -f -C "$c/collectd.conf" >"$c/stdout.log" 2>&1 &
collectd_pid=$!
pids+=("$collectd_pid")

prom() { curl -sS --max-time 5 "http://127.0.0.1:$P_PROM$1" "${@:2}"; }
prom_ready() { alive "$prom_pid" || fail "prometheus exited"; prom /-/ready -o /dev/null -f 2>/dev/null; }
exporter_up() { alive "$collectd_pid" || fail "collectd exited"; curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$P_EXPORTER/metrics"; }
wait_until "$START_WAIT" "Prometheus ready on 127.0.0.1:$P_PROM" prom_ready
ok "$(prometheus --version 2>&1 | awk 'NR == 1 { print $1, $3 }') ready on 127.0.0.1:$P_PROM"
wait_until "$START_WAIT" "write_prometheus on 127.0.0.1:$P_EXPORTER" exporter_up
ok "collectd's write_prometheus answers on 127.0.0.1:$P_EXPORTER"
echo "# servers up in $(elapsed "$t_servers") s"

# --- on the wire: what write_prometheus exposes -----------------------------
# expected "series value" pairs, exactly as scraped (labels in wire order)
lbl() { echo "{pop3=\"$1\"${2:+,type=\"$2\"},instance=\"$EDGE_HOST\"}"; }
expected=(
  "collectd_pop3_email_count$(lbl few) $POP3_FEW_COUNT"
  "collectd_pop3_bytes$(lbl few mailbox_size) $POP3_FEW_SIZE"
  "collectd_pop3_email_count$(lbl many) $POP3_MANY_COUNT"
  "collectd_pop3_bytes$(lbl many mailbox_size) $POP3_MANY_SIZE"
  "collectd_pop3_email_count$(lbl empty) $POP3_EMPTY_COUNT"
  "collectd_pop3_bytes$(lbl empty mailbox_size) $POP3_EMPTY_SIZE"
  "collectd_pop3_bool$(lbl few available) 1"
  "collectd_pop3_bool$(lbl many available) 1"
  "collectd_pop3_bool$(lbl empty available) 1"
  "collectd_pop3_bool$(lbl down available) 0"
)
scrape() { curl -sS --max-time 5 "http://127.0.0.1:$P_EXPORTER/metrics"; }
# The names of every pop3 series on the wire, without values and timestamps
wire_series() { scrape | awk '/^collectd_pop3_/ { print $1 }' | sort; }
want_series=$({ for m in empty few many; do
  echo "collectd_pop3_bool$(lbl $m available)"
  echo "collectd_pop3_bytes$(lbl $m mailbox_size)"
  echo "collectd_pop3_email_count$(lbl $m)"
  echo "collectd_pop3_response_time$(lbl $m)"
  for ph in connect greeting auth stat; do echo "collectd_pop3_duration_seconds$(lbl $m $ph)"; done
  # TLS monitors: the days their certificate has left, the handshake's time
  [[ $m == few ]] || echo "collectd_pop3_timeleft$(lbl $m certificate)"
  [[ $m == few ]] || echo "collectd_pop3_duration_seconds$(lbl $m tls)"
  # the message age, where there are messages
  [[ $m == empty ]] || echo "collectd_pop3_duration_seconds$(lbl $m oldest_message)"
  [[ $m == empty ]] || echo "collectd_pop3_duration_seconds$(lbl $m newest_message)"
done
echo "collectd_pop3_bool$(lbl down available)"; } | sort)
all_on_wire() { [[ $(wire_series) == "$want_series" ]]; }
for ((i = 0; i < DATA_WAIT * 5; i++)); do
  all_on_wire && break
  alive "$collectd_pid" || fail "collectd exited"
  sleep 0.2
done
series=$(wire_series)
[[ $series == "$want_series" ]] || fail "write_prometheus exposes
$series
expected
$want_series"
ok "write_prometheus exposes exactly the $(wc -l <<<"$series") pop3 series (count, size, response time, available, phase durations; TLS: certificate time left, handshake; few, many: message age; down: available only)"
wire=$(scrape)
for e in "${expected[@]}"; do
  read -r s v <<<"$e"
  line=$(grep -F "$s " <<<"$wire") || fail "not on the wire: $s"
  read -r _ got ts <<<"$line"
  [[ $got == "$v" ]] || fail "on the wire: $s = $got, expected $v"
  [[ $ts =~ ^[0-9]{13}$ ]] || fail "on the wire: $s has no millisecond timestamp: $line"
done
ok "on the wire: the exact counts, sizes and availability, each with the time of the read"
for t in email_count bytes bool response_time timeleft duration_seconds; do
  grep -qx "# TYPE collectd_pop3_$t gauge" <<<"$wire" || fail "no '# TYPE collectd_pop3_$t gauge' on the wire"
done
ok "on the wire: every pop3 metric is a gauge"

# --- in Prometheus: the scraped values through /api/v1/query ----------------
promql() { # QUERY: "value" per result line, "labels value" with -l
  prom /api/v1/query -G --data-urlencode "query=$1" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)
if r.get("status") != "success":
    sys.exit("query failed: %r" % r)
for s in r["data"]["result"]:
    m = dict(s["metric"])
    name = m.pop("__name__", "")
    print(name + "{" + ",".join("%s=\"%s\"" % kv for kv in sorted(m.items())) + "}", s["value"][1])'
}
# With Prometheus's defaults the target's address is the label instance; the
# collectd host name collectd put in instance becomes exported_instance.
plabels() { # MONITOR [TYPE]: the labels a stored series carries, sorted
  echo "{exported_instance=\"$EDGE_HOST\",instance=\"127.0.0.1:$P_EXPORTER\",job=\"collectd\",pop3=\"$1\"${2:+,type=\"$2\"}}"
}
pq=(
  "collectd_pop3_email_count{pop3=\"few\"} collectd_pop3_email_count$(plabels few) $POP3_FEW_COUNT"
  "collectd_pop3_bytes{pop3=\"few\",type=\"mailbox_size\"} collectd_pop3_bytes$(plabels few mailbox_size) $POP3_FEW_SIZE"
  "collectd_pop3_email_count{pop3=\"many\"} collectd_pop3_email_count$(plabels many) $POP3_MANY_COUNT"
  "collectd_pop3_bytes{pop3=\"many\",type=\"mailbox_size\"} collectd_pop3_bytes$(plabels many mailbox_size) $POP3_MANY_SIZE"
  "collectd_pop3_email_count{pop3=\"empty\"} collectd_pop3_email_count$(plabels empty) $POP3_EMPTY_COUNT"
  "collectd_pop3_bytes{pop3=\"empty\",type=\"mailbox_size\"} collectd_pop3_bytes$(plabels empty mailbox_size) $POP3_EMPTY_SIZE"
  "collectd_pop3_bool{pop3=\"down\",type=\"available\"} collectd_pop3_bool$(plabels down available) 0"
)
in_prometheus() {
  local e q s v
  for e in "${pq[@]}"; do
    read -r q s v <<<"$e"
    [[ -n $(promql "$q") ]] || return 1
  done
}
t_data=$(date +%s.%N)
wait_until "$DATA_WAIT" "the values in Prometheus" in_prometheus
echo "# values queryable $(elapsed "$t_data") s after they were on the wire"
for e in "${pq[@]}"; do
  read -r q s v <<<"$e"
  got=$(promql "$q")
  [[ $got == "$s $v" ]] || fail "Prometheus: $q gives
$got
expected
$s $v"
  ok "Prometheus: $q = $v"
done
rt=$(promql 'collectd_pop3_response_time{pop3="few"}' | awk '{ print $2 }')
"$PY" -c 'import sys; v = float(sys.argv[1]); sys.exit(not 0 < v < 10)' "$rt" ||
  fail "Prometheus: response_time of few = $rt"
ok "Prometheus: collectd_pop3_response_time{pop3=\"few\"} = $rt s"
left=$(promql 'collectd_pop3_timeleft{pop3="many",type="certificate"}' | awk '{ print $2 }')
"$PY" -c 'import sys; v = float(sys.argv[1]); sys.exit(not 0 < v <= 2 * 86400)' "$left" ||
  fail "Prometheus: certificate time left of many = $left s (the test certificates last 2 days)"
ok "Prometheus: collectd_pop3_timeleft{pop3=\"many\",type=\"certificate\"} = $left s"

# --- the message age: exact, from the arrival dates the harness wrote -------
age_series=$(promql 'collectd_pop3_duration_seconds{type=~"oldest_message|newest_message"}' | awk '{ print $1 }' | sort)
want_age=$(for m in few many; do for t in newest_message oldest_message; do
  echo "collectd_pop3_duration_seconds$(plabels $m $t)"; done; done | sort)
[[ $age_series == "$want_age" ]] || fail "Prometheus: the age series are
$age_series
expected
$want_age"
ok "Prometheus: oldest_message and newest_message for few and many; none for empty (no messages) nor down"
# The age is taken as the values are handed over, and the sample carries
# that time: value = sample time - arrival, give or take the whole-second
# dates (1 s) and the collection's time (its response time, generously).
for e in "few oldest_message $POP3_FEW_FIRST_DATE" "few newest_message $POP3_FEW_LAST_DATE" \
  "many oldest_message $POP3_MANY_FIRST_DATE" "many newest_message $POP3_MANY_LAST_DATE"; do
  read -r m t arrived <<<"$e"
  sel="collectd_pop3_duration_seconds{pop3=\"$m\",type=\"$t\"}"
  v=$(promql "$sel" | awk '{ print $2 }')
  at=$(promql "timestamp($sel)" | awk '{ print $2 }')
  rt=$(promql "collectd_pop3_response_time{pop3=\"$m\"}" | awk '{ print $2 }')
  verdict=$("$PY" -c '
import sys
v, at, arrived, rt = map(float, sys.argv[1:])
want = at - arrived
print(f"{v} s at {at}: expected {want:.3f} s, off by {v - want:+.3f} s (allowed {1 + rt:.3f})")
sys.exit(abs(v - want) > 1 + rt)' "$v" "$at" "$arrived" "$rt") ||
    fail "Prometheus: $sel = $verdict"
  ok "Prometheus: $sel = $verdict"
done
health=$(prom /api/v1/targets | "$PY" -c '
import json, sys
print(" ".join(t["health"] for t in json.load(sys.stdin)["data"]["activeTargets"]))')
[[ $health == up ]] || fail "Prometheus target health: $health"
ok "Prometheus: the one target, collectd, is up"

# --- the alert rules: too full for many, unavailable for down, too old for --
# many (its oldest message arrived 200 h ago; few's 30 min ago)
alerts() {
  prom /api/v1/alerts | "$PY" -c '
import json, sys
for a in json.load(sys.stdin)["data"]["alerts"]:
    print(a["labels"]["alertname"], a["labels"].get("pop3", ""), a["state"])' | sort
}
want_alerts=$(printf '%s\n' "POP3MailboxTooFull many firing" "POP3MailboxUnavailable down firing" \
  "POP3OldestMessageTooOld many firing")
alerts_fire() { [[ $(alerts) == "$want_alerts" ]]; }
wait_until 10 "the alerts (now: $(alerts | tr '\n' ';'))" alerts_fire
ok "alert rules: POP3MailboxTooFull and POP3OldestMessageTooOld fire for many only, POP3MailboxUnavailable for down only"

# --- collectd: one read, errors only for the monitor that is down -----------
status=0
stop_pid "$collectd_pid" || status=$?
[[ $status -eq 0 ]] || fail "collectd exited with $status on SIGTERM"
grep -q 'pop3 plugin: monitor "few" .*first collection' "$c/collectd.log" ||
  fail "collectd: no first collection logged"
# write_prometheus 5.12 with libmicrohttpd >= 0.9.71 logs one harmless
# "MHD_OPTION_EXTERNAL_LOGGER is not the first option" at start-up
if grep -i 'error' "$c/collectd.log" | grep -v 'MHD_OPTION_EXTERNAL_LOGGER' | grep -qv '"down"'; then
  fail "collectd logged an error not about monitor down: $(grep -i error "$c/collectd.log")"
fi
ok "collectd collected once, logged errors only for monitor down and stopped on SIGTERM"

echo "# prometheus: $passed checks passed in $(elapsed "$t_start") s"
