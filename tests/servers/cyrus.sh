#!/usr/bin/env bash
# tests/servers/cyrus.sh - a private Cyrus IMAP 3.6 POP3 server on loopback.
#
#   cyrus.sh install | start DIR | stop DIR | selftest     (see README.md)
#
# cyrus-pop3d conflicts with the installed Dovecot (pop3-server), so the
# cyrus-common, cyrus-imapd and cyrus-pop3d packages are unpacked into
# /opt/pop3-test-servers/cyrus and run from there; their libraries are
# installed as ordinary packages. Users live in a private sasldb (plaintext
# secrets: USER/PASS, APOP, SASL PLAIN and LOGIN); mailboxes are created over
# IMAP and filled over LMTP once the master is up.
# shellcheck source-path=SCRIPTDIR disable=SC2034  # lib.sh reads what the hooks set
set -euo pipefail

SRV_NAME=cyrus
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LIBS=(libxapian30 libical3 libicu72 libjansson4 libsasl2-2 libsasl2-modules
    libsasl2-modules-db libsqlite3-0 libpq5 libwrap0 libxml2 libnghttp2-14
    libbrotli1 libldap-2.5-0 libkrb5-3 libpcre3 libcom-err2 libssl3 zlib1g
    sasl2-bin libeatmydata1)
EATMYDATA=/usr/lib/x86_64-linux-gnu/libeatmydata.so.1
ADMIN=cyrusadmin

server_install() {
    srv_apt_install "${LIBS[@]}"
    srv_unpack cyrus cyrus-common cyrus-imapd cyrus-pop3d
    BIN=$SRV_ROOT/usr/lib/cyrus/bin
    LIBPATH=$SRV_ROOT/usr/lib/x86_64-linux-gnu
    srv_check_libs "$LIBPATH" "$BIN/master" "$BIN/pop3d" "$BIN/imapd" "$BIN/lmtpd" \
        "$BIN/ctl_cyrusdb"
    [[ -e $EATMYDATA ]] || srv_die "missing $EATMYDATA"
    SERVER_VERSION=$(srv_root_version cyrus-pop3d)
}

server_prepare() {
    local d=$SRV_DIR u
    srv_short_run
    mkdir -p "$d/data/config" "$d/data/spool" "$d/data/sieve"
    CONF=$d/etc/imapd.conf
    cat >"$CONF" <<EOF
configdirectory: $d/data/config
defaultpartition: default
partition-default: $d/data/spool
sievedir: $d/data/sieve
servername: localhost
cyrus_user: nobody
cyrus_group: nogroup
admins: $ADMIN
allowplaintext: yes
allowapop: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $d/data/sasldb2
sasl_mech_list: PLAIN LOGIN
lmtpsocket: $SRV_RUN/lmtp
idlesocket: $SRV_RUN/idle
notifysocket: $SRV_RUN/notify
unixhierarchysep: no
altnamespace: no
popminpoll: 0
statuscache: no
duplicatesuppression: no
lmtp_downcase_rcpt: yes
syslog_prefix: pop3test-cyrus
tls_server_cert: $d/tls/chain.pem
tls_server_key: $d/tls/server.key
EOF
    ADMIN_PASS=$("$SRV_PY" "$SRV_TOOL" passwords 1)
    for u in "${SRV_USERS[@]}" "$ADMIN"; do
        if [[ $u == "$ADMIN" ]]; then
            printf '%s' "$ADMIN_PASS"
        else
            printf '%s' "${PASS[$u]}"
        fi | "/usr/sbin/saslpasswd2" -c -p -f "$d/data/sasldb2" -u localhost "$u" ||
            srv_die "saslpasswd2 failed for $u"
        [[ $u == "$ADMIN" ]] || LOGIN[$u]=$u
    done
    chgrp nogroup "$d/tls/server.key"
    chmod 640 "$d/tls/server.key"
    chown -R nobody:nogroup "$d/data" "$SRV_RUN"
    chmod 640 "$d/data/sasldb2"
}

server_launch() {
    local p=$1 t=$2 aux=$3 d=$SRV_DIR
    local c="-C $CONF"
    {
        echo "START {"
        echo "  recover cmd=\"$BIN/ctl_cyrusdb $c -r\""
        echo "}"
        echo "SERVICES {"
        echo "  pop3 cmd=\"$BIN/pop3d $c\" listen=\"127.0.0.1:$p\" prefork=0"
        echo "  pop3s cmd=\"$BIN/pop3d -s $c\" listen=\"127.0.0.1:$t\" prefork=0"
        if [[ $SERVER_IPV6 == yes ]]; then
            echo "  pop3six cmd=\"$BIN/pop3d $c\" listen=\"[::1]:$p\" prefork=0"
            echo "  pop3ssix cmd=\"$BIN/pop3d -s $c\" listen=\"[::1]:$t\" prefork=0"
        fi
        echo "  imap cmd=\"$BIN/imapd $c\" listen=\"127.0.0.1:$aux\" prefork=0"
        echo "  lmtpunix cmd=\"$BIN/lmtpd $c\" listen=\"$SRV_RUN/lmtp\" prefork=0"
        echo "}"
        echo "EVENTS {"
        echo "}"
        echo "DAEMON {"
        echo "}"
    } >"$d/etc/cyrus.conf"
    chmod 644 "$d/etc/cyrus.conf" "$CONF"
    srv_spawn "$d/logs/master.log" env LD_LIBRARY_PATH="$LIBPATH" LD_PRELOAD="$EATMYDATA" \
        "$BIN/master" -C "$CONF" -M "$d/etc/cyrus.conf" -p "$SRV_RUN/master.pid"
    srv_expect "$p" plain
    srv_expect "$t" tls
    SRV_LISTEN+=("127.0.0.1:$aux")
    AUX_PORT=$aux
    SERVER_PLAIN_PORT=$p
    SERVER_TLS_PORT=$t
    SERVER_STLS=yes
    SERVER_AUTHS="user apop plain login"
}

server_post() {
    local -a n
    CYRUS_ADMIN_PASS=$ADMIN_PASS srv_bg "$SRV_PY" "$SRV_TOOL" cyrus-fill "$AUX_PORT" \
        "$SRV_RUN/lmtp" "$ADMIN" "${SRV_USERS[@]}" >"$SRV_DIR/data/fill.out" ||
        srv_die "start: filling the mailboxes over IMAP/LMTP failed"
    read -r -a n <"$SRV_DIR/data/fill.out"
    ((${#n[@]} == ${#SRV_USERS[@]})) || srv_die "start: filling the mailboxes failed"
    DELIVERED[empty]=${n[0]}
    DELIVERED[few]=${n[1]}
    DELIVERED[many]=${n[2]}
}

srv_main "$@"
