#!/usr/bin/env bash
# tests/servers/mailloop.sh - a private mail loop on loopback: Postfix takes
# submissions (STARTTLS or implicit TLS, SMTP AUTH) and delivers over LMTP to a
# private Dovecot, which serves the mailboxes over POP3 and IMAP.
#
#   mailloop.sh install | start DIR | stop DIR | selftest    (see README.md)
#   mailloop.sh hold DIR       Postfix keeps accepting but delivers nothing
#   mailloop.sh release DIR    deliver again and flush the queue
#
# Both run from the Debian packages (postfix, dovecot-core, -pop3d, -imapd,
# -lmtpd) with private configuration, queue, state and sockets in DIR; the
# system's Postfix stays unconfigured and its Dovecot configuration untouched.
# shellcheck source-path=SCRIPTDIR disable=SC2034  # lib.sh reads what is set here
set -euo pipefail

SRV_NAME=mailloop
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TPL=$SRV_HERE/mailloop
TOOL=$TPL/mailloop.py
DOVECOT=/usr/sbin/dovecot
DOVECONF=/usr/bin/doveconf
POSTFIX=/usr/sbin/postfix
POSTQUEUE=/usr/sbin/postqueue
PF_MASTER=/usr/lib/postfix/sbin/master
DOMAIN=loop.test
USERS=(probe sender)

srv_usage() {
    echo "usage: $0 install | start DIR | stop DIR | hold DIR | release DIR | selftest" >&2
    exit 2
}

