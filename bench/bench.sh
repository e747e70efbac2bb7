#!/usr/bin/env bash
# bench/bench.sh BUILD_DIR: what `make bench` runs (see bench/README-bench.md).
#
# Two network namespaces joined by a veth pair: the server side (Dovecot,
# 10.77.0.2) and the client side (the plugin's engine, collectd, the Python
# and Java peers, 10.77.0.1). An iptables NFQUEUE rule on each side hands
# every arriving packet to build/delayq, which holds it for half the
# emulated RTT. Everything the bench creates (namespaces, and with them the
# veth and the rules; processes; the temp dir) is removed on exit, also on
# Ctrl-C. Every wait is bounded. BENCH_QUICK=1: fewer repeats, 1000-monitor
# scale rows only.
set -euo pipefail

BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
QUICK=${BENCH_QUICK:-}
[[ $QUICK == 0 ]] && QUICK=
RTT_MS=50             # round-trip runs
SCALE_RTT_MS=100      # scale runs
INTERVAL=30
# scale rows (see scale_row): TLS 1000 with and without Spread side by side
if [[ -n $QUICK ]]; then
  N=5; CG_N=3; SCALES=(plain:1000 tls:1000:nospread tls:1000)
else
  N=15; CG_N=10
  SCALES=(plain:100 plain:1000:nospread plain:1000 plain:5000 tls:1000:nospread tls:1000 tls:5000)
fi
[[ -n ${BENCH_SCALES:-} ]] && read -r -a SCALES <<<"$BENCH_SCALES"
# BENCH_MONITOR_EXTRA: option lines added to every scale <Monitor> block
MONITOR_EXTRA=${BENCH_MONITOR_EXTRA:+$BENCH_MONITOR_EXTRA
}
# BENCH_STAGES (for working on the bench): any of rtt age slow peers instr cpu mem loop scale
STAGES=" ${BENCH_STAGES:-rtt age slow peers instr cpu mem loop scale} "
stage() { [[ $STAGES == *" $1 "* ]]; }

NS_C=p3b-c-$$ NS_S=p3b-s-$$
IF_C=p3bc$$ IF_S=p3bs$$
IP_C=10.77.0.1 IP_S=10.77.0.2
W=$(mktemp -d /tmp/p3b.XXXXXX)
chmod 755 "$W"
RES=$W/results.env
declare -a PIDS=()
DELAY_PIDS=()

say() { printf '%s\n' "$*"; }
die() { say "bench: $*" >&2; exit 1; }
in_c() { ip netns exec "$NS_C" "$@"; }
in_s() { ip netns exec "$NS_S" "$@"; }

