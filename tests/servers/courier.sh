#!/usr/bin/env bash
# tests/servers/courier.sh - a private Courier POP3 server on loopback.
#
#   courier.sh install | start DIR | stop DIR | selftest     (see README.md)
#
# courier-pop conflicts with the installed Dovecot (pop3-server): courier-pop
# and courier-base are unpacked into /opt/pop3-test-servers/courier, authlib
# is installed normally. Courier's compiled-in /etc/courier and /run/courier
# are bind-mounted from DIR inside a private mount namespace (courier-ns.sh).
# Users: a private userdb with SHA-512 crypt passwords; mail: Maildir.
# shellcheck source-path=SCRIPTDIR disable=SC2034  # lib.sh reads what the hooks set
set -euo pipefail

SRV_NAME=courier
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKGS=(courier-authlib courier-authdaemon courier-authlib-userdb libcourier-unicode4
    libidn12 libgnutls30 libgdbm6 libpcre3 libltdl7)

server_install() {
    srv_apt_install "${PKGS[@]}"
    srv_unpack courier courier-pop courier-base
    srv_check_libs "" "$SRV_ROOT/usr/sbin/couriertcpd" "$SRV_ROOT/usr/bin/couriertls" \
        "$SRV_ROOT/usr/lib/courier/courier/courierpop3login" \
        "$SRV_ROOT/usr/lib/courier/courier/courierpop3d" \
        /usr/lib/courier/courier-authlib/authdaemond
    getent passwd courier >/dev/null || srv_die "user courier missing (courier-authlib)"
    SERVER_VERSION=$(srv_root_version courier-pop)
}

server_prepare() {
    local d=$SRV_DIR u home hash n
    # Mount points for the namespace (the host's stay empty).
    mkdir -p /etc/courier /run/courier
    mkdir -p "$d/etc/courier" "$d/data/run/authdaemon"
    chown courier:courier "$d/data/run/authdaemon" 2>/dev/null || true
    chmod 750 "$d/data/run/authdaemon"
    cat >"$d/etc/courier/authdaemonrc" <<'EOF'
authmodulelist="authuserdb"
authmodulelistorig="authuserdb"
daemons=3
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN=1
DEFAULTOPTIONS=""
LOGGEROPTS=""
EOF
    chmod 644 "$d/etc/courier/authdaemonrc"
    : >"$d/etc/courier/userdb"
    chmod 600 "$d/etc/courier/userdb"
    for u in "${SRV_USERS[@]}"; do
        home=$d/mail/$u
        mkdir -p "$home"
        n=$("$SRV_PY" "$SRV_TOOL" maildir "$home/Maildir" "$u" 65534 65534)
        chown nobody:nogroup "$home"
        chmod 700 "$home"
        hash=$(printf '%s' "${PASS[$u]}" | srv_crypt)
        printf '%s\tuid=65534|gid=65534|home=%s|mail=%s/Maildir|shell=/usr/sbin/nologin|systempw=%s\n' \
            "$u" "$home" "$home" "$hash" >>"$d/etc/courier/userdb"
        LOGIN[$u]=$u
        DELIVERED[$u]=$n
    done
    /usr/sbin/makeuserdb -f "$d/etc/courier/userdb" || srv_die "makeuserdb failed"
    # couriertls runs as courier for STLS: it gets its own key + chain file.
    cat "$d/tls/server.key" "$d/tls/chain.pem" >"$d/tls/courier.pem"
    chown courier "$d/tls/courier.pem"
    chmod 600 "$d/tls/courier.pem"
    cat >"$d/etc/pop3d.env" <<EOF
PATH=/usr/bin:/bin:/usr/sbin:/sbin
SHELL=/bin/sh
POP3AUTH="PLAIN LOGIN"
POP3AUTH_TLS="PLAIN LOGIN"
POP3_PROXY=0
POP3_STARTTLS=YES
POP3_TLS_REQUIRED=0
MAILDIRPATH=Maildir
COURIERTLS=$SRV_ROOT/usr/bin/couriertls
TLS_PROTOCOL=TLS1_2:TLS1_3
TLS_CERTFILE=$d/tls/courier.pem
TLS_TRUSTCERTS=$d/tls/ca.pem
TLS_VERIFYPEER=NONE
TLS_CACHEFILE=
EOF
}

server_launch() {
    local p=$1 t=$2
    srv_spawn "$SRV_DIR/logs/courier.log" unshare -m --propagation private \
        "$SRV_HERE/courier-ns.sh" "$SRV_DIR" "$SRV_ROOT" "$p" "$t" "$SERVER_IPV6"
    srv_expect "$p" plain
    srv_expect "$t" tls
    SERVER_PLAIN_PORT=$p
    SERVER_TLS_PORT=$t
    SERVER_STLS=yes
    SERVER_AUTHS="user plain login"
}

srv_main "$@"