server_install() {
    local -a missing
    mapfile -t missing < <(srv_missing postfix)
    if ((${#missing[@]})); then
        # "No configuration" leaves /etc/postfix without main.cf, so the
        # system's Postfix cannot start even if something asks it to.
        srv_lock
        # Postfix conflicts with every other MTA (exim4 on many hosts): never
        # let apt remove one to make room.
        local remove
        remove=$(apt-get -s -q install --no-install-recommends postfix 2>/dev/null |
            sed -n 's/^Remv \([^ ]*\).*/\1/p' | tr '\n' ' ')
        [[ -z $remove ]] || srv_die "installing postfix would remove: $remove"
        echo "postfix postfix/main_mailer_type select No configuration" |
            debconf-set-selections
        srv_unlock
    fi
    srv_apt_install postfix dovecot-core dovecot-pop3d dovecot-imapd dovecot-lmtpd
    getent passwd postfix >/dev/null || srv_die "no postfix user after the install"
    getent group postdrop >/dev/null || srv_die "no postdrop group after the install"
    getent passwd dovecot >/dev/null || srv_die "no dovecot user after the install"
    [[ -e /usr/lib/dovecot/imap && -e /usr/lib/dovecot/lmtp ]] ||
        srv_die "dovecot imap/lmtp binaries missing"
    srv_check_libs "" "$DOVECOT" "$PF_MASTER" /usr/lib/postfix/sbin/smtpd \
        /usr/lib/postfix/sbin/lmtp
    POSTFIX_VERSION=$(dpkg-query -W -f='${Version}' postfix)
    DOVECOT_VERSION=$(dpkg-query -W -f='${Version}' dovecot-core)
    SERVER_VERSION="postfix $POSTFIX_VERSION dovecot $DOVECOT_VERSION"
}

# fill TEMPLATE OUT KEY=VALUE...: replace @KEY@ in TEMPLATE.
fill() {
    local tpl=$1 out=$2 kv
    shift 2
    local -a sed_args=()
    for kv in "$@"; do
        # sed would read these as its own syntax.
        [[ $kv != *[\|\&\\]* ]] || srv_die "template value with '|', '&' or '\\': $kv"
        sed_args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
    done
    sed "${sed_args[@]}" "$tpl" >"$out"
    ! grep -n '@[A-Z0-9_]*@' "$out" >&2 || srv_die "unfilled placeholder in $out"
}

# Configuration that does not depend on the ports: users, mailboxes, Postfix's
# main.cf and queue (created by `postfix check`).
mailloop_prepare() {
    local d=$SRV_DIR u home
    srv_short_run
    # postfix check creates what is inside the queue directory, not the directory.
    mkdir -p "$d/data/dovecot" "$d/data/postfix/queue" "$d/etc/postfix"
    local -a pw
    mapfile -t pw < <("$SRV_PY" "$SRV_TOOL" passwords 2)
    ((${#pw[@]} == 2)) || srv_die "password generation failed"
    PASS[probe]=${pw[0]}
    PASS[sender]=${pw[1]}
    : >"$d/etc/passwd"
    for u in "${USERS[@]}"; do
        home=$d/mail/$u
        mkdir -p "$home/Maildir/cur" "$home/Maildir/new" "$home/Maildir/tmp"
        chown -R nobody:nogroup "$home"
        chmod 700 "$home"
        printf '%s:{PLAIN}%s::::%s::\n' "$u" "${PASS[$u]}" "$home" >>"$d/etc/passwd"
    done
    # Dovecot's auth process runs as dovecot.
    chgrp dovecot "$d/etc/passwd"
    chmod 640 "$d/etc/passwd"

    local inet=127.0.0.1 protos=ipv4 nets=127.0.0.0/8
    if [[ $SERVER_IPV6 == yes ]]; then
        inet="127.0.0.1, [::1]" protos="ipv4, ipv6" nets="127.0.0.0/8, [::1]/128"
    fi
    fill "$TPL/main.cf.in" "$d/etc/postfix/main.cf" "DIR=$d" "RUN=$SRV_RUN" \
        "INET_INTERFACES=$inet" "INET_PROTOCOLS=$protos" "MYNETWORKS=$nets"
    cp "$TPL/master.cf.in" "$d/etc/postfix/master.cf"
    chmod 644 "$d/etc/postfix/main.cf" "$d/etc/postfix/master.cf"
    # Postfix reads a main.cf changed within the last second again and again
    # (300 ms apart) until it is older: that costs every command 2 s.
    touch -d '-1 min' "$d/etc/postfix/main.cf"
    # Deliveries go through this symlink (see hold/release).
    ln -sfn dovecot/lmtp "$SRV_RUN/lmtp-gate"
    # Creates the queue and data directories with Postfix's owners and modes
    # and checks the configuration; the host's Postfix files are not touched.
    "$POSTFIX" -c "$d/etc/postfix" check >>"$d/logs/postfix-check.log" 2>&1 ||
        srv_die "postfix check failed: $(tail -n 5 "$d/logs/postfix-check.log")"
}

# mailloop_launch POP3 POP3S IMAP IMAPS SUBMISSION SUBMISSIONS SMTP
mailloop_launch() {
    local d=$SRV_DIR a p spec proto port mode
    POP3_PORT=$1 POP3S_PORT=$2 IMAP_PORT=$3 IMAPS_PORT=$4
    SUBMISSION_PORT=$5 SUBMISSIONS_PORT=$6 SMTP_PORT=$7
    local listen=127.0.0.1
    [[ $SERVER_IPV6 != yes ]] || listen="127.0.0.1, ::1"
    fill "$TPL/dovecot.conf.in" "$d/etc/dovecot.conf" "DIR=$d" "RUN=$SRV_RUN" \
        "INSTANCE=mailloop-$$-${RANDOM}" "LISTEN=$listen" \
        "POP3_PORT=$POP3_PORT" "POP3S_PORT=$POP3S_PORT" \
        "IMAP_PORT=$IMAP_PORT" "IMAPS_PORT=$IMAPS_PORT"
    chmod 644 "$d/etc/dovecot.conf"
    "$DOVECONF" -c "$d/etc/dovecot.conf" -n >/dev/null 2>"$d/logs/doveconf.log" ||
        srv_die "doveconf rejects $d/etc/dovecot.conf: $(tail -n 3 "$d/logs/doveconf.log")"

    # The smtpd listeners, one per address: submission (STARTTLS required),
    # submissions (implicit TLS) and a plain SMTP port without TLS or AUTH.
    local sub="-o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=yes"
    sub+=" -o smtpd_client_restrictions=permit_sasl_authenticated,reject"
    sub+=" -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"
    {
        echo "# loopback listeners"
        for a in $(srv_addrs); do
            [[ $a == *:* ]] && a="[$a]"
            echo "$a:$SUBMISSION_PORT inet n - n - - smtpd"
            echo "  -o syslog_name=postfix-mailloop/submission"
            echo "  -o smtpd_tls_security_level=encrypt $sub"
            echo "$a:$SUBMISSIONS_PORT inet n - n - - smtpd"
            echo "  -o syslog_name=postfix-mailloop/submissions"
            echo "  -o smtpd_tls_wrappermode=yes $sub"
            echo "$a:$SMTP_PORT inet n - n - - smtpd"
            echo "  -o syslog_name=postfix-mailloop/smtp"
            echo "  -o smtpd_tls_security_level=none"
        done
    } >>"$d/etc/postfix/master.cf"

    : >"$d/logs/dovecot.log"
    srv_spawn "$d/logs/dovecot.out" "$DOVECOT" -F -c "$d/etc/dovecot.conf"
    # master stays in the foreground (no -w); -s keeps stdout for its log.
    srv_spawn "$d/logs/master.log" "$PF_MASTER" -c "$d/etc/postfix" -s
    for p in "pop3:$POP3_PORT:plain" "pop3:$POP3S_PORT:tls" "imap:$IMAP_PORT:plain" \
        "imap:$IMAPS_PORT:tls" "smtp:$SUBMISSION_PORT:starttls" \
        "smtp:$SUBMISSIONS_PORT:tls" "smtp:$SMTP_PORT:plain"; do
        IFS=: read -r proto port mode <<<"$p"
        for a in $(srv_addrs); do
            spec=$a
            [[ $a == *:* ]] && spec="[$a]"
            SRV_LISTEN+=("$spec:$port")
            READY+=("$proto:$mode:$spec:$port")
        done
    done
}

mailloop_start() {
    local t0 d
    t0=$(date +%s.%N)
    server_install
    srv_prepare_dir "$1"
    d=$SRV_DIR
    SRV_STARTING=1
    SRV_PIDS=()
    SRV_LISTEN=()
    READY=()
    srv_detect_ipv6
    srv_make_certs
    mailloop_prepare
    srv_lock
    local -a ports
    read -r -a ports <<<"$("$SRV_PY" "$SRV_TOOL" ports 7 "$SERVER_IPV6")"
    ((${#ports[@]} == 7)) || srv_die "no free ports"
    mailloop_launch "${ports[@]}"
    srv_bg "$SRV_PY" "$SRV_TOOL" wait-listen 30 "${SRV_PIDS[*]}" "${SRV_LISTEN[@]}" ||
        srv_die "start: no listener on ${SRV_LISTEN[*]}"
    srv_unlock
    # Greetings on every port (TLS checked against the private CA); on the
    # submission ports also AUTH after TLS, which needs Dovecot's auth socket.
    srv_bg "$SRV_PY" "$TOOL" wait-ready 30 "${SRV_PIDS[*]}" "$d/tls/ca.pem" "${READY[@]}" ||
        srv_die "start: not ready on ${READY[*]}"
    [[ -S $SRV_RUN/dovecot/lmtp ]] || srv_die "start: no LMTP socket $SRV_RUN/dovecot/lmtp"

    rm -f "$d/env.tmp"
    srv_env SERVER "$SRV_NAME"
    srv_env SERVER_VERSION "$SERVER_VERSION"
    srv_env POSTFIX_VERSION "$POSTFIX_VERSION"
    srv_env DOVECOT_VERSION "$DOVECOT_VERSION"
    srv_env SMTP_STARTTLS_PORT "$SUBMISSION_PORT"
    srv_env SMTP_TLS_PORT "$SUBMISSIONS_PORT"
    srv_env SMTP_PLAIN_PORT "$SMTP_PORT"
    srv_env SMTP_USER sender
    srv_env SMTP_PASS "${PASS[sender]}"
    srv_env SMTP_FROM "sender@$DOMAIN"
    srv_env SMTP_TO "probe@$DOMAIN"
    srv_env SMTP_DOMAIN "$DOMAIN"
    srv_env SERVER_PLAIN_PORT "$POP3_PORT"
    srv_env SERVER_TLS_PORT "$POP3S_PORT"
    srv_env SERVER_STLS yes
    srv_env IMAP_PORT "$IMAP_PORT"
    srv_env IMAP_TLS_PORT "$IMAPS_PORT"
    srv_env SERVER_IPV6 "$SERVER_IPV6"
    srv_env SERVER_CA "$d/tls/ca.pem"
    srv_env SERVER_AUTHS "user plain login"
    srv_env SERVER_USERS "${USERS[*]}"
    srv_env SERVER_LOGIN_PROBE probe
    srv_env SERVER_PASS_PROBE "${PASS[probe]}"
    srv_env SERVER_DELIVERED_PROBE 0
    srv_env SERVER_LOGIN_SENDER sender
    srv_env SERVER_PASS_SENDER "${PASS[sender]}"
    srv_env SERVER_DELIVERED_SENDER 0
    srv_env MAILDIR_PROBE "$d/mail/probe/Maildir"
    srv_env MAILDIR_SENDER "$d/mail/sender/Maildir"
    srv_env LMTP_SOCKET "$SRV_RUN/dovecot/lmtp"
    srv_env POSTFIX_CONFIG "$d/etc/postfix"
    srv_env SERVER_PIDS "${SRV_PIDS[*]}"
    srv_env SERVER_LOGS "$d/logs"
    mv "$d/env.tmp" "$d/env"
    SRV_STARTING=0
    srv_say "ready in $("$SRV_PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)") s ($d/env)"
}

# mailloop_gate hold|release DIR: point the LMTP symlink nowhere or back at
# Dovecot. rename() swaps it atomically: a delivery sees the old or the new one.
mailloop_gate() {
    local cmd=$1 dir target
    [[ -d $2 ]] || srv_die "$cmd: $2 is not a directory"
    dir=$(cd "$2" && pwd -P)
    [[ $(cat "$dir/.pop3-test-server" 2>/dev/null) == "server=$SRV_NAME" &&
        -f $dir/env && -f $dir/pids ]] || srv_die "$cmd: no running mail loop in $dir"
    [[ -L $dir/run/lmtp-gate ]] || srv_die "$cmd: no $dir/run/lmtp-gate"
    if [[ $cmd == hold ]]; then target=dovecot/lmtp-held; else target=dovecot/lmtp; fi
    ln -sfn "$target" "$dir/run/lmtp-gate.new"
    mv -Tf "$dir/run/lmtp-gate.new" "$dir/run/lmtp-gate"
    if [[ $cmd == release ]]; then
        # Delivers the deferred mail now; it also makes the queue manager
        # forget that the destination failed, so new mail is not held back.
        "$POSTQUEUE" -c "$dir/etc/postfix" -f || srv_die "release: postqueue -f failed"
    fi
}

# mailloop_selftest: start in a temp dir, run the checks (which call hold and
# release), stop, check that no process of the instance is left.
mailloop_selftest() {
    local dir rc=0 t0 t1 pids pid left
    dir=$(mktemp -d /tmp/pop3-selftest-"$SRV_NAME".XXXXXX)
    t0=$(date +%s.%N)
    if ! "$0" start "$dir"; then
        echo "FAIL start"
        "$0" stop "$dir" || true
        echo "selftest FAILED (directory kept: $dir)"
        return 1
    fi
    t1=$(date +%s.%N)
    echo "ok   start ($("$SRV_PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$t1") s)"
    "$SRV_PY" "$TOOL" selftest "$dir/env" "$SRV_HERE/mailloop.sh" "$dir" || rc=1
    pids=$(sed -n 's/^SERVER_PIDS=//p' "$dir/env" | tr -d "'")
    "$0" stop "$dir" || { echo "FAIL stop"; rc=1; }
    "$0" stop "$dir" || { echo "FAIL second stop"; rc=1; }
    # shellcheck disable=SC2086  # pid list
    left=$(srv_session_members $pids | tr '\n' ' ')
    for pid in $pids; do
        [[ -e /proc/$pid && $(srv_state "$pid") != Z ]] && left+="$pid "
    done
    # Postfix daemons find their configuration through MAIL_CONFIG, not
    # their command line: look at both.
    while read -r pid; do
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$dir/" ||
            tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "MAIL_CONFIG=$dir/etc/postfix"; then
            left+="$pid "
        fi
    done < <(ps -e -o pid=)
    if [[ -n ${left// /} ]]; then
        echo "FAIL processes left after stop: $left"
        rc=1
    else
        echo "ok   stop (twice): no process of the instance left"
    fi
    if ((rc == 0)); then
        rm -rf "$dir"
        echo "selftest passed"
    else
        echo "selftest FAILED (directory kept: $dir)"
    fi
    return "$rc"
}

case ${1:-} in
install) [[ $# -eq 1 ]] || srv_usage; server_install ;;
start) [[ $# -eq 2 ]] || srv_usage; mailloop_start "$2" ;;
stop) [[ $# -eq 2 ]] || srv_usage; srv_cmd_stop "$2" ;;
hold) [[ $# -eq 2 ]] || srv_usage; mailloop_gate hold "$2" ;;
release) [[ $# -eq 2 ]] || srv_usage; mailloop_gate release "$2" ;;
selftest) [[ $# -eq 1 ]] || srv_usage; mailloop_selftest ;;
*) srv_usage ;;
esac
