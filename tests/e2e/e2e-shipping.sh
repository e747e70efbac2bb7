#!/usr/bin/env bash
# Shipping, end to end: the values the plugin collects from a real Dovecot
# travel the three roads an operator uses, through the real software, and the
# exact counts and sizes of the test mailboxes come out at the other end.
#
#   graphite  edge collectd write_graphite -> carbon-cache -> whisper files,
#             read back with whisper-fetch
#   influxdb  edge collectd network -> InfluxDB 1.x collectd listener
#             (collectd's types.db) -> InfluxQL over the HTTP API
#   central   edge collectd network (signed and encrypted) -> central collectd
#             network listener -> csv on the central side
#
# usage: tests/e2e/e2e-shipping.sh build/pop3.so [graphite] [influxdb] [central]
# (no road named: all three). Every server is private to the run: its own
# config and data under a temp dir, 127.0.0.1 only, free ports, stopped by
# PID; every wait is bounded.
#
# The plugin's Interval is at least 30 s, so an edge makes exactly one read:
# the one collectd runs at start-up. Each edge is started after its receiver
# is up, flushes its writer every second (FlushInterval 1), and is stopped as
# soon as the values have arrived (or after EDGE_WAIT seconds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ $# -ge 1 ]] || { echo "usage: $0 PLUGIN.so [graphite|influxdb|central]..." >&2; exit 2; }
plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
roads=("$@")
[[ ${#roads[@]} -gt 0 ]] || roads=(graphite influxdb central)
for r in "${roads[@]}"; do
  [[ $r == graphite || $r == influxdb || $r == central ]] || { echo "unknown road $r" >&2; exit 2; }
done
want() { local r; for r in "${roads[@]}"; do [[ $r == "$1" ]] && return 0; done; return 1; }

PY=/usr/bin/python3
TYPESDB=/usr/share/collectd/types.db
EDGE_HOST=mail-edge.example.com  # dots: Graphite paths show how they are escaped
START_WAIT=30                    # seconds for a receiver to come up
EDGE_WAIT=20                     # seconds for the first read to reach a receiver
STOP_WAIT=10                     # seconds between SIGTERM and SIGKILL

dir=$(mktemp -d /tmp/pop3-ship.XXXXXX)
chmod 755 "$dir" # Dovecot's unprivileged processes must traverse it
pids=()          # every process this script started, stopped by PID
t_start=$(date +%s.%N)

# shellcheck source=tests/harness/e2e-lib.sh
. "$here/../harness/e2e-lib.sh"

cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid" || true; done
  "$here/../harness/dovecot.sh" stop "$dir/dovecot" || true
  "$here/../harness/keep-logs.sh" "$dir" e2e-shipping
  if [[ -n ${KEEP_SHIPPING_DIR:-} ]]; then echo "# kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

# listening tcp|udp PORT: something is bound to 127.0.0.1:PORT (read from
# /proc, so no ss/netstat is needed)
listening() {
  local hex
  hex=$(printf '0100007F:%04X' "$2")
  if [[ $1 == tcp ]]; then
    awk -v a="$hex" '$2 == a && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp
  else
    awk -v a="$hex" '$2 == a { f = 1 } END { exit !f }' /proc/net/udp
  fi
}

# --- Dovecot: the mailboxes whose counts and sizes must arrive -------------
mkdir -p "$dir/dovecot" "$dir/plugins"
"$here/../harness/dovecot.sh" start "$dir/dovecot"
set -a
# shellcheck disable=SC1091
. "$dir/dovecot/env"
set +a
cp "$plugin" "$dir/plugins/pop3.so" # collectd refuses a symlinked plugin
read -r P_CARBON P_CARBON_QUERY P_INFLUX_HTTP P_INFLUX_RPC P_INFLUX_COLLECTD P_CENTRAL \
  <<<"$(free_ports 6)"

# --- receivers, started together ------------------------------------------
start_carbon() {
  local c=$dir/carbon
  mkdir -p "$c/conf" "$c/storage/whisper" "$c/storage/lists" "$c/log"
  cat >"$c/conf/carbon.conf" <<CONF
[cache]
STORAGE_DIR = $c/storage/
LOCAL_DATA_DIR = $c/storage/whisper/
WHITELISTS_DIR = $c/storage/lists/
CONF_DIR = $c/conf/
LOG_DIR = $c/log/
PID_DIR = $c/
USER =
DATABASE = whisper
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 500
MAX_CREATES_PER_MINUTE = 50
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = $P_CARBON
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_PORT = 0
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = $P_CARBON_QUERY
CARBON_METRIC_INTERVAL = 0
LOG_CREATES = True
CONF
  # One slot per 30 s, the plugin's default (and minimum) Interval: a
  # coarser slot would average reads, a finer one leave gaps.
  cat >"$c/conf/storage-schemas.conf" <<'CONF'
[collectd]
pattern = ^collectd\.
retentions = 30s:1d,5m:90d

[default]
pattern = .*
retentions = 60s:1d
CONF
  # --debug: foreground, log to stdout; the PID is ours to stop
  carbon-cache --config="$c/conf/carbon.conf" --pidfile="$c/carbon.pid" --debug start \
    >"$c/carbon.log" 2>&1 &
  carbon_pid=$!
  pids+=("$carbon_pid")
}

start_influxdb() {
  local i=$dir/influxdb
  mkdir -p "$i"
  cat >"$i/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$P_INFLUX_RPC"
[meta]
  dir = "$i/meta"
[data]
  dir = "$i/data"
  wal-dir = "$i/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$P_INFLUX_HTTP"
  log-enabled = false
[continuous_queries]
  enabled = false
[[collectd]]
  enabled = true
  bind-address = "127.0.0.1:$P_INFLUX_COLLECTD"
  database = "collectd"
  typesdb = "$TYPESDB"
  security-level = "none"
  batch-size = 100
  batch-timeout = "1s"
CONF
  influxd run -config "$i/influxdb.conf" >"$i/influxd.log" 2>&1 &
  influx_pid=$!
  pids+=("$influx_pid")
}

start_central() {
  local c=$dir/central
  mkdir -p "$c"
  # the central side knows the edges' credentials
  printf 'edge: %s\n' "$CENTRAL_SECRET" >"$c/auth"
  chmod 600 "$c/auth"
  cat >"$c/collectd.conf" <<CONF
Hostname "central"
BaseDir "$c"
PIDFile "$c/collectd.pid"
TypesDB "$TYPESDB"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$c/collectd.log"
  PrintSeverity true
</Plugin>
LoadPlugin network
<Plugin network>
  <Listen "127.0.0.1" "$P_CENTRAL">
    SecurityLevel Encrypt
    AuthFile "$c/auth"
  </Listen>
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$c/csv"
</Plugin>
CONF
  collectd -f -C "$c/collectd.conf" >"$c/stdout.log" 2>&1 &
  central_pid=$!
  pids+=("$central_pid")
}

CENTRAL_SECRET=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(16))')
t_recv=$(date +%s.%N)
want graphite && start_carbon
want influxdb && start_influxdb
want central && start_central

influx_up() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_INFLUX_HTTP/ping" | grep -q 204; }
if want graphite; then
  wait_until "$START_WAIT" "carbon-cache listening on 127.0.0.1:$P_CARBON" \
    eval 'alive "$carbon_pid" || fail "carbon-cache exited"; listening tcp "$P_CARBON"'
  ok "carbon-cache $(dpkg-query -W -f='${Version}' graphite-carbon) listens on 127.0.0.1:$P_CARBON"
fi
if want influxdb; then
  wait_until "$START_WAIT" "InfluxDB HTTP on 127.0.0.1:$P_INFLUX_HTTP" \
    eval 'alive "$influx_pid" || fail "influxd exited"; influx_up'
  wait_until "$START_WAIT" "InfluxDB collectd listener on 127.0.0.1:$P_INFLUX_COLLECTD" \
    listening udp "$P_INFLUX_COLLECTD"
  ok "$(influxd version) answers on 127.0.0.1:$P_INFLUX_HTTP, collectd listener on udp $P_INFLUX_COLLECTD"
fi
if want central; then
  wait_until "$START_WAIT" "central collectd listening on udp 127.0.0.1:$P_CENTRAL" \
    eval 'alive "$central_pid" || fail "central collectd exited"; listening udp "$P_CENTRAL"'
  ok "central collectd listens on udp 127.0.0.1:$P_CENTRAL (SecurityLevel Encrypt)"
fi
echo "# receivers up in $(elapsed "$t_recv") s"

# --- edges: collectd with the plugin, one per road -------------------------
# edge_conf ROAD WRITER_BLOCK: a collectd.conf whose pop3 plugin watches the
# few (plain, PasswordFile), many (implicit TLS) and empty (STARTTLS) users
edge_conf() {
  local e=$dir/edge-$1
  mkdir -p "$e"
  cat >"$e/collectd.conf" <<CONF
Hostname "$EDGE_HOST"
BaseDir "$e"
PIDFile "$e/collectd.pid"
Interval 30
TypesDB "$TYPESDB"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$e/collectd.log"
  PrintSeverity true
</Plugin>
$2
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
$(harness_monitors)
</Plugin>
CONF
}

declare -A edge_pid
start_edge() {
  collectd -f -C "$dir/edge-$1/collectd.conf" >"$dir/edge-$1/stdout.log" 2>&1 &
  edge_pid[$1]=$!
  pids+=("${edge_pid[$1]}")
}

# the expected (monitor, metric, value) triples every road must deliver
expected=(
  "few email_count $POP3_FEW_COUNT"
  "few mailbox_size $POP3_FEW_SIZE"
  "many email_count $POP3_MANY_COUNT"
  "many mailbox_size $POP3_MANY_SIZE"
  "empty email_count $POP3_EMPTY_COUNT"
  "empty mailbox_size $POP3_EMPTY_SIZE"
)

if want graphite; then
  edge_conf graphite "$(cat <<CONF
<LoadPlugin write_graphite>
  FlushInterval 1
</LoadPlugin>
<Plugin write_graphite>
  <Node "carbon">
    Host "127.0.0.1"
    Port "$P_CARBON"
    Protocol "tcp"
    Prefix "collectd."
    LogSendErrors true
  </Node>
</Plugin>
CONF
)"
fi
if want influxdb; then
  edge_conf influxdb "$(cat <<CONF
<LoadPlugin network>
  FlushInterval 1
</LoadPlugin>
<Plugin network>
  Server "127.0.0.1" "$P_INFLUX_COLLECTD"
</Plugin>
CONF
)"
fi
if want central; then
  edge_conf central "$(cat <<CONF
