#!/usr/bin/env bash
# Starts the private mail loop (tests/servers/mailloop.sh: Postfix delivering
# to Dovecot), runs the SMTP test binary against it with its environment,
# and always stops it by PID. The binary finds its probes in the mailbox with
# $SMTP_FIND, a poplib script written here.
#   tests/engine/run-smtp.sh BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if (($# != 1)); then
  echo "usage: $0 BINARY" >&2
  exit 2
fi
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

dir=$(mktemp -d /tmp/pop3-smtp.XXXXXX)
chmod 755 "$dir" # the servers' unprivileged processes must traverse it
logname=$(basename "$binary")-$(basename "$(dirname "$binary")")
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  "$here/../servers/mailloop.sh" stop "$dir/server" >/dev/null 2>&1 || true
  "$here/../harness/keep-logs.sh" "$dir" "$logname"
  # the passwords of this run, for tests/harness/check-secrets.sh
  if [[ -n ${POP3_TEST_LOGS:-} && -d $POP3_TEST_LOGS/$logname && -f $dir/server/env ]]; then
    (
      set +u
      # shellcheck disable=SC1091
      . "$dir/server/env"
      printf '%s\n' "$SMTP_PASS" "$SERVER_PASS_PROBE" "$SERVER_PASS_SENDER" \
        Wrong-Smtp-Pass-77
    ) > "$POP3_TEST_LOGS/$logname/smtp.secrets"
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

mkdir "$dir/server"
"$here/../servers/mailloop.sh" start "$dir/server" > "$dir/start.log" 2>&1 || {
  cat "$dir/start.log"
  exit 1
}
set -a
# shellcheck disable=SC1091
. "$dir/server/env"
set +a
# A port nothing listens on: bound by the kernel, then released.
SMTP_CLOSED_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SMTP_CLOSED_PORT

# find.py TOKEN WAIT [whole]: prints the X-Collectd-Pop3-Loop value of the
# message carrying TOKEN in the probe mailbox (POP3 with STLS, the CA
# verified), and with "whole" the message after it (LF line ends); exit 1
# when it is not there within WAIT seconds.
export SMTP_FIND=$dir/find.py
cat > "$SMTP_FIND" <<'EOF'
import os, poplib, ssl, sys, time

token, wait = sys.argv[1], float(sys.argv[2])
whole = sys.argv[3:] == ["whole"]
ctx = ssl.create_default_context(cafile=os.environ["SERVER_CA"])
deadline = time.monotonic() + wait


def loop_value(lines):
    """The unfolded X-Collectd-Pop3-Loop value, or None."""
    fields, cur = [], None
    for line in lines:
        if line[:1] in (b" ", b"\t") and cur is not None:
            cur += b" " + line.strip()
            continue
        if cur is not None:
            fields.append(cur)
        cur = line
    if cur is not None:
        fields.append(cur)
    for f in fields:
        name, sep, value = f.partition(b":")
        if sep and name.strip().lower() == b"x-collectd-pop3-loop":
            return value
    return None


while True:
    pop = poplib.POP3("127.0.0.1", int(os.environ["SERVER_PLAIN_PORT"]), timeout=5)
    try:
        pop.stls(ctx)
        pop.user(os.environ["SERVER_LOGIN_PROBE"])
        pop.pass_(os.environ["SERVER_PASS_PROBE"])
        for entry in pop.list()[1]:
            num = int(entry.split()[0])
            value = loop_value(pop.top(num, 0)[1])
            if value is not None and token.encode() in value:
                out = value.decode("ascii", "replace")
                if whole:
                    body = b"\n".join(pop.retr(num)[1]) + b"\n"
                    out += "\n" + body.decode("ascii", "replace")
                sys.stdout.write(out)
                sys.exit(0)
    finally:
        try:
            pop.quit()
        except Exception:
            pass
    if time.monotonic() >= deadline:
        sys.exit(1)
    time.sleep(0.2)
EOF

# A getaddrinfo() that takes 6 s for one name, preloaded: a resolve still
# running at the timeout must not hold the send. Not under ASan, whose
# runtime must come first.
cat > "$dir/slow-dns.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res) {
  int (*real)(const char *, const char *, const struct addrinfo *,
              struct addrinfo **) = dlsym(RTLD_NEXT, "getaddrinfo");
  if (node != NULL && strcmp(node, "slow-dns.test") == 0) {
    sleep(6);
    return EAI_NONAME;
  }
  return real(node, service, hints, res);
}
EOF
preload=
if ! ldd "$binary" | grep -q libasan &&
  cc -shared -fPIC -o "$dir/slow-dns.so" "$dir/slow-dns.c" -ldl; then
  preload=$dir/slow-dns.so
  export SMTP_SLOW_DNS_HOST=slow-dns.test
fi

# libcheck's own timeouts bound each test; this bounds the whole run.
rc=0
LD_PRELOAD=$preload timeout 300 "$binary" 2>&1 | tee "$dir/output.txt" || rc=1
exit "$rc"
