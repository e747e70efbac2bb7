#!/usr/bin/env bash
# tests/servers/dovecot.sh start|stop DIR: Dovecot behind the common server
# contract of tests/e2e/server-matrix.sh.
#
#   start DIR   runs tests/harness/dovecot.sh start DIR/dovecot, gives the users
#               empty, few and many passwords that contain a space, and
#               writes DIR/env (SERVER_* keys, shell-quoted)
#   stop DIR    tests/harness/dovecot.sh stop DIR/dovecot (by PID); safe to repeat
#
# Only Dovecot's main instance is used: a plain port that offers STLS, an
# implicit TLS port, USER, APOP, SASL PLAIN and LOGIN, on 127.0.0.1 and ::1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3

die() { echo "servers/dovecot.sh: $*" >&2; exit 1; }

cmd_start() {
  local dir=$1
  [[ -d $dir ]] || die "start: $dir is not a directory"
  dir=$(cd "$dir" && pwd -P)
  mkdir -p "$dir/dovecot"
  "$here/harness/dovecot.sh" start "$dir/dovecot"
  # From here on a failure must not leave Dovecot running.
  trap '"$here/harness/dovecot.sh" stop "$dir/dovecot" || true' EXIT
  local version
  version=$(/usr/sbin/dovecot --version | awk '{print $1}')
  # New passwords with a space, written into the harness's passwd-file
  # (Dovecot re-reads it when it changes), then checked with poplib: the
  # env is written only when every user logs in with its new password.
  "$PY" - "$dir/dovecot/env" "$dir/env.tmp" "$version" <<'EOF'
import grp, os, poplib, secrets, shlex, sys, time

src, dest, version = sys.argv[1:4]
env = dict(l.rstrip("\n").split("=", 1) for l in open(src) if "=" in l)
top = env["POP3_TEST_DIR"]
users = ("EMPTY", "FEW", "MANY")
new = {u: f"{secrets.token_urlsafe(9)} {secrets.token_urlsafe(9)}" for u in users}
by_name = {env[f"POP3_USER_{u}"]: new[u] for u in users}

passwd = os.path.join(top, "passwd")
lines = []
for line in open(passwd):
    f = line.split(":")
    if f[0] in by_name:
        f[1] = "{PLAIN}" + by_name[f[0]]
    lines.append(":".join(f))
tmp = passwd + ".tmp"
with open(tmp, "w") as f:
    f.writelines(lines)
os.chown(tmp, 0, grp.getgrnam("dovecot").gr_gid)
os.chmod(tmp, 0o640)
# a different mtime and size than the old file: Dovecot notices at once
os.rename(tmp, passwd)

port = int(env["POP3_PLAIN_PORT"])
deadline = time.monotonic() + 10
for u in users:
    while True:
        p = poplib.POP3("127.0.0.1", port, timeout=10)
        try:
            p.user(env[f"POP3_USER_{u}"])
            p.pass_(new[u])
            break
        except poplib.error_proto:
            if time.monotonic() > deadline:
                sys.exit(f"servers/dovecot.sh: {u.lower()}: new password refused")
            time.sleep(0.2)
        finally:
            try:
                p.quit()
            except Exception:
                p.close()

d = os.path.dirname(os.path.dirname(src))
out = {
    "SERVER": "dovecot",
    "SERVER_VERSION": version,
    "SERVER_PLAIN_PORT": env["POP3_PLAIN_PORT"],
    "SERVER_TLS_PORT": env["POP3S_PORT"],
    "SERVER_STLS": "yes",
    "SERVER_IPV6": "yes",
    "SERVER_CA": env["POP3_TEST_CA"],
    "SERVER_AUTHS": "user apop plain login",
    "SERVER_USERS": "empty few many",
    "SERVER_PIDS": " ".join(env["DOVECOT_PIDS"].split(",")),
    "SERVER_LOGS": " ".join(os.path.join(top, i, "dovecot.log")
                            for i in ("main", "wrongname", "nostls")),
}
for u in users:
    out[f"SERVER_LOGIN_{u}"] = env[f"POP3_USER_{u}"]
    out[f"SERVER_PASS_{u}"] = new[u]
    out[f"SERVER_DELIVERED_{u}"] = env[f"POP3_{u}_COUNT"]
fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    for k, v in out.items():
        f.write(f"{k}={shlex.quote(str(v))}\n")
EOF
  mv "$dir/env.tmp" "$dir/env"
  trap - EXIT
}

cmd_stop() {
  local dir=$1
  [[ -d $dir/dovecot ]] || return 0
  "$here/harness/dovecot.sh" stop "$dir/dovecot"
}

[[ $# -eq 2 ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
case $1 in
  start) cmd_start "$2" ;;
  stop) cmd_stop "$2" ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