<LoadPlugin network>
  FlushInterval 1
</LoadPlugin>
<Plugin network>
  <Server "127.0.0.1" "$P_CENTRAL">
    SecurityLevel Encrypt
    Username "edge"
    Password "$CENTRAL_SECRET"
  </Server>
</Plugin>
CONF
)"
fi
t_edges=$(date +%s.%N)
for r in "${roads[@]}"; do start_edge "$r"; done

# --- readers, one per road --------------------------------------------------
# Graphite: <Prefix><host, dots escaped as _>.<plugin>-<instance>.<type>[-<type instance>]
gpath() { # MONITOR METRIC: the whisper file of that metric
  local t=$2
  [[ $t == mailbox_size ]] && t=bytes-mailbox_size
  echo "$dir/carbon/storage/whisper/collectd/${EDGE_HOST//./_}/pop3-$1/$t.wsp"
}
gfetch() { # MONITOR METRIC: the non-empty slots, "timestamp value" per line
  local f
  f=$(gpath "$1" "$2")
  [[ -f $f ]] || return 1
  whisper-fetch --from="$(($(date +%s) - 600))" --until="$(($(date +%s) + 60))" "$f" 2>/dev/null |
    awk '$2 != "None"'
}
graphite_arrived() {
  local e m
  for e in "${expected[@]}" "few response_time -"; do
    read -r m t _ <<<"$e"
    [[ -n $(gfetch "$m" "$t") ]] || return 1
  done
}

