#!/usr/bin/env bash
# tests/harness/dovecot.sh - private Dovecot POP3 servers for the collectd-pop3 tests.
#
#   tests/harness/dovecot.sh start DIR   build CA/certs, users, maildirs and three Dovecot
#                                instances inside DIR; write DIR/env (KEY=value)
#   tests/harness/dovecot.sh stop DIR    stop the instances listed in DIR/env (by PID)
#   tests/harness/dovecot.sh selftest    start in a temp dir, check everything, stop, clean up
#
# Instances (all on 127.0.0.1 and ::1, ports chosen at run time):
#   main      ssl = yes, good cert: plain listener (offers STLS) + pop3s listener
#   wrongname ssl = yes, cert only for DNS:wrong.example.test: pop3s listener
#   nostls    ssl = no: plain listener, no STLS in CAPA
# main offers USER, APOP and SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER; nostls only
# USER and SASL PLAIN (no APOP timestamp). Dovecot 2.3 checks an XOAUTH2 or
# OAUTHBEARER bearer token through the passdb like a password: the user
# "bearer" has a 2100-byte token (Microsoft-sized) as its passwd-file password.
# See tests/harness/README.md and /work/shared/notes/dovecot-test-server.md.
set -euo pipefail

PY=/usr/bin/python3                     # not PATH's python: it may be a pyenv shim
DOVECOT_BIN=${DOVECOT_BIN:-/usr/sbin/dovecot}
MAIL_USER=nobody                        # owner of the maildirs; mail processes run as it
MAIL_GROUP=nogroup
START_TIMEOUT=15                        # seconds for all instances to greet
STOP_TIMEOUT=5                          # seconds between SIGTERM and SIGKILL
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

die() { echo "dovecot.sh: $*" >&2; exit 1; }

usage() {
    echo "usage: $0 start DIR | stop DIR | selftest" >&2
    exit 2
}

# ---------------------------------------------------------------- certificates

# make_certs DIR: test CA, a good server cert (localhost, 127.0.0.1, ::1) and a
# wrong-name cert (wrong.example.test only), all EC P-256, valid 2 days.
make_certs() {
    local d=$1/pki
    mkdir -p "$d"
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
authorityKeyIdentifier = keyid:always
[good]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[wrong]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = DNS:wrong.example.test
EOF
    local name
    for name in ca server wrongname; do
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
            -out "$d/$name.key" 2>/dev/null
        chmod 600 "$d/$name.key"
    done
    openssl req -x509 -new -config "$d/openssl.cnf" -extensions ca \
        -key "$d/ca.key" -subj "/CN=collectd-pop3 test CA" -days 2 -out "$d/ca.pem"
    # Leaf certs: CSR then sign with the CA (x509 -req keeps the extensions we set).
    sign_leaf "$d" server good "/CN=localhost"
    sign_leaf "$d" wrongname wrong "/CN=wrong.example.test"
}

sign_leaf() {
    local d=$1 name=$2 section=$3 subj=$4
    openssl req -new -config "$d/openssl.cnf" -key "$d/$name.key" -subj "$subj" \
        -out "$d/$name.csr"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -CAserial "$d/ca.srl" -days 2 \
        -extfile "$d/openssl.cnf" -extensions "$section" -out "$d/$name.pem" 2>/dev/null
}

# ---------------------------------------------------------------- users + mail

