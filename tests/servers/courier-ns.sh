#!/usr/bin/env bash
# tests/servers/courier-ns.sh DIR ROOT PLAIN_PORT TLS_PORT IPV6(yes|no)
# Runs inside `unshare -m --propagation private` (started by courier.sh): puts
# the instance's files on the compiled-in paths /etc/courier and /run/courier
# (bind mounts visible in this mount namespace only), starts authdaemond and
# one couriertcpd per port, and stays in the foreground until TERM.
set -euo pipefail

dir=$1 root=$2 plain=$3 tls=$4 ipv6=$5
authdaemond=/usr/lib/courier/courier-authlib/authdaemond
lib=$root/usr/lib/courier/courier
opts=(-nodnslookup -noidentlookup -maxprocs=40 -maxperip=40)
declare -a jobs_=()

stop() {
    trap - TERM INT
    kill -TERM "${jobs_[@]}" 2>/dev/null || true
    wait || true
    exit 0
}
trap stop TERM INT

mount --bind "$dir/etc/courier" /etc/courier
mount --bind "$dir/data/run" /run/courier

set -a
# shellcheck source=/dev/null
. "$dir/etc/pop3d.env"
set +a

"$authdaemond" &
jobs_+=("$!")
for ((i = 0; i < 50; i++)); do
    [[ -S /run/courier/authdaemon/socket ]] && break
    sleep 0.1
done
[[ -S /run/courier/authdaemon/socket ]] || { echo "courier-ns: no authdaemond socket" >&2; stop; }

# couriertcpd's listen list: ADDRESS.PORT,...
addrs() {
    if [[ $ipv6 == yes ]]; then echo "127.0.0.1.$1,::1.$1"; else echo "127.0.0.1.$1"; fi
}
"$root/usr/sbin/couriertcpd" "${opts[@]}" "$(addrs "$plain")" \
    "$lib/courierpop3login" "$lib/courierpop3d" Maildir &
jobs_+=("$!")
POP3_TLS=1 POP3_STARTTLS=NO "$root/usr/sbin/couriertcpd" "${opts[@]}" "$(addrs "$tls")" \
    "$COURIERTLS" -server -tcpd "$lib/courierpop3login" "$lib/courierpop3d" Maildir &
jobs_+=("$!")
while :; do
    wait -n || true
    # Any of them gone: stop the rest too (the starter sees the leader exit).
    for pid in "${jobs_[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "courier-ns: pid $pid exited" >&2; stop; }
    done
done