influxql() { # QUERY: the JSON answer of InfluxDB's HTTP API
  curl -sS --max-time 5 -G "http://127.0.0.1:$P_INFLUX_HTTP/query" \
    --data-urlencode db=collectd --data-urlencode "q=$1"
}
# InfluxDB's collectd listener: measurement <plugin>_<data source name>, so
# pop3_value; tags host, instance (plugin instance), type, type_instance
iwhere() { # MONITOR METRIC
  case $2 in
    email_count) echo "host = '$EDGE_HOST' AND instance = '$1' AND type = 'email_count'" ;;
    mailbox_size) echo "host = '$EDGE_HOST' AND instance = '$1' AND type = 'bytes' AND type_instance = 'mailbox_size'" ;;
    response_time) echo "host = '$EDGE_HOST' AND instance = '$1' AND type = 'response_time'" ;;
  esac
}
ivalues() { # MONITOR METRIC: "count last" of the series
  influxql "SELECT count(value), last(value) FROM pop3_value WHERE $(iwhere "$1" "$2")" |
    "$PY" -c '
import json, sys
r = json.load(sys.stdin)["results"][0]
s = r.get("series")
if not s:
    sys.exit(1)
row = s[0]["values"][0]
print(row[1], repr(row[2]))'
}
influx_arrived() {
  local e m t
  for e in "${expected[@]}" "few response_time -"; do
    read -r m t _ <<<"$e"
    ivalues "$m" "$t" >/dev/null || return 1
  done
}