# make_mail DIR: passwd-file, maildirs and the few user's password file, in one
# python3 run (1200 messages must not cost 1200 processes). Prints KEY=value lines
# with the users, passwords, and the counts/sizes computed from the written files.
make_mail() {
    "$PY" - "$1" "$MAIL_USER" "$MAIL_GROUP" <<'EOF'
import email.utils, grp, os, pwd, secrets, sys, time
started = time.time()

top, mail_user, mail_group = sys.argv[1:4]
uid = pwd.getpwnam(mail_user).pw_uid
gid = grp.getgrnam(mail_group).gr_gid

def message(user, n, body_lines, arrived):
    # Every line ends with CRLF: Dovecot's STAT counts sizes as if lines ended
    # with CRLF, so writing CRLF makes the file size the exact STAT size.
    # The top-most Received: says when the message arrived (its age); Date:
    # is older and the same for all, so a reader that took it would show.
    when = email.utils.formatdate(arrived, usegmt=True)
    head = [
        f"Received: from sender.example.test by localhost (test); {when}",
        "Return-Path: <sender@example.test>",
        "From: Test Sender <sender@example.test>",
        f"To: {user}@example.test",
        f"Subject: collectd-pop3 test message {n} for {user}",
        "Date: Mon, 01 Jan 2024 00:00:00 +0000",
        f"Message-ID: <{n}.{user}@example.test>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
    ]
    filler = "abcdefghijklmnopqrstuvwxyz0123456789"
    body = [f"line {i:05d} {filler[: (i * 7 + n) % 37]}" for i in range(body_lines)]
    return ("\r\n".join(head + body) + "\r\n").encode("ascii")

# user -> number of body lines of each message (sizes differ per message)
users = {
    "empty": [],
    "few": [3, 120, 2500],                          # about 0.4, 4 and 78 KB
    "many": [5 + (i * 37) % 90 for i in range(1200)],
    "bearer": [11, 640],                            # logs in with a token
}

env = {}
passwd_lines = []
for user, bodies in users.items():
    password = secrets.token_urlsafe(12)             # [A-Za-z0-9_-]: no ':' or blanks
    if user == "bearer":
        # A bearer token is checked like a password (RFC 6750 b64token
        # characters); long enough to need a SASL continuation line.
        password = secrets.token_urlsafe(1600)[:2100]
    home = os.path.join(top, "home", user)
    maildir = os.path.join(home, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), mode=0o700)
    total = 0
    # arrivals 10 minutes apart, the last one 10 minutes ago
    arrived = [int(started) - (len(bodies) - n + 1) * 600 for n in range(1, len(bodies) + 1)]
    for n, lines in enumerate(bodies, 1):
        data = message(user, n, lines, arrived[n - 1])
        # Maildir name with S= (physical size); no W= so Dovecot computes the
        # virtual (STAT) size itself and a wrong computation here would show.
        name = f"{1700000000 + n}.M{n}P{os.getpid()}.pop3test,S={len(data)}:2,"
        path = os.path.join(maildir, "cur", name)
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, uid, gid)
        total += len(data)
    for root, dirs, _ in os.walk(home):
        os.chown(root, uid, gid)
    os.chmod(home, 0o700)
    passwd_lines.append(f"{user}:{{PLAIN}}{password}::::{home}::\n")
    up = user.upper()
    env[f"POP3_USER_{up}"] = user
    env[f"POP3_PASS_{up}"] = password
    env[f"POP3_{up}_COUNT"] = len(bodies)
    env[f"POP3_{up}_SIZE"] = total
    if arrived:
        env[f"POP3_{up}_FIRST_DATE"] = arrived[0]
        env[f"POP3_{up}_LAST_DATE"] = arrived[-1]
    if user == "few":
        pwfile = os.path.join(top, "few.password")
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (password + "\n").encode())
        os.close(fd)
        env["POP3_PASSWORD_FILE_FEW"] = pwfile
    if user == "bearer":
        del env["POP3_PASS_BEARER"]
        env["POP3_TOKEN_BEARER"] = password
        tokfile = os.path.join(top, "bearer.token")
        fd = os.open(tokfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (password + "\n").encode())
        os.close(fd)
        env["POP3_TOKEN_FILE_BEARER"] = tokfile

# The auth process runs as user dovecot: group-readable for it, not world-readable.
passwd = os.path.join(top, "passwd")
with open(passwd, "w") as f:
    f.writelines(passwd_lines)
os.chown(passwd, 0, grp.getgrnam("dovecot").gr_gid)
os.chmod(passwd, 0o640)

for k, v in env.items():
    print(f"{k}={v}")
EOF
}

# ---------------------------------------------------------------- ports + config

# free_ports N: N distinct ports free on both 127.0.0.1 and ::1 right now. All
# sockets stay bound until all are picked, so the N ports differ.
free_ports() {
    "$PY" - "$1" <<'EOF'
import socket, sys
want, held, ports = int(sys.argv[1]), [], []
while len(ports) < want:
    s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s4.bind(("127.0.0.1", 0))
    port = s4.getsockname()[1]
    held.append(s4)
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        s6.bind(("::1", port))
    except OSError:
        continue                                     # busy on ::1: try another
    held.append(s6)
    ports.append(port)
print(" ".join(map(str, ports)))
EOF
}