alive() { [[ -r /proc/$1/stat ]] && [[ $(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# stop_pid PID [SECONDS]: SIGTERM, bounded wait, SIGKILL
stop_pid() {
  local pid=$1 t=${2:-5} i
  alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < t * 10; i++)); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${DELAY_PIDS[@]}" "${PIDS[@]}"; do stop_pid "$pid" 5; done
  # Dovecot's children (login, pop3, auth) run in the namespace: whatever
  # is left in it is ours; deleting a namespace removes its veth and rules.
  for ns in "$NS_C" "$NS_S"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  if [[ -n ${BENCH_KEEP:-} ]]; then say "bench: kept $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "bench: interrupted"; exit 130' INT TERM

# Namespaces left by a bench that was killed hard: their owner PID is gone.
for ns in $(ip netns list 2>/dev/null | grep -o '^p3b-[cs]-[0-9]*' || true); do
  owner=${ns##*-}
  if ! alive "$owner"; then
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  fi
done

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, iptables)"
T_START=$(date +%s)

# ------------------------------------------------------------------ network
say "== Latency emulator: two network namespaces, a veth pair, NFQUEUE + build/delayq"
[[ -e /proc/net/netfilter/nfnetlink_queue ]] ||
  die "the kernel has no nfnetlink_queue (/proc/net/netfilter/nfnetlink_queue)"
ip netns add "$NS_C"
ip netns add "$NS_S"
ip link add "$IF_C" type veth peer name "$IF_S"
ip link set "$IF_C" netns "$NS_C"
ip link set "$IF_S" netns "$NS_S"
ip -n "$NS_C" addr add "$IP_C/24" dev "$IF_C"
ip -n "$NS_S" addr add "$IP_S/24" dev "$IF_S"
for ns in "$NS_C" "$NS_S"; do ip -n "$ns" link set lo up; done
ip -n "$NS_C" link set "$IF_C" up
ip -n "$NS_S" link set "$IF_S" up
# Receiving side: the packets arriving on each veth end go to queue 0 of
# that namespace. --queue-bypass: undelayed while no delayq is bound.
IPT=iptables
in_c "$IPT" -A INPUT -i "$IF_C" -j NFQUEUE --queue-num 0 --queue-bypass 2>/dev/null || IPT=iptables-legacy
in_c "$IPT" -C INPUT -i "$IF_C" -j NFQUEUE --queue-num 0 --queue-bypass 2>/dev/null ||
  in_c "$IPT" -A INPUT -i "$IF_C" -j NFQUEUE --queue-num 0 --queue-bypass ||
  die "cannot add an NFQUEUE rule"
in_s "$IPT" -A INPUT -i "$IF_S" -j NFQUEUE --queue-num 0 --queue-bypass
say "  kernel: nfnetlink_queue present, no netem; rules: $IPT -A INPUT -i <veth> -j NFQUEUE (both sides)"

# set_rtt MS: (re)start one delayq per side, each holding packets MS/2
set_rtt() {
  local half pid ns out i
  half=$(awk -v r="$1" 'BEGIN { printf "%.3f", r / 2 }')
  for pid in "${DELAY_PIDS[@]}"; do stop_pid "$pid" 3; done
  DELAY_PIDS=()
  (($1 == 0)) && return 0
  for ns in "$NS_C" "$NS_S"; do
    out=$W/delayq-$ns-$1.log
    ip netns exec "$ns" "$BUILD/delayq" -q 0 -d "$half" >"$out" 2>&1 &
    pid=$!
    DELAY_PIDS+=("$pid")
    for ((i = 0; i < 50; i++)); do grep -qs ready "$out" && break; alive "$pid" || break; sleep 0.1; done
    grep -qs ready "$out" || die "delayq did not start: $(cat "$out")"
  done
}

# connect_ms HOST PORT N: median TCP connect time from the client side
connect_ms() {
  in_c "$PY" - "$@" <<'EOF'
import socket, statistics, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ts = []
for _ in range(n):
    t = time.perf_counter()
    s = socket.create_connection((host, port), timeout=5)
    ts.append(time.perf_counter() - t)
    s.close()
    time.sleep(0.01)
print(f"{statistics.median(ts) * 1e3:.2f}")
EOF
}

# ------------------------------------------------------------------ Dovecot
say "== Dovecot in the server namespace ($IP_S, ports 110/995, performance settings)"
mkdir -p "$W/dc/state" "$W/dc/run" "$W/pki" "$W/home"
chmod 755 "$W/dc" "$W/dc/run" "$W/home"
(
  cd "$W/pki"
  cat >openssl.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:10.77.0.2, IP:127.0.0.1, DNS:localhost
EOF
  for k in ca server; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $k.key 2>/dev/null
  done
  openssl req -x509 -new -config openssl.cnf -extensions ca -key ca.key \
    -subj "/CN=collectd-pop3 bench CA" -days 2 -out ca.pem 2>/dev/null
  openssl req -new -config openssl.cnf -key server.key -subj "/CN=localhost" -out server.csr
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile openssl.cnf -extensions leaf -out server.pem 2>/dev/null
)
CA=$W/pki/ca.pem
BUSER=bench
BPASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
# one mailbox, two small messages (CRLF line ends: STAT size = file size),
# and an empty one (the message age costs nothing there)
md=$W/home/$BUSER/Maildir
mkdir -p "$md/cur" "$md/new" "$md/tmp" "$W/home/empty/Maildir/"{cur,new,tmp}
for i in 1 2; do
  printf 'Received: by localhost; %s\r\nFrom: a@example.test\r\nSubject: bench %s\r\n\r\nhello\r\n' \
    "$(date -u -R -d "-$((3 - i)) hours")" "$i" >"$md/cur/msg$i"
  mv "$md/cur/msg$i" "$md/cur/170000000$i.M$i.bench,S=$(stat -c %s "$md/cur/msg$i"):2,"
done
chown -R nobody:nogroup "$W/home/$BUSER" "$W/home/empty"
{
  echo "$BUSER:{PLAIN}$BPASS::::$W/home/$BUSER::"
  echo "empty:{PLAIN}$BPASS::::$W/home/empty::"
} >"$W/dc/passwd"
chown root:dovecot "$W/dc/passwd"
chmod 640 "$W/dc/passwd"
cat >"$W/dc/dovecot.conf" <<EOF
instance_name = pop3bench-$$
base_dir = $W/dc/run
state_dir = $W/dc/state
log_path = $W/dc/dovecot.log
info_log_path = /dev/null
protocols = pop3
listen = $IP_S, 127.0.0.1
ssl = yes
ssl_cert = <$W/pki/server.pem
ssl_key = <$W/pki/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
first_valid_gid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $W/dc/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $W/dc/passwd
}
# every monitor logs in as the same user from the same address
mail_max_userip_connections = 100000
default_client_limit = 10000
# Dovecot's documented high-performance mode: long-lived login processes
# (service_count = 0) and reused pop3 processes. One login process, so that
# its TLS session-ticket key serves every connection (resumption works).
service pop3-login {
  service_count = 0
  process_min_avail = 1
  client_limit = 10000
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3s {
    port = 995
    ssl = yes
  }
}
service pop3 {
  service_count = 1000
  process_min_avail = 4
  process_limit = 1000
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
(
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  exec ip netns exec "$NS_S" /usr/sbin/dovecot -F -c "$W/dc/dovecot.conf" </dev/null >"$W/dc/stdout.log" 2>&1
) &
PIDS+=("$!")
DOVECOT_PID=$!

# wait_greeting HOST PORT SECONDS (client side)
wait_greeting() {
  in_c "$PY" - "$@" <<'EOF' || { tail -n 20 "$W/dc/dovecot.log" "$W/dc/stdout.log" >&2; die "Dovecot did not greet"; }
import socket, sys, time
host, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + limit
while time.monotonic() < end:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            if s.makefile("rb").readline().startswith(b"+OK"):
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF
}
wait_greeting "$IP_S" 110 15
say "  dovecot $(/usr/sbin/dovecot --version | cut -d' ' -f1): pop3-login service_count = 0 (one long-lived login process),"
say "  pop3 service_count = 1000, mail_max_userip_connections = 100000; TLS 1.3, EC P-256 certificate"

{
  echo "rtt_ms=$RTT_MS"
  echo "scale_rtt_ms=$SCALE_RTT_MS"
  echo "scale_interval=$INTERVAL"
} >>"$RES"

# ------------------------------------------------------------------ calibration
say "== Calibration: TCP connect time from the client namespace (median of 20)"
c0=$(connect_ms "$IP_S" 110 20)
set_rtt "$RTT_MS"
c50=$(connect_ms "$IP_S" 110 20)
say "  no emulation: $c0 ms; emulated ${RTT_MS} ms RTT: $c50 ms (the figures below divide by this measured RTT)"
echo "connect_ms_$RTT_MS=$c50" >>"$RES"
RTT_S=$(awk -v m="$c50" 'BEGIN { printf "%.6f", m / 1000 }')

# ------------------------------------------------------------------ round trips
say "== Round trips per collection at ${RTT_MS} ms RTT, Dovecot, median of $N"
say "   (wall = submit -> STAT answered, QUIT completes in the background;"
say "    connect->STAT = the plugin's response_time)"
mode_flags() { case $1 in plain) ;; ssl) echo -s ;; starttls) echo -S ;; esac; }
mode_port() { case $1 in ssl) echo 995 ;; *) echo 110 ;; esac; }
for mode in plain ssl starttls; do
  stage rtt || break
  # shellcheck disable=SC2046
  in_c timeout 300 "$BUILD/collect_bench" -m first -n "$N" $(mode_flags $mode) -c "$CA" \
    "$IP_S" "$(mode_port $mode)" "$BUSER" "$BPASS" >"$W/c_${mode}_first.txt" || true
  "$PY" "$HERE/analyze.py" "$RES" runs "c_${mode}_first" "$W/c_${mode}_first.txt" "$RTT_S"
  # shellcheck disable=SC2046
  in_c timeout 300 "$BUILD/collect_bench" -m resumed -n $((N + 1)) $(mode_flags $mode) -c "$CA" \
    "$IP_S" "$(mode_port $mode)" "$BUSER" "$BPASS" >"$W/c_${mode}_resumed.txt" || true
  "$PY" "$HERE/analyze.py" "$RES" runs "c_${mode}_resumed" "$W/c_${mode}_resumed.txt" "$RTT_S" 1
