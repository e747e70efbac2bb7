# shellcheck shell=bash
# tests/servers/lib.sh - shared parts of the private POP3 test servers
# (cyrus.sh, courier.sh, mailutils.sh, popa3d.sh). Sourced, never run.
#
# A server script sets SRV_NAME, defines the hooks below and ends with
# `srv_main "$@"`:
#   server_install      install/unpack what the server needs (idempotent)
#   server_prepare      write configs, users and mail below $SRV_DIR
#   server_launch P...  start the server (srv_spawn) on the picked ports;
#                       sets SRV_LISTEN (host:port that must accept TCP),
#                       SRV_READY (plain|tls:host:port specs for the greeting
#                       check) and the SERVER_* values it knows
#   server_post         optional: work after the servers are up (LMTP fill)
#
# Instance directory layout (only these top-level names are ever created,
# so a reused directory loses nothing else): .pop3-test-server (marker),
# env, pids (pids.stopped after stop), logs/, tls/, etc/, data/, mail/, run
# (directory or symlink to a short socket directory under /tmp).

SRV_PY=/usr/bin/python3                 # not PATH's python3: it may be a shim
SRV_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SRV_TOOL=$SRV_HERE/srvtool.py
SRV_BASE=/opt/pop3-test-servers         # unpacked package roots, one per server
SRV_LOCK=/run/lock/pop3-test-servers.lock
SRV_LOCK_TIMEOUT=900                    # s; installs may hold the lock a while
SRV_STOP_TIMEOUT=3                      # s between TERM to a leader and the sweep
SRV_ENTRIES=(.pop3-test-server env env.tmp pids pids.stopped logs tls etc data mail run)
SRV_LOCK_DEPTH=0
SRV_POLICY_RC=0
SRV_STARTING=0
SRV_DIR=
SRV_BG=

srv_die() {
    echo "${SRV_NAME:-server}.sh: $*" >&2
    exit 1
}

srv_say() { echo "${SRV_NAME:-server}.sh: $*" >&2; }

srv_usage() {
    echo "usage: $0 install | start DIR | stop DIR | selftest" >&2
    exit 2
}

# ---------------------------------------------------------------- lock

# One global lock for package installs and for port picking up to the moment
# the new server listens. Re-entrant within one script run (depth counter).
srv_lock() {
    if ((SRV_LOCK_DEPTH == 0)); then
        exec 9>>"$SRV_LOCK"
        flock -w "$SRV_LOCK_TIMEOUT" 9 ||
            srv_die "no lock on $SRV_LOCK within $SRV_LOCK_TIMEOUT s"
    fi
    SRV_LOCK_DEPTH=$((SRV_LOCK_DEPTH + 1))
}

srv_unlock() {
    ((SRV_LOCK_DEPTH > 0)) || return 0
    SRV_LOCK_DEPTH=$((SRV_LOCK_DEPTH - 1))
    if ((SRV_LOCK_DEPTH == 0)); then
        flock -u 9 2>/dev/null || true
        exec 9>&-
    fi
}

# ---------------------------------------------------------------- exit handling

srv_on_exit() {
    local rc=$?
    trap - TERM INT ERR
    if [[ -n $SRV_BG ]]; then
        kill -TERM "$SRV_BG" 2>/dev/null || true
        wait "$SRV_BG" 2>/dev/null || true
        SRV_BG=
    fi
    srv_policy_rc_off
    if ((SRV_STARTING)) && [[ -n $SRV_DIR ]]; then
        SRV_STARTING=0
        srv_show_logs "$SRV_DIR"
        srv_stop_dir "$SRV_DIR" || true
        echo "${SRV_NAME}.sh: start failed; logs are in $SRV_DIR/logs" >&2
    fi
    return "$rc"
}
trap srv_on_exit EXIT
# set -e ends a script silently: name the command that failed.
set -E
trap 'srv_say "failed (status $?): line $LINENO: $BASH_COMMAND"' ERR
# A TERM or INT ends the script through the EXIT trap (which stops a server
# that is half started); long waits run via srv_bg so they end at once.
trap 'exit 143' TERM
trap 'exit 130' INT

# srv_bg CMD...: run CMD in the background and wait for it, so that a signal
# to this script is handled at once instead of after CMD. CMD's stdin is
# /dev/null; it does not inherit the lock descriptor. Returns CMD's status.
srv_bg() {
    local rc=0
    "$@" </dev/null 9>&- &
    SRV_BG=$!
    wait "$SRV_BG" || rc=$?
    SRV_BG=
    return "$rc"
}

# ---------------------------------------------------------------- packages

