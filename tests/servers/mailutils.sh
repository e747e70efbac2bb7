#!/usr/bin/env bash
# tests/servers/mailutils.sh - a private GNU Mailutils 3.15 POP3 server on loopback.
#
#   mailutils.sh install | start DIR | stop DIR | selftest     (see README.md)
#
# mailutils-pop3d coexists with Dovecot and is installed normally. pop3d runs
# in daemon mode in the foreground with a private config (nothing read from
# /etc). Users are virtdomain users of the domain "localhost" (log in as
# user@localhost), with SHA-512 crypt passwords; APOP secrets in a private
# popauth database; mail in an mbox INBOX in each home.
# shellcheck source-path=SCRIPTDIR disable=SC2034  # lib.sh reads what the hooks set
set -euo pipefail

SRV_NAME=mailutils
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POP3D=/usr/sbin/pop3d
POPAUTH=/usr/bin/popauth

server_install() {
    srv_apt_install mailutils-pop3d
    [[ $("$POP3D" --version 2>/dev/null) == *"GNU Mailutils"* ]] ||
        srv_die "$POP3D is not the GNU Mailutils pop3d"
    srv_check_libs "" "$POP3D" "$POPAUTH"
    SERVER_VERSION=$(dpkg-query -W -f='${Version}' mailutils-pop3d)
}

server_prepare() {
    local d=$SRV_DIR u home hash n
    mkdir -p "$d/etc/virtdomain"
    : >"$d/etc/virtdomain/localhost"
    rm -f "$d/etc/apop.db"
    for u in "${SRV_USERS[@]}"; do
        home=$d/mail/$u
        mkdir -p "$home"
        n=$("$SRV_PY" "$SRV_TOOL" mbox "$home/INBOX" "$u" 65534 65534)
        chown nobody:nogroup "$home"
        chmod 700 "$home"
        hash=$(printf '%s' "${PASS[$u]}" | srv_crypt)
        printf '%s:%s:65534:65534:POP3 test user %s:%s:/usr/sbin/nologin\n' \
            "$u" "$hash" "$u" "$home" >>"$d/etc/virtdomain/localhost"
        "$POPAUTH" -a -u "$u@localhost" -p "${PASS[$u]}" -f "$d/etc/apop.db" ||
            srv_die "popauth failed for $u"
        LOGIN[$u]=$u@localhost
        DELIVERED[$u]=$n
    done
    chmod 644 "$d/etc/virtdomain/localhost"
}

server_launch() {
    local p=$1 t=$2 d=$SRV_DIR conf=$SRV_DIR/etc/pop3d.conf
    cat >"$conf" <<EOF
mode daemon;
foreground yes;
pidfile $d/data/pop3d.pid;
max-children 50;
logging {
  syslog no;
  severity info;
};
tcp-wrappers {
  enable no;
};
mandatory-locking {
  enable no;
};
auth {
  authorization virtdomain;
  authentication generic;
};
virtdomain {
  passwd-dir $d/etc/virtdomain;
};
apop-database-file $d/etc/apop.db;
apop-database-safety none;
tls {
  ssl-certificate-file $d/tls/chain.pem;
  ssl-key-file $d/tls/server.key;
};
tls-file-checks {
  key-file none;
  cert-file none;
  ca-file none;
};
EOF
    # One server block per address and port; an IPv6 one is quoted.
    local a port mode
    for a in $(srv_addrs); do
        for port in "$p" "$t"; do
            mode=stls
            [[ $port == "$p" ]] || mode=connection
            if [[ $a == *:* ]]; then
                printf 'server "[%s]:%s" {\n  tls-mode %s;\n};\n' "$a" "$port" "$mode"
            else
                printf 'server %s:%s {\n  tls-mode %s;\n};\n' "$a" "$port" "$mode"
            fi
        done
    done >>"$conf"
    "$POP3D" --config-file="$conf" --config-lint >"$d/logs/config-lint.log" 2>&1 ||
        srv_die "pop3d rejects $conf: $(cat "$d/logs/config-lint.log")"
    srv_spawn "$d/logs/pop3d.log" "$POP3D" --config-file="$conf"
    srv_expect "$p" plain
    srv_expect "$t" tls
    SERVER_PLAIN_PORT=$p
    SERVER_TLS_PORT=$t
    SERVER_STLS=yes
    SERVER_AUTHS="user apop"
}

# pop3d rewrites an mbox at the end of its first session, adding X-IMAPbase,
# X-UID and Status headers, so STAT's octet count grows once. One login per
# user here makes the sizes the same in every later session.
server_post() {
    local u prime=
    for u in "${SRV_USERS[@]}"; do
        prime+="${LOGIN[$u]}"$'\t'"${PASS[$u]}"$'\t'"${DELIVERED[$u]}"$'\n'
    done
    SRV_PRIME=$prime srv_bg "$SRV_PY" "$SRV_TOOL" prime "$SERVER_PLAIN_PORT" ||
        srv_die "start: the first logins failed"
}

srv_main "$@"