done

# ------------------------------------------------------------------ message age
# CollectMessageAge: TOP 1 0 goes with STAT, TOP 2 0 one round trip later;
# an empty mailbox is asked nothing more.
if stage age; then
  say "== Message age on (CollectMessageAge), ${RTT_MS} ms RTT, Dovecot, resumed, median of $N"
  for mode in plain ssl; do
    # shellcheck disable=SC2046
    in_c timeout 300 "$BUILD/collect_bench" -a 1 -m resumed -n $((N + 1)) $(mode_flags $mode) -c "$CA" \
      "$IP_S" "$(mode_port $mode)" "$BUSER" "$BPASS" >"$W/age_${mode}.txt" || true
    "$PY" "$HERE/analyze.py" "$RES" runs "age_${mode}" "$W/age_${mode}.txt" "$RTT_S" 1
  done
  in_c timeout 300 "$BUILD/collect_bench" -a 1 -m resumed -n $((N + 1)) -c "$CA" \
    "$IP_S" 110 empty "$BPASS" >"$W/age_empty.txt" || true
  "$PY" "$HERE/analyze.py" "$RES" runs "age_empty" "$W/age_empty.txt" "$RTT_S" 1
fi

# ------------------------------------------------------------------ slow STAT
# A server that answers STAT 0.6 s late (tests/harness/fake_pop3.py stat-slow):
# after a silence the engine sends NOOP, the STAT answer comes first, so
# STAT keeps going with the login.
SLOW_DELAY=0.6
if stage slow; then
  say "== A server answering STAT ${SLOW_DELAY} s late, ${RTT_MS} ms RTT, plain, resumed, median of $N"
  echo "slow_stat_delay=$SLOW_DELAY" >>"$RES"
  in_s "$PY" "$HERE/../tests/harness/fake_pop3.py" --scenario stat-slow --host "$IP_S" \
    --port 1110 --port-file "$W/slow.port" --password "$BPASS" >"$W/slow.log" 2>&1 &
  PIDS+=($!)
  slow_pid=$!
  for _ in $(seq 1 100); do [[ -s $W/slow.port ]] && break; sleep 0.1; done
  in_c timeout 300 "$BUILD/collect_bench" -m resumed -n $((N + 1)) \
    "$IP_S" 1110 "$BUSER" "$BPASS" >"$W/slow_plain.txt" || true
  "$PY" "$HERE/analyze.py" "$RES" slowstat slow_plain "$W/slow_plain.txt" "$RTT_S" "$SLOW_DELAY" 1
  stop_pid "$slow_pid" 5