cfile() { # MONITOR METRIC: the central collectd's csv file
  local t=$2
  [[ $t == mailbox_size ]] && t=bytes-mailbox_size
  ls "$dir/central/csv/$EDGE_HOST/pop3-$1/$t"-* 2>/dev/null | head -n 1
}
central_arrived() {
  local e m t
  for e in "${expected[@]}" "few response_time -"; do
    read -r m t _ <<<"$e"
    [[ -n $(cfile "$m" "$t") ]] || return 1
  done
}

all_arrived() {
  local r
  for r in "${roads[@]}"; do
    case $r in
      graphite) graphite_arrived || return 1 ;;
      influxdb) influx_arrived || return 1 ;;
      central) central_arrived || return 1 ;;
    esac
  done
}
for ((i = 0; i < EDGE_WAIT * 5; i++)); do # at most EDGE_WAIT s
  all_arrived && break
  for r in "${roads[@]}"; do
    alive "${edge_pid[$r]}" || fail "edge collectd for $r exited early"
  done
  sleep 0.2
done
echo "# values arrived (or the wait ended) $(elapsed "$t_edges") s after the edges started"
for r in "${roads[@]}"; do
  status=0
  stop_pid "${edge_pid[$r]}" || status=$?
  [[ $status -eq 0 ]] || fail "edge collectd for $r exited with $status on SIGTERM"
  grep -q 'pop3 plugin: monitor "few" .*first collection' "$dir/edge-$r/collectd.log" ||
    fail "edge $r: no first collection logged"
  ! grep -q 'ERROR\]\|\[error\]' "$dir/edge-$r/collectd.log" ||
    fail "edge $r logged an error: $(grep -i error "$dir/edge-$r/collectd.log")"
done
ok "the edges (${roads[*]}) collected once, shipped, logged no error and stopped on SIGTERM"

# int_equal GOT WANT: GOT is WANT written as a number (3, 3.0, 3.000000)
int_equal() { "$PY" -c 'import sys; g = float(sys.argv[1]); sys.exit(not (g == int(sys.argv[2]) and g.is_integer()))' "$1" "$2"; }