# srv_missing PKG...: prints the packages dpkg does not list as installed.
srv_missing() {
    local p status
    for p in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || echo "$p"
    done
}

srv_policy_rc_on() {
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        SRV_POLICY_RC=1
    fi
}

srv_policy_rc_off() {
    if ((SRV_POLICY_RC)); then
        rm -f /usr/sbin/policy-rc.d
        SRV_POLICY_RC=0
    fi
}

srv_apt_get_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        --no-upgrade -o DPkg::Lock::Timeout=300 "$@" >&2
}

# srv_apt_install PKG...: install the missing ones as ordinary packages.
srv_apt_install() {
    local -a missing
    mapfile -t missing < <(srv_missing "$@")
    ((${#missing[@]})) || return 0
    srv_lock
    mapfile -t missing < <(srv_missing "$@")
    if ((${#missing[@]})); then
        srv_say "installing: ${missing[*]}"
        srv_policy_rc_on
        if ! srv_apt_get_install "${missing[@]}"; then
            apt-get update -q -o DPkg::Lock::Timeout=300 >&2 || true
            srv_apt_get_install "${missing[@]}" ||
                srv_die "apt-get install ${missing[*]} failed"
        fi
        srv_policy_rc_off
    fi
    srv_unlock
}

# srv_unpack NAME PKG...: download the packages and unpack them into
# $SRV_BASE/NAME (no maintainer scripts run). Reused when complete; the file
# .complete lists package=version. Sets SRV_ROOT.
srv_unpack() {
    local name=$1
    shift
    SRV_ROOT=$SRV_BASE/$name
    [[ -f $SRV_ROOT/.complete ]] && return 0
    srv_lock
    if [[ ! -f $SRV_ROOT/.complete ]]; then
        srv_say "unpacking $* into $SRV_ROOT"
        local scratch tmp deb
        scratch=$(mktemp -d /tmp/pop3-servers-dl.XXXXXX)
        chmod 755 "$scratch"
        chown _apt "$scratch" 2>/dev/null || true   # apt downloads as _apt
        if ! (cd "$scratch" && apt-get download -q "$@" >&2); then
            apt-get update -q -o DPkg::Lock::Timeout=300 >&2 || true
            (cd "$scratch" && apt-get download -q "$@" >&2) ||
                { rm -rf "$scratch"; srv_die "apt-get download $* failed"; }
        fi
        mkdir -p "$SRV_BASE"
        chmod 755 "$SRV_BASE"
        tmp=$SRV_BASE/.$name.partial
        rm -rf "$tmp"
        mkdir -m 755 "$tmp"
        for deb in "$scratch"/*.deb; do
            dpkg-deb -x "$deb" "$tmp"
            printf '%s=%s\n' "$(dpkg-deb -f "$deb" Package)" \
                "$(dpkg-deb -f "$deb" Version)" >>"$tmp/.complete.partial"
        done
        rm -rf "$scratch"
        chmod 755 "$tmp"
        mv "$tmp/.complete.partial" "$tmp/.complete"
        rm -rf "$SRV_ROOT"
        mv "$tmp" "$SRV_ROOT"
    fi
    srv_unlock
}

# srv_root_version PKG: the version of an unpacked package in $SRV_ROOT.
srv_root_version() {
    sed -n "s/^$1=//p" "$SRV_ROOT/.complete"
}

# srv_check_libs LIBPATH BINARY...: fail on any shared library ldd cannot find.
srv_check_libs() {
    local libpath=$1 bin out
    shift
    for bin in "$@"; do
        [[ -x $bin ]] || srv_die "missing binary $bin"
        if [[ -n $libpath ]]; then
            out=$(LD_LIBRARY_PATH=$libpath ldd "$bin" 2>&1) || true
        else
            out=$(ldd "$bin" 2>&1) || true
        fi
        if grep -q 'not found' <<<"$out"; then
            srv_die "$bin: unresolved libraries: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
        fi
    done
}

# ---------------------------------------------------------------- instance dir

# srv_alive PID STARTTIME: PID runs, is no zombie and started at STARTTIME
# (field 22 of /proc/PID/stat), so a reused PID never matches.
srv_alive() {
    [[ $(srv_state "$1") != Z && $(srv_starttime "$1") == "$2" ]]
}

# srv_starttime PID: field 22 of /proc/PID/stat (fails when PID is gone).
srv_starttime() {
    local stat
    local -a f
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -r -a f <<<"${stat##*) }"
    echo "${f[19]}"
}

# srv_state PID: the state letter (R, S, Z, ...), empty when PID is gone.
srv_state() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    echo "${stat%% *}"
}

# srv_prepare_dir DIR: check and (re)initialise an instance directory.
srv_prepare_dir() {
    [[ -d $1 ]] || srv_die "start: $1 is not a directory"
    SRV_DIR=$(cd "$1" && pwd -P)
    [[ $SRV_DIR != *[[:space:]]* ]] || srv_die "start: DIR must not contain blanks: $SRV_DIR"
    if [[ -e $SRV_DIR/.pop3-test-server ]]; then
        local pid st
        if [[ -f $SRV_DIR/pids ]]; then
            while read -r pid st; do
                if srv_alive "$pid" "$st"; then
                    srv_die "start: $SRV_DIR still has a running server (pid $pid); stop it first"
                fi
            done <"$SRV_DIR/pids"
        fi
        srv_wipe_dir "$SRV_DIR"
    elif [[ -n $(ls -A "$SRV_DIR") ]]; then
        srv_die "start: $SRV_DIR is not empty and was not set up by a server script"
    fi
    # Every server drops privileges and must reach files inside DIR.
    local up=$SRV_DIR perms
    while [[ $up != / ]]; do
        up=$(dirname "$up")
        perms=$(stat -c %A "$up")
        [[ ${perms:9:1} == [xt] ]] ||
            srv_die "start: $up is not searchable by others (server users need o+x)"
    done
    chmod 755 "$SRV_DIR"
    echo "server=$SRV_NAME" >"$SRV_DIR/.pop3-test-server"
    mkdir -m 755 "$SRV_DIR/logs" "$SRV_DIR/tls" "$SRV_DIR/etc" "$SRV_DIR/data" "$SRV_DIR/mail"
    : >"$SRV_DIR/pids"
}

# srv_wipe_dir DIR: remove what an earlier start created (and its short dir).
srv_wipe_dir() {
    local d=$1 e target
    if [[ -L $d/run ]]; then
        target=$(readlink "$d/run")
        [[ $target == /tmp/p3s.* ]] && rm -rf "$target"
    fi
    for e in "${SRV_ENTRIES[@]}"; do
        rm -rf "${d:?}/$e"
    done
}

# srv_short_run: $SRV_DIR/run for unix sockets; a short directory under /tmp
# (symlinked) when DIR is too long for sun_path. Sets SRV_RUN.
srv_short_run() {
    if ((${#SRV_DIR} <= 60)); then
        SRV_RUN=$SRV_DIR/run
        mkdir -p "$SRV_RUN"
    else
        SRV_RUN=$(mktemp -d /tmp/p3s.XXXXXX)
        ln -sfn "$SRV_RUN" "$SRV_DIR/run"
    fi
    chmod 755 "$SRV_RUN"
}

# ---------------------------------------------------------------- TLS

# srv_make_certs: private CA and a localhost leaf in $SRV_DIR/tls:
# ca.pem, server.key, server.pem, chain.pem (leaf + CA).
srv_make_certs() {
    local d=$SRV_DIR/tls
    cat >"$d/openssl.cnf" <<'EOF'
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
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
EOF
    (
        umask 077
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/ca.key" 2>/dev/null
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/server.key" 2>/dev/null
        openssl req -x509 -new -config "$d/openssl.cnf" -extensions ca -key "$d/ca.key" \
            -subj "/CN=POP3 test CA $SRV_NAME $(date +%s)" -days 3650 \
            -set_serial "0x$(openssl rand -hex 16)" -out "$d/ca.pem"
        openssl req -new -config "$d/openssl.cnf" -key "$d/server.key" -subj "/CN=localhost" \
            -out "$d/server.csr"
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
            -set_serial "0x$(openssl rand -hex 16)" -days 825 \
            -extfile "$d/openssl.cnf" -extensions leaf -out "$d/server.pem" 2>/dev/null
        cat "$d/server.pem" "$d/ca.pem" >"$d/chain.pem"
    ) || srv_die "certificate generation failed"
    chmod 644 "$d/ca.pem" "$d/server.pem" "$d/chain.pem"
}

# ---------------------------------------------------------------- users

# The test users. Server scripts fill LOGIN[u] (the name the client sends)
# and DELIVERED[u] (messages delivered); PASS[u] is made here.
SRV_USERS=(empty few many)
declare -A PASS=() LOGIN=() DELIVERED=()

# srv_make_passwords: random passwords, 20 of [A-Za-z0-9] with one blank in
# the middle.
srv_make_passwords() {
    local -a pw
    mapfile -t pw < <("$SRV_PY" "$SRV_TOOL" passwords 3)
    ((${#pw[@]} == 3)) || srv_die "password generation failed"
    PASS[empty]=${pw[0]}
    PASS[few]=${pw[1]}
    PASS[many]=${pw[2]}
}

# srv_crypt: SHA-512 crypt of the password on stdin (blanks kept).
srv_crypt() {
    openssl passwd -6 -stdin
}

# ---------------------------------------------------------------- processes

# srv_spawn LOG CMD...: start CMD as leader of a new session, stdin from
# /dev/null, output to LOG, without the lock descriptor; record pid + start time.
srv_spawn() {
    local log=$1 pid st
    shift
    setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
    pid=$!
    st=$(srv_starttime "$pid") || srv_die "$1 exited at once (see $log)"
    echo "$pid $st" >>"$SRV_DIR/pids"
    SRV_PIDS+=("$pid")
}

# srv_stop_dir DIR: TERM each recorded leader that is still the process we
# started, wait, then sweep the leaders' sessions (TERM, TERM, KILL).
srv_stop_dir() {
    local dir=$1 pid st i left round
    [[ -f $dir/pids ]] || return 0
    local -a leaders=() live=()
    while read -r pid st; do
        [[ $pid =~ ^[0-9]+$ ]] || continue
        if [[ $(srv_starttime "$pid") == "$st" ]]; then
            leaders+=("$pid")
            if [[ $(srv_state "$pid") != Z ]]; then
                live+=("$pid")
                kill -TERM "$pid" 2>/dev/null || true
            fi
        elif [[ ! -e /proc/$pid ]]; then
            leaders+=("$pid")               # gone: its session may still have members
        fi                                  # else: pid reused, its session is not ours
    done <"$dir/pids"
    for ((i = 0; i < SRV_STOP_TIMEOUT * 10 && ${#live[@]}; i++)); do
        left=()
        for pid in "${live[@]}"; do
            [[ -e /proc/$pid ]] && [[ $(srv_state "$pid") != Z ]] && left+=("$pid")
        done
        live=("${left[@]}")
        ((${#live[@]})) || break
        sleep 0.1
    done
    for round in TERM TERM KILL; do
        local -a members=()
        mapfile -t members < <(srv_session_members "${leaders[@]}")
        ((${#members[@]})) || break
        kill -"$round" "${members[@]}" 2>/dev/null || true
        [[ $round == KILL ]] || sleep 0.5
    done
    # Reap children of this shell (start's failure path) to leave no zombies.
    wait 2>/dev/null || true
    mv -f "$dir/pids" "$dir/pids.stopped"
    if [[ -L $dir/run ]]; then
        local target
        target=$(readlink "$dir/run")
        [[ $target == /tmp/p3s.* ]] && rm -rf "$target"
        rm -f "$dir/run"
    fi
}

# srv_session_members SID...: live (non-zombie) processes in those sessions.
# A session id stays allocated while any member lives, so it cannot be reused.
srv_session_members() {
    local -A want=()
    local s pid sid
    for s in "$@"; do want[$s]=1; done
    while read -r pid sid; do
        [[ -n ${want[$sid]:-} ]] || continue
        [[ $(srv_state "$pid") == Z ]] && continue
        echo "$pid"
    done < <(ps -e -o pid=,sid=)
}

srv_show_logs() {
    local f
    for f in "$1"/logs/*; do
        [[ -f $f ]] || continue
        echo "---- tail of $f" >&2
        tail -n 20 "$f" >&2 || true
    done
}

# srv_detect_ipv6: SERVER_IPV6=yes when ::1 can be bound (loopback has IPv6).
srv_detect_ipv6() {
    if "$SRV_PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' \
        2>/dev/null; then
        SERVER_IPV6=yes
    else
        SERVER_IPV6=no
        srv_say "no IPv6 on loopback: 127.0.0.1 only"
    fi
}

# srv_addrs: the loopback addresses to serve on (::1 only with SERVER_IPV6=yes).
srv_addrs() {
    echo 127.0.0.1
    [[ $SERVER_IPV6 != yes ]] || echo ::1
}

# srv_expect PORT plain|tls: the server must accept TCP connections on PORT
# (on every address of srv_addrs) before the port lock is released, and
# greet with +OK there (through TLS for tls) before start returns.
srv_expect() {
    local a
    for a in $(srv_addrs); do
        if [[ $a == *:* ]]; then SRV_LISTEN+=("[$a]:$1"); else SRV_LISTEN+=("$a:$1"); fi
        SRV_READY+=("$2:$a:$1")
    done
}

# ---------------------------------------------------------------- env file

srv_env() {
    local key=$1 value=$2
    if [[ $value == *[[:space:]]* ]]; then
        [[ $value != *"'"* ]] || srv_die "env value of $key contains a quote"
        value="'$value'"
    fi
    echo "$key=$value" >>"$SRV_DIR/env.tmp"
}

# ---------------------------------------------------------------- commands

srv_cmd_start() {
    local t0
    t0=$(date +%s.%N)
    server_install
    srv_prepare_dir "$1"
    SRV_STARTING=1
    SRV_PIDS=()
    SRV_LISTEN=()
    SRV_READY=()
    SERVER_TLS_PORT=
    SERVER_STLS=no
    srv_detect_ipv6
    srv_make_certs
    srv_make_passwords
    server_prepare
    srv_lock
    local -a ports
    read -r -a ports <<<"$("$SRV_PY" "$SRV_TOOL" ports 4 "$SERVER_IPV6")"
    ((${#ports[@]} == 4)) || srv_die "no free ports"
    server_launch "${ports[@]}"
    srv_bg "$SRV_PY" "$SRV_TOOL" wait-listen 30 "${SRV_PIDS[*]}" "${SRV_LISTEN[@]}" ||
        srv_die "start: $SRV_NAME does not listen on ${SRV_LISTEN[*]}"
    srv_unlock
    srv_bg "$SRV_PY" "$SRV_TOOL" wait-ready 30 "${SRV_PIDS[*]}" "$SRV_DIR/tls/ca.pem" \
        "${SRV_READY[@]}" || srv_die "start: $SRV_NAME does not greet on ${SRV_READY[*]}"
    if declare -F server_post >/dev/null; then server_post; fi

    rm -f "$SRV_DIR/env.tmp"
    srv_env SERVER "$SRV_NAME"
    srv_env SERVER_VERSION "$SERVER_VERSION"
    srv_env SERVER_PLAIN_PORT "$SERVER_PLAIN_PORT"
    srv_env SERVER_TLS_PORT "$SERVER_TLS_PORT"
    srv_env SERVER_STLS "$SERVER_STLS"
    srv_env SERVER_IPV6 "$SERVER_IPV6"
    srv_env SERVER_CA "$SRV_DIR/tls/ca.pem"
    srv_env SERVER_AUTHS "$SERVER_AUTHS"
    srv_env SERVER_USERS "${SRV_USERS[*]}"
    local u
    for u in "${SRV_USERS[@]}"; do
        srv_env "SERVER_LOGIN_${u^^}" "${LOGIN[$u]}"
        srv_env "SERVER_PASS_${u^^}" "${PASS[$u]}"
        srv_env "SERVER_DELIVERED_${u^^}" "${DELIVERED[$u]}"
    done
    srv_env SERVER_PIDS "${SRV_PIDS[*]}"
    srv_env SERVER_LOGS "$SRV_DIR/logs"
    mv "$SRV_DIR/env.tmp" "$SRV_DIR/env"
    SRV_STARTING=0
    srv_say "ready in $("$SRV_PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)") s ($SRV_DIR/env)"
}

srv_cmd_stop() {
    [[ -d $1 ]] || return 0
    local dir
    dir=$(cd "$1" && pwd -P)
    [[ -e $dir/.pop3-test-server ]] || return 0
    srv_stop_dir "$dir"
}

# srv_cmd_selftest: start in a temp dir, check with poplib, stop, check that
# no process of the instance is left.
srv_cmd_selftest() {
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
    "$SRV_PY" "$SRV_TOOL" selftest "$dir/env" || rc=1
    pids=$(sed -n 's/^SERVER_PIDS=//p' "$dir/env" | tr -d "'")
    "$0" stop "$dir" || { echo "FAIL stop"; rc=1; }
    "$0" stop "$dir" || { echo "FAIL second stop"; rc=1; }
    # shellcheck disable=SC2086  # pid list
    left=$(srv_session_members $pids | tr '\n' ' ')
    for pid in $pids; do
        [[ -e /proc/$pid && $(srv_state "$pid") != Z ]] && left+="$pid "
    done
    # Any process still naming the directory on its command line?
    while read -r pid; do
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$dir/"; then
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

srv_main() {
    case ${1:-} in
    install) [[ $# -eq 1 ]] || srv_usage; server_install ;;
    start) [[ $# -eq 2 ]] || srv_usage; srv_cmd_start "$2" ;;
    stop) [[ $# -eq 2 ]] || srv_usage; srv_cmd_stop "$2" ;;
    selftest) [[ $# -eq 1 ]] || srv_usage; srv_cmd_selftest ;;
    *) srv_usage ;;
    esac
}