fi

say "== Peers at ${RTT_MS} ms RTT, same server, median of $N"
JAVA_CP=/usr/share/java/commons-net.jar:$BUILD/bench-java
keytool -importcert -noprompt -alias benchca -file "$CA" -keystore "$W/pki/trust.p12" \
  -storetype PKCS12 -storepass changeit >/dev/null 2>&1
JAVA_OPTS=(-XX:+UseSerialGC -Xshare:auto -Djavax.net.ssl.trustStore="$W/pki/trust.p12"
  -Djavax.net.ssl.trustStorePassword=changeit -Djavax.net.ssl.trustStoreType=PKCS12)
for mode in plain ssl starttls; do
  stage peers || break
  in_c timeout 120 "$PY" "$HERE/peer_poplib.py" "$mode" "$N" "$IP_S" "$(mode_port $mode)" \
    "$BUSER" "$BPASS" "$CA" >"$W/py_$mode.txt" || true
  "$PY" "$HERE/analyze.py" "$RES" runs "py_$mode" "$W/py_$mode.txt" "$RTT_S"
  in_c timeout 120 java "${JAVA_OPTS[@]}" -cp "$JAVA_CP" PeerCommonsNet "$mode" "$N" 3 \
    "$IP_S" "$(mode_port $mode)" "$BUSER" "$BPASS" >"$W/java_$mode.txt" 2>&1 || true
  "$PY" "$HERE/analyze.py" "$RES" runs "java_$mode" "$W/java_$mode.txt" "$RTT_S"
done