if want graphite; then
  info=$(whisper-info "$(gpath few email_count)")
  grep -q '^secondsPerPoint: 30$' <<<"$info" || fail "whisper file not at 30 s per point: $info"
  for e in "${expected[@]}"; do
    read -r m t v <<<"$e"
    rows=$(gfetch "$m" "$t") || fail "graphite: no whisper file $(gpath "$m" "$t")"
    [[ $(wc -l <<<"$rows") -eq 1 ]] || fail "graphite: $m $t: one read, one slot expected: $rows"
    read -r ts got <<<"$rows"
    int_equal "$got" "$v" || fail "graphite: $m $t = $got, expected $v"
    (( ts % 30 == 0 )) || fail "graphite: slot $ts not on the 30 s grid"
    (( ts > ${t_edges%.*} - 30 && ts <= $(date +%s) )) ||
      fail "graphite: slot $ts is not the slot of the read (edges started at ${t_edges%.*})"
    ok "graphite: collectd.${EDGE_HOST//./_}.pop3-$m.$(basename "$(gpath "$m" "$t")" .wsp) = $got in the slot at $ts"
  done
  read -r _ rt <<<"$(gfetch few response_time)"
  "$PY" -c 'import sys; v = float(sys.argv[1]); sys.exit(not 0 < v < 10)' "$rt" ||
    fail "graphite: response_time $rt"
  ok "graphite: collectd.${EDGE_HOST//./_}.pop3-few.response_time = $rt s"
fi

if want influxdb; then
  for e in "${expected[@]}"; do
    read -r m t v <<<"$e"
    read -r n got <<<"$(ivalues "$m" "$t")" || fail "influxdb: no $m $t series"
    [[ $n -eq 1 ]] || fail "influxdb: $m $t: $n points, one read expected"
    int_equal "$got" "$v" || fail "influxdb: $m $t = $got, expected $v"
    ok "influxdb: pop3_value{$(iwhere "$m" "$t" | sed "s/host = '[^']*' AND //; s/ AND /,/g; s/ = /=/g")} = $got"
  done
  series=$(influxql 'SHOW SERIES FROM pop3_value' | "$PY" -c '
import json, sys
for v in json.load(sys.stdin)["results"][0]["series"][0]["values"]:
    print(v[0])' | sort)
  want_series=$(for m in empty few many; do
    echo "pop3_value,host=$EDGE_HOST,instance=$m,type=bytes,type_instance=mailbox_size"
    echo "pop3_value,host=$EDGE_HOST,instance=$m,type=email_count"
    echo "pop3_value,host=$EDGE_HOST,instance=$m,type=response_time"
    echo "pop3_value,host=$EDGE_HOST,instance=$m,type=bool,type_instance=available"
    # TLS monitors also report the days their certificate has left
    [[ $m == few ]] || echo "pop3_value,host=$EDGE_HOST,instance=$m,type=timeleft,type_instance=certificate"
  done | sort)
  [[ $series == "$want_series" ]] || fail "influxdb: series are
$series
expected
$want_series"
  ok "influxdb: SHOW SERIES FROM pop3_value lists exactly the 14 series (3 monitors x count, size, response time, available; 2 certificates)"
  measurements=$(influxql 'SHOW MEASUREMENTS')
  [[ $measurements == *'["pop3_value"]'* ]] || fail "influxdb: measurements $measurements"
  ok "influxdb: one measurement, pop3_value"
fi

if want central; then
  for e in "${expected[@]}"; do
    read -r m t v <<<"$e"
    f=$(cfile "$m" "$t")
    [[ -n $f ]] || fail "central: no csv for $m $t"
    [[ $(grep -vc '^epoch' "$f") -eq 1 ]] || fail "central: $f: one read, one row expected: $(cat "$f")"
    got=$(tail -n 1 "$f" | cut -d, -f2)
    int_equal "$got" "$v" || fail "central: $m $t = $got, expected $v"
    ok "central: ${f#"$dir/central/csv/"} = $got"
  done
  [[ ! -e $dir/central/csv/central ]] || fail "central: values under its own host name"
  ! grep -q 'pop3' <(grep -i 'plugin_load' "$dir/central/collectd.log") ||
    fail "central loaded the pop3 plugin"
  ok "central: the values come from $EDGE_HOST over the network (central loads no pop3 plugin)"
  ! grep -rqF -- "$CENTRAL_SECRET" "$dir/central/csv" "$dir/central/collectd.log" "$dir/edge-central/collectd.log" ||
    fail "central: the network password reached a log or csv"
fi

echo "# shipping (${roads[*]}): $passed checks passed in $(elapsed "$t_start") s"
