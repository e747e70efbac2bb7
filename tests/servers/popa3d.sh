#!/usr/bin/env bash
# tests/servers/popa3d.sh - a private popa3d 1.0.3 POP3 server on loopback.
#
#   popa3d.sh install | start DIR | stop DIR | selftest     (see README.md)
#
# popa3d conflicts with the installed Dovecot (pop3-server) and is unpacked
# into /opt/pop3-test-servers/popa3d. It knows only system users (PAM) and
# /var/mail/<user>, has no TLS, and its standalone mode is fixed to port 110,
# so it runs in inetd mode behind popa3d-listener.py, inside a private mount
# namespace (popa3d-ns.sh) whose /etc is an overlay holding the test users and
# whose /var/mail is DIR/mail/spool. Nothing is added to the host's /etc.
# shellcheck source-path=SCRIPTDIR disable=SC2034  # lib.sh reads what the hooks set
set -euo pipefail

SRV_NAME=popa3d
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POPA3D_ID=59999       # popa3d user/group inside the namespace, if the host has none
TEST_GID=60000        # group of the test users
FIRST_UID=60001

server_install() {
    srv_apt_install libpam0g libpam-modules libpam-runtime
    srv_unpack popa3d popa3d
    srv_check_libs "" "$SRV_ROOT/usr/sbin/popa3d"
    # popa3d chroots into this compiled-in, empty directory.
    mkdir -p /var/lib/popa3d
    [[ -d /var/mail ]] || srv_die "/var/mail missing (mount point for the mail spool)"
    SERVER_VERSION=$(srv_root_version popa3d)
}

server_prepare() {
    local d=$SRV_DIR up=$SRV_DIR/data/overlay/upper u uid gid n hash days
    mkdir -p "$up/pam.d" "$d/data/overlay/work" "$d/mail/spool"
    cp -p /etc/passwd /etc/shadow /etc/group "$up/"
    # popa3d switches to the user popa3d, which the unpacked package never made.
    if ! getent passwd popa3d >/dev/null; then
        gid=$(getent group popa3d | cut -d: -f3) || gid=
        if [[ -z $gid ]]; then
            getent group "$POPA3D_ID" >/dev/null && srv_die "gid $POPA3D_ID exists on the host"
            gid=$POPA3D_ID
            echo "popa3d:x:$gid:" >>"$up/group"
        fi
        getent passwd "$POPA3D_ID" >/dev/null && srv_die "uid $POPA3D_ID exists on the host"
        echo "popa3d:x:$POPA3D_ID:$gid:popa3d:/var/lib/popa3d:/usr/sbin/nologin" >>"$up/passwd"
        echo "popa3d:*:19000:0:99999:7:::" >>"$up/shadow"
    fi
    if getent group "$TEST_GID" >/dev/null || getent group pop3test >/dev/null; then
        srv_die "group pop3test or gid $TEST_GID exists on the host"
    fi
    echo "pop3test:x:$TEST_GID:" >>"$up/group"
    days=$(($(date +%s) / 86400))
    uid=$FIRST_UID
    for u in "${SRV_USERS[@]}"; do
        if getent passwd "$u" >/dev/null || getent passwd "$uid" >/dev/null; then
            srv_die "user $u or uid $uid exists on the host"
        fi
        hash=$(printf '%s' "${PASS[$u]}" | srv_crypt)
        echo "$u:x:$uid:$TEST_GID:POP3 test user:/nonexistent:/usr/sbin/nologin" >>"$up/passwd"
        echo "$u:$hash:$days:0:99999:7:::" >>"$up/shadow"
        n=$("$SRV_PY" "$SRV_TOOL" mbox "$d/mail/spool/$u" "$u" "$uid" "$TEST_GID")
        LOGIN[$u]=$u
        DELIVERED[$u]=$n
        uid=$((uid + 1))
    done
    chown root:shadow "$up/shadow"
    chmod 640 "$up/shadow"
    chmod 644 "$up/passwd" "$up/group"
    cp "$SRV_ROOT/etc/pam.d/popa3d" "$up/pam.d/popa3d"
    chmod 644 "$up/pam.d/popa3d"
    chown root:mail "$d/mail/spool"
    chmod 1777 "$d/mail/spool"
}

server_launch() {
    local p=$1
    srv_spawn "$SRV_DIR/logs/listener.log" unshare -m --propagation private \
        "$SRV_HERE/popa3d-ns.sh" "$SRV_DIR" "$SRV_ROOT" "$p" "$(srv_addrs | paste -sd,)"
    srv_expect "$p" plain
    SERVER_PLAIN_PORT=$p
    SERVER_TLS_PORT=
    SERVER_STLS=no
    SERVER_AUTHS="user"
}

srv_main "$@"