# ------------------------------------------------------------------ instructions
set_rtt 0
say "== Client instructions per collection: valgrind --tool=callgrind, loopback in the"
say "   server namespace (127.0.0.1), no delay; (Ir(N+1 collections) - Ir(1)) / N, N = $CG_N"
cg() { # KEY COUNT COMMAND...
  local key=$1 count=$2
  shift 2
  in_s timeout 300 valgrind --tool=callgrind --callgrind-out-file="$W/cg.$key.$count" \
    "$@" >"$W/cg.$key.$count.txt" 2>"$W/cg.$key.$count.err" ||
    { tail -n 5 "$W/cg.$key.$count.err" "$W/cg.$key.$count.txt" >&2; die "callgrind run $key failed"; }
}
cg_pair() { # KEY COMMAND-WITH-@N@...
  local key=$1 n
  shift
  for n in 1 $((CG_N + 1)); do
    cg "$key" "$n" "${@//@N@/$n}"
  done
  "$PY" "$HERE/analyze.py" "$RES" callgrind "$key" "$W/cg.$key.1" "$W/cg.$key.$((CG_N + 1))" "$CG_N"
}
CB=("$BUILD/collect_bench" -q -t 60 -c "$CA")
if stage instr; then
cg_pair cg_plain "${CB[@]}" -m resumed -n @N@ 127.0.0.1 110 "$BUSER" "$BPASS"
cg_pair cg_plain_first "${CB[@]}" -m first -n @N@ 127.0.0.1 110 "$BUSER" "$BPASS"
cg_pair cg_ssl_first "${CB[@]}" -m first -n @N@ -s 127.0.0.1 995 "$BUSER" "$BPASS"
cg_pair cg_ssl_resumed "${CB[@]}" -m resumed -n @N@ -s 127.0.0.1 995 "$BUSER" "$BPASS"
res=$(sed -n 's/^S .*resumed=\([0-9]*\).*/\1/p' "$W/cg.cg_ssl_resumed.$((CG_N + 1)).txt")
echo "cg_ssl_resumed_resumed=$res/$CG_N" >>"$RES"
in_s timeout 60 "$BUILD/collect_bench" -n 1 -s -c "$CA" 127.0.0.1 995 "$BUSER" "$BPASS" >"$W/tlsver.txt" || true
echo "cg_tls_version=$(sed -n 's/.* tls=\([^ ]*\).*/\1/p' "$W/tlsver.txt")" >>"$RES"
say "  TLS ($(sed -n 's/^cg_tls_version=//p' "$RES")) resumed on $res of the $CG_N collections after the first"
cg_pair py_plain "$PY" "$HERE/peer_poplib.py" plain @N@ 127.0.0.1 110 "$BUSER" "$BPASS" "$CA"
cg_pair py_ssl "$PY" "$HERE/peer_poplib.py" ssl @N@ 127.0.0.1 995 "$BUSER" "$BPASS" "$CA"
fi

# CPU time, not instructions: callgrind's count leaves out the kernel (the
# socket and TLS system calls are a large part of a collection) and cannot
# run 1000 collections in reasonable time; 1000 collections make the 10 ms
# ticks of getrusage irrelevant.
CN=1000 JN=1000
if stage cpu; then
say "== Client CPU time per collection, loopback, no valgrind: (N+1) - 1 method, N = $CN,"
say "   user + sys from getrusage; next to it callgrind's user-space instructions (above)."
say "   Java: callgrind is impractical on a JVM and perf counters are not available"
say "   here, so CPU time (getProcessCpuTime) of $JN collections after 20 warm-up ones"
fi
# cpu_pair KEY COMMAND-WITH-@N@...: CPU of N+1 collections minus that of 1
cpu_pair() {
  local key=$1 n
  shift
  for n in 1 $((CN + 1)); do
    in_s timeout 600 "${@//@N@/$n}" >"$W/$key.$n" ||
      { tail -n 3 "$W/$key.$n" >&2; say "  $key: failed collections (see above)"; }
  done
  "$PY" "$HERE/analyze.py" "$RES" cpu "$key" "$W/$key.1" "$W/$key.$((CN + 1))" "$CN"
}
for mode in plain ssl; do
  stage cpu || break
  flag=$(mode_flags $mode) port=$(mode_port $mode)
  cmode=first # TLS: the full handshake, like the peers
  [[ $mode == plain ]] && cmode=resumed # plain: the usual collection
  # shellcheck disable=SC2086
  cpu_pair "cpu_c_$mode" "$BUILD/collect_bench" -q -m "$cmode" -n @N@ $flag -c "$CA" \
    127.0.0.1 "$port" "$BUSER" "$BPASS"
  if [[ $mode == ssl ]]; then # the plugin's usual TLS collection: resumed
    cpu_pair cpu_c_ssl_resumed "$BUILD/collect_bench" -q -m resumed -n @N@ -s -c "$CA" \
      127.0.0.1 995 "$BUSER" "$BPASS"
  fi
  cpu_pair "cpu_py_$mode" "$PY" "$HERE/peer_poplib.py" "$mode" @N@ 127.0.0.1 "$port" \
    "$BUSER" "$BPASS" "$CA"
  in_s timeout 300 java "${JAVA_OPTS[@]}" -cp "$JAVA_CP" PeerCommonsNet "$mode" "$JN" 20 \
    127.0.0.1 "$port" "$BUSER" "$BPASS" >"$W/java_cpu_$mode.txt" 2>&1 || true
  cpu_s=$(sed -n 's/^S .*cpu_s=\([0-9.]*\).*/\1/p' "$W/java_cpu_$mode.txt")
  if [[ -n $cpu_s ]]; then
    per=$(awk -v c="$cpu_s" -v n="$JN" 'BEGIN { printf "%.3f", c * 1000 / n }')
    echo "java_cpu_${mode}_cpu_ms=$per" >>"$RES"
    printf '  %-24s %8s ms CPU per collection (user + sys, %s collections)\n' "java_cpu_$mode" "$per" "$JN"
  fi