# write_conf FILE NAME RUNDIR SSL(yes|no) CERTNAME PLAIN_PORT SSL_PORT MECHANISMS
# A port of 0 disables that listener (Dovecot's built-in defaults are 110/995).
# MECHANISMS is auth_mechanisms; "apop" in it adds the greeting's timestamp.
write_conf() {
    local conf=$1 name=$2 rundir=$3 ssl=$4 cert=$5 plain=$6 sslport=$7 mechs=$8
    local top=$WORK
    {
        echo "# generated by tests/harness/dovecot.sh: instance '$name'"
        echo "instance_name = pop3test-$name"
        echo "base_dir = $rundir"
        echo "state_dir = $top/$name/state"
        echo "log_path = $top/$name/dovecot.log"
        echo "protocols = pop3"
        echo "listen = 127.0.0.1, ::1"
        echo "ssl = $ssl"
        if [[ $ssl == yes ]]; then
            echo "ssl_cert = <$top/pki/$cert.pem"
            echo "ssl_key = <$top/pki/$cert.key"
        fi
        cat <<EOF
disable_plaintext_auth = no
auth_mechanisms = $mechs
auth_verbose = yes
mail_location = maildir:~/Maildir
mail_uid = $MAIL_USER
mail_gid = $MAIL_GROUP
first_valid_uid = 1
first_valid_gid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $top/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $top/passwd
}
# Dovecot's documented high-performance mode: one long-lived login process
# instead of one per connection. Its TLS session-ticket keys then outlive a
# connection, so clients can resume TLS sessions (and logins cost ~2 ms of
# server CPU instead of ~46 ms).
service pop3-login {
  service_count = 0
  process_min_avail = 1
  inet_listener pop3 {
    port = $plain
  }
  inet_listener pop3s {
    port = $sslport
    ssl = yes
  }
}
# No chroot for anvil: avoids chroot trouble inside a temp dir.
# Auth penalty off: the tests' deliberate wrong passwords from 127.0.0.1
# would otherwise delay every later login from that address by up to 15 s.
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
    } >"$conf"
}

# ---------------------------------------------------------------- process helpers

# alive PID: true if PID exists and is not a zombie (a zombie answers kill -0).
alive() {
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# ours PID DIR: the PID is a dovecot master started with a config inside DIR
# (guards against killing an unrelated process that reused the PID).
ours() {
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *dovecot*" -c $2/"* ]]
}