done

# ------------------------------------------------------------------ memory
# What a monitor and a collection hold at each phase (collect_bench -M):
# against Dovecot on loopback, and fake servers whose TLS handshake stalls
# (every slot taken, and as many collections waiting for one) or whose
# greeting drips (collections past the handshake).
if stage mem; then
  say "== Memory per monitor and per collection at each phase (malloc's bytes in use, OpenSSL's share)"
  mem_pids=()
  for sc in tls-stall drip-tls; do
    ip netns exec "$NS_S" "$PY" "$HERE/../tests/harness/fake_pop3.py" --scenario "$sc" --host 127.0.0.1 \
      --port-file "$W/$sc.port" --cert "$W/pki/server.pem" --key "$W/pki/server.key" \
      --password "$BPASS" >"$W/$sc.log" 2>&1 &
    PIDS+=($!)
    mem_pids+=($!)
  done
  for _ in $(seq 1 100); do [[ -s $W/tls-stall.port && -s $W/drip-tls.port ]] && break; sleep 0.1; done
  in_s timeout 120 "$BUILD/collect_bench" -M 200 -s -c "$CA" 127.0.0.1 995 "$BUSER" "$BPASS" \
    "$(cat "$W/tls-stall.port")" "$(cat "$W/drip-tls.port")" >"$W/mem.txt" || true
  for pid in "${mem_pids[@]}"; do stop_pid "$pid" 5; done
  "$PY" "$HERE/analyze.py" "$RES" memory "$W/mem.txt"
fi

# ------------------------------------------------------------------ mail loop
# What the mail loop adds per period: the collection's TOP/UIDL batch (with
# a probe also its UIDL check and DELE) against the bench Dovecot, and the
# SMTP send of one probe to a private Postfix (tests/servers/mailloop.sh),
# started in the server namespace so that the EXIT trap's sweep ends it too.
if stage loop; then
  t_loop=$(date +%s)
  md=$W/home/$BUSER/Maildir
  say "== Mail loop on (Search 10) at ${RTT_MS} ms RTT, plain, resumed, median of $N: no probe, then"
  say "   one genuine probe written into the mailbox before each collection (found, deleted, gone at QUIT)"
  set_rtt "$RTT_MS"
  in_c timeout 300 "$BUILD/collect_bench" -L -m resumed -n $((N + 1)) -c "$CA" \
    "$IP_S" 110 "$BUSER" "$BPASS" >"$W/loop_none.txt" || true
  "$PY" "$HERE/analyze.py" "$RES" loop loop_none "$W/loop_none.txt" "$RTT_S" 1
  in_c timeout 300 "$BUILD/collect_bench" -l "$md" -m resumed -n $((N + 1)) -c "$CA" \
    "$IP_S" 110 "$BUSER" "$BPASS" >"$W/loop_probe.txt" || true
  "$PY" "$HERE/analyze.py" "$RES" loop loop_probe "$W/loop_probe.txt" "$RTT_S" 1
  set_rtt 0
  say "== Mail loop instructions per period, loopback, (Ir(N+1) - Ir(1)) / N, N = $CG_N: the collection"
  say "   with a probe (writing it and checking the maildir not counted), the SMTP send (STARTTLS, AUTH)"
  stage instr || cg_pair cg_plain "${CB[@]}" -m resumed -n @N@ 127.0.0.1 110 "$BUSER" "$BPASS"
  # the probe's file is the MTA's work, not the plugin's
  VALGRIND_OPTS="--toggle-collect=bench_probe_*" \
    cg_pair cg_loop_probe "${CB[@]}" -l "$md" -m resumed -n @N@ 127.0.0.1 110 "$BUSER" "$BPASS"
  sed -n 's/^L rounds=\([0-9]*\) deleted=\([0-9]*\) gone=\([0-9]*\).*/cg_loop_probe_gone=\3\/\1/p' \
    "$W/cg.cg_loop_probe.$((CG_N + 1)).txt" >>"$RES"
  say "  probe files gone from the maildir after the collections under callgrind: $(sed -n 's/^cg_loop_probe_gone=//p' "$RES")"
  ml=$W/mailloop
  mkdir -p "$ml"
  in_s "$HERE/../tests/servers/mailloop.sh" start "$ml" >"$W/mailloop-start.log" 2>&1 ||
    { tail -n 20 "$W/mailloop-start.log" >&2; die "the mail loop's Postfix and Dovecot did not start"; }
  # shellcheck disable=SC1091  # written by mailloop.sh start
  ml_env() { (. "$ml/env" && printf '%s' "${!1}"); }
  smtp_args=(127.0.0.1 "$(ml_env SMTP_STARTTLS_PORT)" "$(ml_env SMTP_USER)" "$(ml_env SMTP_PASS)"
    "$(ml_env SERVER_CA)" "$(ml_env SMTP_FROM)" "$(ml_env SMTP_TO)")
  say "  Postfix + Dovecot ($(ml_env SERVER_VERSION)) ready in $(sed -n 's/^mailloop.sh: ready in \([0-9.]*\) s.*/\1/p' "$W/mailloop-start.log") s"
  cg smtp_send 1 "$BUILD/smtp_bench" -q -n 1 "${smtp_args[@]}"
  cg smtp_send $((CG_N + 1)) "$BUILD/smtp_bench" -q -n $((CG_N + 1)) "${smtp_args[@]}"
  # wall time: without valgrind; the first send (libcurl's start-up) dropped
  in_s timeout 300 "$BUILD/smtp_bench" -n $((N + 1)) "${smtp_args[@]}" >"$W/smtp_wall.txt" || true
  "$PY" "$HERE/analyze.py" "$RES" smtp smtp_send "$W/smtp_wall.txt" 1 \
    "$W/cg.smtp_send.1" "$W/cg.smtp_send.$((CG_N + 1))" "$CG_N"
  "$HERE/../tests/servers/mailloop.sh" stop "$ml" >/dev/null 2>&1 || true
  echo "loop_stage_s=$(($(date +%s) - t_loop))" >>"$RES"
  say "  the loop stage took $(($(date +%s) - t_loop)) s"
fi

# ------------------------------------------------------------------ scale
# Rows: MODE:MONITORS[:nospread] (a bare number is plain): plain (110) or
# implicit TLS (995, the bench CA, verified); nospread adds Spread false to
# every monitor (all collections at collectd's tick, the way before).
if stage scale; then
say "== Scale: the real collectd daemon with build/pop3.so, ${SCALE_RTT_MS} ms RTT, Interval ${INTERVAL} s,"
say "   2 intervals per row; values counted by collectd's network plugin -> bench/count_values.py;"
say "   the server watched from its namespace (bench/server_watch.py): connections open at once"
say "   (sampled every 50 ms), and its TLS ServerHellos: resumed (pre_shared_key) or full"
set_rtt "$SCALE_RTT_MS"
c100=$(connect_ms "$IP_S" 110 10)
say "  TCP connect at ${SCALE_RTT_MS} ms RTT: $c100 ms"
fi
mkdir -p "$W/plugins"
cp "$BUILD/pop3.so" "$W/plugins/pop3.so"

# ns_jiffies NS: CPU ticks of every process in the namespace, with the
# reaped children of each (Dovecot's master collects its exited workers)
ns_jiffies() {
  local pid sum=0 v
  for pid in $(ip netns pids "$1" 2>/dev/null); do
    v=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat" 2>/dev/null) || continue
    sum=$((sum + v))
  done
  echo "$sum"
}
pid_jiffies() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# scale_row SPEC SERVER_LABEL HOST
scale_row() {
  local spec=$1 label=$2 host=$3 mode m nospread port key extra d i cpid rpid wpid dur
  local t0 t1 j0 j1 hwm s0 s1 w0 w1 errors sched_ns sched
  IFS=: read -r mode m nospread <<<"$spec"
  if [[ $mode =~ ^[0-9]+$ ]]; then m=$mode mode=plain; fi
  key=scale_${mode}_$m${nospread:+_nospread}
  d=$W/$key
  port=110 extra=$MONITOR_EXTRA
  [[ $mode == tls ]] && port=995 extra+="    SSL true
    CACert \"$CA\"
"
  [[ -n $nospread ]] && extra+="    Spread false
"
  mkdir -p "$d"
  {
    cat <<EOF
Hostname "bench"
BaseDir "$d"
PIDFile "$d/collectd.pid"
Interval $INTERVAL
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel warning
  File "$d/collectd.log"
  PrintSeverity true
</Plugin>
LoadPlugin network
<Plugin network>
  Server "127.0.0.1" "25826"
</Plugin>
PluginDir "$W/plugins"
LoadPlugin pop3
<Plugin pop3>
EOF
    for ((i = 0; i < m; i++)); do
      printf '  <Monitor "m%05d">\n    Host "%s"\n    Port %s\n    User "%s"\n    Password "%s"\n%s  </Monitor>\n' \
        "$i" "$host" "$port" "$BUSER" "$BPASS" "$extra"
    done
    echo "</Plugin>"
  } >"$d/collectd.conf"
  ip netns exec "$NS_C" "$PY" "$HERE/count_values.py" 127.0.0.1 25826 "$d/values.json" "$d/ready" &
  rpid=$!
  PIDS+=("$rpid")
  # not through in_s: $! must be the watcher itself (ip netns exec execs it)
  ip netns exec "$NS_S" "$PY" "$HERE/server_watch.py" "$IF_S" "$d/server.json" 995 110 &
  wpid=$!
  PIDS+=("$wpid")
  for ((i = 0; i < 50; i++)); do [[ -e $d/ready ]] && break; sleep 0.1; done
  (
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    exec ip netns exec "$NS_C" collectd -f -C "$d/collectd.conf" </dev/null >"$d/stdout.log" 2>&1
  ) &
  cpid=$!
  PIDS+=("$cpid")
  t0=$(date +%s.%N)
  j0=0
  # the watcher runs in the server's namespace: its CPU is not the server's
  w0=$(pid_jiffies "$wpid")
  s0=$(ns_jiffies "$NS_S")
  # every monitor's second value comes before 2 intervals: offsets stay
  # below Interval - Timeout - 1 s
  dur=$((2 * INTERVAL + 6))
  for ((i = 0; i < dur; i++)); do
    alive "$cpid" || { tail -n 5 "$d/collectd.log" "$d/stdout.log" >&2; die "collectd exited"; }
    sleep 1 &
    wait $! # a signal to this script is handled at once, not after the sleep
  done
  j1=$(awk '{ print $14 + $15 }' "/proc/$cpid/stat")
  # the scheduler's own clock (ns on a CPU, every thread): utime and stime
  # are sampled at each tick, which misjudges a process that wakes often
  # for short runs
  sched_ns=$(cat /proc/"$cpid"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f", s }')
  hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$cpid/status")
  s1=$(ns_jiffies "$NS_S")
  w1=$(pid_jiffies "$wpid")
  t1=$(date +%s.%N)
  stop_pid "$cpid" 20
  stop_pid "$rpid" 5
  stop_pid "$wpid" 5
  local hz pct spct
  hz=$(getconf CLK_TCK)
  pct=$(awk -v j="$((j1 - j0))" -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", 100 * j / hz / (b - a) }')
  spct=$(awk -v j="$((s1 - s0 - (w1 - w0)))" -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", 100 * j / hz / (b - a) }')
  # one ERROR per monitor and cause (not per failed collection)
  errors=$(cat "$d/collectd.log" 2>/dev/null | grep -c '\[error\] pop3 plugin: monitor' || true)
  "$PY" "$HERE/analyze.py" "$RES" scale "$key" "$d/values.json" "$m" "$INTERVAL" "$pct" "$hwm" \
    "$label, $mode${nospread:+, Spread false}"
  echo "${key}_server_cpu_pct=$spct" >>"$RES"
  echo "${key}_errors=$errors" >>"$RES"
  sched=$(awk -v n="$sched_ns" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", 100 * n / 1e9 / (b - a) }')
  echo "${key}_cpu_sched_pct=$sched" >>"$RES"
  "$PY" "$HERE/analyze.py" "$RES" watch "$key" "$d/server.json" "$m"
  say "          collectd CPU by the scheduler's clock: $sched % of one core"
  say "          server ($label, all its processes) CPU: $spct % of one core; ERROR lines: $errors"
  grep -s -i -E 'error|refused|timed out|no answer' "$d/collectd.log" | head -n 3 | sed 's/^/    log: /' || true
}
for spec in "${SCALES[@]}"; do
  stage scale || break
  scale_row "$spec" "Dovecot" "$IP_S"
done
set_rtt 0

# ------------------------------------------------------------------ table
say ""
say "== Final table (targets; RTT figures divide by the measured TCP connect time)"
"$PY" "$HERE/analyze.py" "$RES" table
say ""
say "make bench took $(($(date +%s) - T_START)) s"