# kill_pids DIR PID...: SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL.
kill_pids() {
    local dir=$1 pid i left
    shift
    local -a mine=()
    for pid in "$@"; do
        [[ $pid =~ ^[0-9]+$ ]] || continue
        if alive "$pid" && ours "$pid" "$dir"; then
            mine+=("$pid")
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    ((${#mine[@]})) || return 0
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        left=0
        for pid in "${mine[@]}"; do
            if alive "$pid"; then left=1; fi
        done
        ((left)) || break
        sleep 0.1
    done
    for pid in "${mine[@]}"; do
        if alive "$pid"; then
            echo "dovecot.sh: PID $pid ignored SIGTERM, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    # Reap our own children (start's failure path) so no zombie is left behind.
    wait "${mine[@]}" 2>/dev/null || true
}

# wait_ready DEADLINE_S PIDS(commas) SPEC...: SPEC is port:plain|tls. Polls every
# 0.1 s until each port greets with +OK on 127.0.0.1; fails early if a master dies.
wait_ready() {
    "$PY" - "$@" <<'EOF'
import os, socket, ssl, sys, time
deadline = time.monotonic() + float(sys.argv[1])
pids = [p for p in sys.argv[2].split(",") if p]
pending = [s.split(":") for s in sys.argv[3:]]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE          # only probing for the greeting here

def dead(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True

def greets(port, mode):
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=1) as s:
            if mode == "tls":
                s = ctx.wrap_socket(s)
            line = s.makefile("rb").readline(512)
            if line.startswith(b"+OK"):
                s.sendall(b"QUIT\r\n")
                return True
    except (OSError, ssl.SSLError):
        pass
    return False

while pending:
    pending = [p for p in pending if not greets(*p)]
    if not pending:
        break
    gone = [p for p in pids if dead(p)]
    if gone:
        print(f"dovecot master(s) exited: {' '.join(gone)}", file=sys.stderr)
        sys.exit(1)
    if time.monotonic() > deadline:
        print("no +OK greeting on: " + " ".join(":".join(p) for p in pending),
              file=sys.stderr)
        sys.exit(1)
    time.sleep(0.1)
EOF
}

# ---------------------------------------------------------------- start / stop

INSTANCES=(main wrongname nostls)
declare -a STARTED=()

cleanup_failed_start() {
    kill_pids "$WORK" "${STARTED[@]}"
    STARTED=()
}

# launch_all PORTS...: write configs and start the three masters in the background.
launch_all() {
    local p_plain=$1 p_ssl=$2 p_wrong=$3 p_nostls=$4 name
    write_conf "$WORK/main/dovecot.conf" main "$RUN/a" yes server "$p_plain" "$p_ssl" \
        "plain login apop xoauth2 oauthbearer"
    write_conf "$WORK/wrongname/dovecot.conf" wrongname "$RUN/b" yes wrongname 0 "$p_wrong" \
        "plain login"
    write_conf "$WORK/nostls/dovecot.conf" nostls "$RUN/c" no - "$p_nostls" 0 "plain"
    for name in "${INSTANCES[@]}"; do
        : >"$WORK/$name/dovecot.log"
        # stdin/stdout/stderr redirected: a caller doing $(dovecot.sh start ...)
        # must not wait for the daemons to close its pipe.
        "$DOVECOT_BIN" -F -c "$WORK/$name/dovecot.conf" \
            </dev/null >>"$WORK/$name/stdout.log" 2>&1 &
        STARTED+=("$!")
    done
}

show_logs() {
    local name
    for name in "${INSTANCES[@]}"; do
        echo "---- $name: tail of $WORK/$name/dovecot.log" >&2
        tail -n 15 "$WORK/$name/dovecot.log" "$WORK/$name/stdout.log" >&2 2>/dev/null || true
    done
}

cmd_start() {
    [[ -d $1 ]] || die "start: $1 is not a directory"
    WORK=$(cd "$1" && pwd -P)
    [[ $WORK != *[[:space:]]* ]] || die "start: DIR must not contain blanks: $WORK"
    if [[ -e $WORK/env ]]; then
        local old
        old=$(sed -n 's/^DOVECOT_PIDS=//p' "$WORK/env" | tr ',' ' ')
        for pid in $old; do
            if alive "$pid" && ours "$pid" "$WORK"; then
                die "start: instances from $WORK/env still run (stop first)"
            fi
        done
        rm -f "$WORK/env"
    fi
    # mktemp -d gives 0700; dovecot's auth/mail users must traverse DIR. Its
    # parents are the caller's: only check them (else logins fail [SYS/TEMP]).
    local up=$WORK perms
    while [[ $up != / ]]; do
        up=$(dirname "$up")
        perms=$(stat -c %A "$up")
        [[ ${perms:9:1} == [xt] ]] ||
            die "start: $up is not searchable by others (dovecot users need o+x)"
    done
    chmod 755 "$WORK"
    mkdir -p "$WORK/home" "${INSTANCES[@]/#/$WORK/}"
    chmod 755 "$WORK/home"
    local name
    for name in "${INSTANCES[@]}"; do mkdir -p "$WORK/$name/state"; done

    # base_dir holds unix sockets (sun_path is ~108 bytes, Dovecot adds up to ~30):
    # inside DIR when short enough, else a short dir under /tmp removed by stop.
    if ((${#WORK} <= 60)); then
        RUN=$WORK/run
        mkdir -p "$RUN"
    else
        RUN=$(mktemp -d /tmp/pop3dc.XXXXXX)
        ln -sfn "$RUN" "$WORK/run"
    fi
    chmod 755 "$RUN"

    make_certs "$WORK"
    local mail_env
    mail_env=$(make_mail "$WORK")

    trap cleanup_failed_start EXIT
    # Ports are picked free, but another process may grab one before Dovecot
    # binds it: retry with new ports when the log says so.
    local attempt ports ok=0
    local -a p
    for attempt in 1 2 3; do
        ports=$(free_ports 4)
        read -r -a p <<<"$ports"
        launch_all "${p[@]}"
        if wait_ready "$START_TIMEOUT" "$(IFS=,; echo "${STARTED[*]}")" \
            "${p[0]}:plain" "${p[1]}:tls" "${p[2]}:tls" "${p[3]}:plain"; then
            ok=1
            break
        fi
        cleanup_failed_start
        if ((attempt < 3)) && grep -qs 'Address already in use' \
            "$WORK"/{main,wrongname,nostls}/{dovecot,stdout}.log; then
            echo "dovecot.sh: port collision, retrying with new ports" >&2
            continue
        fi
        break
    done
    if ((!ok)); then
        show_logs
        die "start: Dovecot did not come up (logs in $WORK/*/dovecot.log)"
    fi
    trap - EXIT

    # Written last and atomically: env exists only when everything is up.
    {
        echo "POP3_TEST_DIR=$WORK"
        echo "DOVECOT_PIDS=$(IFS=,; echo "${STARTED[*]}")"
        echo "DOVECOT_RUN_DIR=$RUN"
        echo "POP3_PLAIN_PORT=${p[0]}"
        echo "POP3S_PORT=${p[1]}"
        echo "POP3_WRONGNAME_PORT=${p[2]}"
        echo "POP3_NOSTLS_PORT=${p[3]}"
        echo "POP3_TEST_CA=$WORK/pki/ca.pem"
        echo "POP3_TEST_CERT=$WORK/pki/server.pem"
        echo "POP3_TEST_KEY=$WORK/pki/server.key"
        echo "POP3_WRONGNAME_CERT=$WORK/pki/wrongname.pem"
        echo "POP3_WRONGNAME_KEY=$WORK/pki/wrongname.key"
        echo "$mail_env"
    } >"$WORK/env.tmp"
    mv "$WORK/env.tmp" "$WORK/env"
}

cmd_stop() {
    [[ -d $1 ]] || return 0                      # nothing there: already stopped
    local dir pids run
    dir=$(cd "$1" && pwd -P)
    [[ -r $dir/env ]] || return 0
    pids=$(sed -n 's/^DOVECOT_PIDS=//p' "$dir/env" | tr ',' ' ')
    run=$(sed -n 's/^DOVECOT_RUN_DIR=//p' "$dir/env")
    # shellcheck disable=SC2086  # word splitting of the PID list is intended
    kill_pids "$dir" $pids
    # A base_dir outside DIR (long DIR) is ours alone; DIR itself is the caller's.
    if [[ $run == /tmp/pop3dc.* && -d $run ]]; then
        rm -rf "$run"
        rm -f "$dir/run"
    fi
}

# ---------------------------------------------------------------- selftest

selftest_checks() {
    "$PY" - "$1/env" <<'EOF'
import poplib, socket, ssl, sys, time

env = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[1]) if "=" in l)
fails = []

def check(what, cond):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)

def ctx(hostcheck=True):
    c = ssl.create_default_context(cafile=env["POP3_TEST_CA"])
    c.check_hostname = hostcheck
    return c

def session(mode, host, port, user, password, sni=None):
    """Log in and return (STAT tuple, CAPA dict after login prerequisites)."""
    if mode == "pop3s":
        c = ctx()
        p = poplib.POP3_SSL(host, port, timeout=10, context=c)
    else:
        p = poplib.POP3(host, port, timeout=10)
        if mode == "stls":
            p.stls(ctx())
    try:
        capa = p.capa()
        p.user(user)
        p.pass_(password)
        return p.stat(), capa
    finally:
        p.quit()

users = ["EMPTY", "FEW", "MANY"]
modes = [("plain", "POP3_PLAIN_PORT"), ("stls", "POP3_PLAIN_PORT"),
         ("pop3s", "POP3S_PORT")]
for host in ("127.0.0.1", "::1", "localhost"):
    for mode, key in modes:
        for u in users:
            want = (int(env[f"POP3_{u}_COUNT"]), int(env[f"POP3_{u}_SIZE"]))
            what = f"{mode:5} {host:9} {u.lower():5} STAT == {want}"
            try:
                got, _ = session(mode, host, int(env[key]), env[f"POP3_USER_{u}"],
                                 env[f"POP3_PASS_{u}"])
                check(f"{what} (got {got})", got == want)
            except Exception as e:
                check(f"{what}: {e!r}", False)

# The plain port of 'main' offers STLS; 'nostls' does not, but still logs in.
p = poplib.POP3("127.0.0.1", int(env["POP3_PLAIN_PORT"]), timeout=10)
check("main plain CAPA lists STLS and USER", {"STLS", "USER"} <= set(p.capa()))
p.quit()
for host in ("127.0.0.1", "::1"):
    p = poplib.POP3(host, int(env["POP3_NOSTLS_PORT"]), timeout=10)
    capa = p.capa()
    check(f"nostls {host} CAPA lacks STLS ({sorted(capa)})", "STLS" not in capa)
    p.quit()
    got, _ = session("plain", host, int(env["POP3_NOSTLS_PORT"]),
                     env["POP3_USER_FEW"], env["POP3_PASS_FEW"])
    check(f"nostls {host} few STAT", got == (int(env["POP3_FEW_COUNT"]),
                                            int(env["POP3_FEW_SIZE"])))

# wrongname: the chain is valid (CA trusted) but the name does not match.
for host in ("127.0.0.1", "::1"):
    port = int(env["POP3_WRONGNAME_PORT"])
    for name in ("localhost", host):
        try:
            with socket.create_connection((host, port), timeout=10) as s:
                ctx().wrap_socket(s, server_hostname=name)
            check(f"wrongname {host} as {name}: host check fails", False)
        except ssl.SSLCertVerificationError as e:
            check(f"wrongname {host} as {name}: host check fails "
                  f"({e.verify_message})", "mismatch" in e.verify_message.lower())
    with socket.create_connection((host, port), timeout=10) as s:
        t = ctx(hostcheck=False).wrap_socket(s)
        check(f"wrongname {host}: chain verifies without host check",
              t.makefile("rb").readline().startswith(b"+OK"))
    with socket.create_connection((host, port), timeout=10) as s:
        t = ctx().wrap_socket(s, server_hostname="wrong.example.test")
        check(f"wrongname {host}: verifies as wrong.example.test",
              t.makefile("rb").readline().startswith(b"+OK"))

# Wrong password refused (Dovecot delays the answer ~2 s: auth_failure_delay).
t0 = time.monotonic()
try:
    session("plain", "127.0.0.1", int(env["POP3_PLAIN_PORT"]), "few", "wrong-password")
    check("wrong password refused", False)
except poplib.error_proto as e:
    check(f"wrong password refused ({e}, {time.monotonic() - t0:.1f} s)",
          str(e).startswith("b'-ERR"))

# Authentication mechanisms: main offers APOP (greeting timestamp), SASL PLAIN
# LOGIN XOAUTH2 OAUTHBEARER; the bearer user's token is checked like a
# password (2100 bytes: the SASL response goes in a continuation line).
import base64
def sasl(port, mech, message):
    """AUTH <mech>, '+', base64(message); returns (answer, STAT answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(f"AUTH {mech}\r\n".encode())
        cont = f.readline()
        if not cont.startswith(b"+"):
            return cont, b""
        s.sendall(base64.b64encode(message) + b"\r\n")
        answer = f.readline()
        if answer.startswith(b"+ "):              # error challenge
            s.sendall(b"AQ==\r\n" if mech == "OAUTHBEARER" else b"\r\n")
            return f.readline(), b""
        s.sendall(b"STAT\r\nQUIT\r\n")
        return answer, f.readline()

port = int(env["POP3_PLAIN_PORT"])
p = poplib.POP3("127.0.0.1", port, timeout=10)
capa = p.capa()
check(f"main CAPA lists SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER ({capa.get('SASL')})",
      set(capa.get("SASL", [])) == {"PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"})
check("main greeting carries an APOP timestamp", b"<" in p.getwelcome())
p.quit()
p = poplib.POP3("127.0.0.1", port, timeout=10)
p.apop(env["POP3_USER_FEW"], env["POP3_PASS_FEW"])
got = p.stat()
p.quit()
check(f"APOP few STAT {got}", got == (int(env["POP3_FEW_COUNT"]),
                                     int(env["POP3_FEW_SIZE"])))
user, token = env["POP3_USER_BEARER"], env["POP3_TOKEN_BEARER"]
want = f"+OK {env['POP3_BEARER_COUNT']} {env['POP3_BEARER_SIZE']}".encode()
check(f"bearer token is {len(token)} bytes", len(token) == 2100)
ok, stat = sasl(port, "XOAUTH2",
                f"user={user}\x01auth=Bearer {token}\x01\x01".encode())
check(f"XOAUTH2 bearer ({ok!r}, {stat!r})",
      ok.startswith(b"+OK") and stat.startswith(want))
ok, stat = sasl(port, "OAUTHBEARER",
                f"n,a={user},\x01host=127.0.0.1\x01port={port}\x01auth=Bearer "
                f"{token}\x01\x01".encode())
check(f"OAUTHBEARER bearer ({ok!r}, {stat!r})",
      ok.startswith(b"+OK") and stat.startswith(want))
ok, _ = sasl(port, "XOAUTH2",
             f"user={user}\x01auth=Bearer wrong{token[:40]}\x01\x01".encode())
check(f"XOAUTH2 wrong token refused ({ok!r})", ok.startswith(b"-ERR"))
p = poplib.POP3("127.0.0.1", int(env["POP3_NOSTLS_PORT"]), timeout=10)
capa = p.capa()
check(f"nostls offers only SASL PLAIN and no APOP ({capa.get('SASL')})",
      capa.get("SASL") == ["PLAIN"] and b"<" not in p.getwelcome())
p.quit()

# Password file: first line is the few user's password, mode 0600.
import os, stat as st
pf = env["POP3_PASSWORD_FILE_FEW"]
check("password file content and mode 0600",
      open(pf).readline().rstrip("\n") == env["POP3_PASS_FEW"]
      and st.S_IMODE(os.stat(pf).st_mode) == 0o600)
tf = env["POP3_TOKEN_FILE_BEARER"]
check("token file content and mode 0600",
      open(tf).readline().rstrip("\n") == env["POP3_TOKEN_BEARER"]
      and st.S_IMODE(os.stat(tf).st_mode) == 0o600)
for u in users:
    pw = env[f"POP3_PASS_{u}"]
    check(f"{u.lower()} password has no ':' or blank",
          ":" not in pw and not any(c.isspace() for c in pw))

print(f"{len(fails)} failure(s)")
sys.exit(1 if fails else 0)
EOF
}

cmd_selftest() {
    local dir t0 t1 rc=0 pid
    dir=$(mktemp -d)
    # shellcheck disable=SC2064  # expand $dir now
    trap "'$SELF' stop '$dir' || true; rm -rf '$dir'" EXIT
    t0=$(date +%s.%N)
    "$SELF" start "$dir"
    t1=$(date +%s.%N)
    echo "start took $("$PY" -c "print(f'{$t1 - $t0:.2f}')") s"
    # shellcheck disable=SC1091
    source "$dir/env"
    echo "env: $(wc -l <"$dir/env") keys, PIDs $DOVECOT_PIDS"
    selftest_checks "$dir" || rc=1
    "$SELF" stop "$dir"
    for pid in ${DOVECOT_PIDS//,/ }; do
        if alive "$pid"; then echo "FAIL PID $pid still alive after stop"; rc=1; fi
    done
    "$SELF" stop "$dir"                          # idempotent: second stop is a no-op
    echo "ok   stop (twice)"
    if ((rc == 0)); then echo "selftest passed"; else echo "selftest FAILED"; fi
    return "$rc"
}

case ${1:-} in
start) [[ $# -eq 2 ]] || usage; cmd_start "$2" ;;
stop) [[ $# -eq 2 ]] || usage; cmd_stop "$2" ;;
selftest) [[ $# -eq 1 ]] || usage; cmd_selftest ;;
*) usage ;;
esac
