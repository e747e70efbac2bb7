#!/usr/bin/env bash
# The mail loop end to end, in the real collectd: a private Postfix accepts
# the probes (submission, STARTTLS, AUTH) and delivers them over LMTP into a
# private Dovecot (tests/servers/mailloop.sh); the plugin finds them over
# POP3 (StartTLS), dispatches their delivery time and deletes them, and
# nothing else.
#
# Before collectd starts, the mailbox gets look-alikes that must survive:
# a message with this monitor's name and a token whose MAC is wrong, one
# with a token valid for another monitor, one with the field only in its
# body, and a plain message; and one genuine probe of this monitor, two
# hours old, as if left by a collectd that was restarted: it must be
# recognised and deleted. The tokens are made here with Python's hmac, from
# the recipe in src/net/pop3_loop.h, not by the plugin.
#
# Delivery is held from the start (Postfix defers to LMTP): the first probe
# is overdue after LostAfter (45 s), which must raise FAILURE at the third
# collection (60 s); the test then releases the mail, and the fourth
# collection (90 s) must find the probes, dispatch plausible delivery times
# (the one sent just before the release: above 0, under 10 s), raise OKAY
# and delete them. About 100 s.
#
# usage: tests/e2e/e2e-mailloop.sh build/pop3.so
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PY=/usr/bin/python3
STOP_WAIT=10

dir=$(mktemp -d /tmp/pop3-e2e-mailloop.XXXXXX)
chmod 755 "$dir" # the consumer (nobody) traverses it
pids=()
collectd_pid=
# shellcheck source=tests/harness/e2e-lib.sh
. "$here/../harness/e2e-lib.sh"
cleanup() {
  [[ -n $collectd_pid ]] && stop_pid "$collectd_pid" >/dev/null 2>&1 || true
  "$here/../servers/mailloop.sh" stop "$dir/srv" >/dev/null 2>&1 || true
  # the run's passwords, for tests/harness/check-secrets.sh
  if [[ -f $dir/srv/env ]]; then
    (set -a; . "$dir/srv/env"; printf '%s\n' "$SMTP_PASS" "$SERVER_PASS_PROBE") \
      > "$dir/mailloop.secrets" 2>/dev/null || true
  fi
  "$here/../harness/keep-logs.sh" "$dir" e2e-mailloop
  rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/srv" "$dir/plugins" "$dir/notify" "$dir/csv"
chmod 1777 "$dir/notify"
"$here/../servers/mailloop.sh" start "$dir/srv" > "$dir/mailloop-start.log" 2>&1 ||
  { cat "$dir/mailloop-start.log"; fail "the private Postfix and Dovecot did not start"; }
set -a
# shellcheck disable=SC1091
. "$dir/srv/env"
set +a
ok "private Postfix $POSTFIX_VERSION and Dovecot up (submission $SMTP_STARTTLS_PORT, POP3 $SERVER_PLAIN_PORT)"

monitor=loop
# --- the mailbox before: look-alikes, a plain message, one leftover probe
"$PY" - "$LMTP_SOCKET" "$SMTP_TO" "$SERVER_PASS_PROBE" "$monitor" > "$dir/seeded" <<'EOF'
import email.utils, hashlib, hmac, os, smtplib, sys, time
sock, rcpt, secret, monitor = sys.argv[1:5]

def key(secret, monitor):
    return hmac.new(b"collectd-pop3 mail loop",
                    f"{secret}\n{monitor}".encode(), hashlib.sha256).digest()

def token(k, monitor, sent_ms, nonce=None):
    nonce = nonce or os.urandom(8).hex()
    mac = hmac.new(k, f"{monitor}\n{sent_ms}\n{nonce}".encode(),
                   hashlib.sha256).hexdigest()[:32]
    return f"{sent_ms}.{nonce}.{mac}"

now_ms = int(time.time() * 1000)
mine = key(secret, monitor)
good = token(mine, monitor, now_ms - 7200 * 1000)
bad = good[:-1] + ("0" if good[-1] != "0" else "1")     # one MAC digit off
foreign = token(key(secret, "other"), "other", now_ms - 60000)
messages = {
    "leftover": f"X-Collectd-Pop3-Loop: {monitor} {good}",
    "forged": f"X-Collectd-Pop3-Loop: {monitor} {bad}",
    "foreign": f"X-Collectd-Pop3-Loop: other {foreign}",
    "in-body": None,
    "plain": None,
}
lmtp = smtplib.LMTP(sock)
for name, field in messages.items():
    head = [f"From: <seed@loop.test>", f"To: <{rcpt}>",
            f"Subject: seeded {name}", f"Date: {email.utils.formatdate()}",
            f"Message-ID: <{name}.seed@loop.test>"]
    if field:
        head.append(field)
    body = "seeded by the test\r\n"
    if name == "in-body":
        body += f"X-Collectd-Pop3-Loop: {monitor} {good}\r\n"
    lmtp.sendmail("seed@loop.test", [rcpt], "\r\n".join(head) + "\r\n\r\n" + body)
    print(name)
lmtp.quit()
EOF
# messages in the probe's mailbox whose Message-ID is <NAME.seed@loop.test>
seeded_present() { grep -rlF "<$1.seed@loop.test>" "$MAILDIR_PROBE"/cur "$MAILDIR_PROBE"/new 2>/dev/null | wc -l; }
for name in leftover forged foreign in-body plain; do
  [[ $(seeded_present "$name") -eq 1 ]] || fail "seeded message $name not delivered"
done
ok "mailbox seeded: a leftover probe (2 h old), a forged and a foreign token, the field in a body, a plain message"

"$here/../servers/mailloop.sh" hold "$dir/srv" >/dev/null
ok "delivery held: Postfix keeps accepting and defers"

cp "$plugin" "$dir/plugins/pop3.so"
for p in csv exec logfile; do cp "/usr/lib/collectd/$p.so" "$dir/plugins/"; done
cp "$here/../harness/notify-consumer.sh" "$dir/notify.sh"
log=$dir/notify/notifications

cat > "$dir/collectd.conf" <<CONF
Hostname "loop-host"
BaseDir "$dir"
PIDFile "$dir/collectd.pid"
Interval 30
TypesDB "/usr/share/collectd/types.db"
PluginDir "$dir/plugins"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/collectd.log"
  Timestamp true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$dir/csv"
</Plugin>
LoadPlugin exec
<Plugin exec>
  NotificationExec "nobody" "$dir/notify.sh" "$log"
</Plugin>
LoadPlugin pop3
<Plugin pop3>
  <Monitor "$monitor">
    Spread false
    Host "127.0.0.1"
    Port $SERVER_PLAIN_PORT
    StartTLS true
    CACert "$SERVER_CA"
    User "$SERVER_LOGIN_PROBE"
    Password "$SERVER_PASS_PROBE"
    <MailLoop>
      Host "localhost"
      Port $SMTP_STARTTLS_PORT
      CACert "$SERVER_CA"
      User "$SMTP_USER"
      Password "$SMTP_PASS"
      From "$SMTP_FROM"
      To "$SMTP_TO"
      Interval 30
      LostAfter 45
    </MailLoop>
  </Monitor>
</Plugin>
CONF
collectd -t -C "$dir/collectd.conf" > "$dir/collectd-t.log" 2>&1 || { cat "$dir/collectd-t.log"; fail "collectd -t refused the configuration"; }
started=$(date +%s)
collectd -f -C "$dir/collectd.conf" > "$dir/collectd.stdout" 2>&1 &
collectd_pid=$!
pids+=("$collectd_pid")

# wait_log SECONDS FILE PATTERN WHAT: until FILE has a line matching (ERE)
wait_log() {
  local limit=$1 file=$2 pattern=$3 what=$4 i
  for ((i = 0; i < limit * 10; i++)); do
    grep -Eq -- "$pattern" "$file" 2>/dev/null && return 0
    alive "$collectd_pid" || fail "collectd exited early"
    sleep 0.1
  done
  fail "$what: not within ${limit}s (pattern: $pattern)"
}

wait_log 15 "$dir/collectd.log" 'mail loop: 1 probe\(s\) from earlier found and deleted' \
  "the leftover probe recognised"
ok "first collection: the probe left from before the restart is recognised and deleted"
wait_until 10 "the leftover probe's removal" test "$(seeded_present leftover)" -eq 0
for name in forged foreign in-body plain; do
  [[ $(seeded_present "$name") -eq 1 ]] || fail "look-alike $name was deleted"
done
ok "the leftover is gone from the maildir; forged, foreign, in-body and plain messages are still there"

p="plugin=pop3 plugin_instance=$monitor type=bool type_instance=mail_loop"
wait_log 75 "$log" "^severity=FAILURE $p message=monitor \"$monitor\" .*: mail loop: the probe sent at [0-9-]+ [0-9:]+ UTC has not arrived within LostAfter \(45 s\)\$" \
  "FAILURE for the held probe"
failed_at=$(($(date +%s) - started))
ok "held delivery: FAILURE after ${failed_at}s (LostAfter 45 s, collections every 30 s)"
[[ $failed_at -ge 45 ]] || fail "FAILURE after ${failed_at}s, before LostAfter"
grep -q '^epoch,value' "$dir/csv/loop-host/pop3-$monitor/bool-mail_loop-"* 2>/dev/null &&
  grep -q ',0\.000000$' "$dir/csv/loop-host/pop3-$monitor/bool-mail_loop-"* ||
  fail "bool-mail_loop 0 not dispatched with the FAILURE"
ok "bool-mail_loop 0 dispatched"

"$here/../servers/mailloop.sh" release "$dir/srv" >/dev/null
released=$(date +%s.%N)
ok "delivery released"
wait_log 45 "$log" "^severity=OKAY $p message=monitor \"$monitor\" .*: mail loop: probes arrive again \(the last in [0-9.]+ s\)\$" \
  "OKAY after the release"
ok "probes arrive again: OKAY"
# one more collection: the held probes the release delivered after the
# last one are found and deleted too
okay_lines=$(grep -c 'probes arrive again' "$dir/collectd.log")
wait_log 40 "$dir/csv/loop-host/pop3-$monitor/email_count-$(date +%Y-%m-%d)" "^[0-9.]+,[0-9.]+\$" "values" # present
n0=$(wc -l < "$dir/csv/loop-host/pop3-$monitor/email_count-"*)
for ((i = 0; i < 400; i++)); do
  [[ $(wc -l < "$dir/csv/loop-host/pop3-$monitor/email_count-"*) -gt $n0 ]] && break
  alive "$collectd_pid" || fail "collectd exited early"
  sleep 0.1
done
[[ $i -lt 400 ]] || fail "no collection after the OKAY within 40 s"
[[ $(grep -c 'probes arrive again' "$dir/collectd.log") -eq $okay_lines ]] || fail "a second OKAY"
ok "one more collection after the OKAY"

# delivery times: every one above 0; the probe sent just before the
# release took under 10 s, the first held one about as long as it was held
mapfile -t delivery < <(tail -n +2 "$dir/csv/loop-host/pop3-$monitor/duration-mail_loop-"* | cut -d, -f2)
[[ ${#delivery[@]} -ge 2 ]] || fail "only ${#delivery[@]} delivery time(s) dispatched: ${delivery[*]}"
"$PY" - "$released" "$started" "${delivery[@]}" <<'EOF' || fail "implausible delivery times: ${delivery[*]}"
import sys
released, started, *values = map(float, sys.argv[1:])
assert len(values) >= 3, values           # the held probes, and one in time
assert all(v > 0 for v in values), values
assert min(values) < 10, values
held = released - started                 # the first probe waited this long
assert abs(max(values) - held) < 5, (max(values), held)
EOF
ok "delivery times dispatched: ${delivery[*]} s (all above 0, one under 10 s, the first as long as delivery was held)"
tail -n +2 "$dir/csv/loop-host/pop3-$monitor/bool-mail_loop-"* | tail -n 1 | grep -q ',1\.000000$' ||
  fail "bool-mail_loop is not 1 after the OKAY"
ok "bool-mail_loop 1 again"

stop_pid "$collectd_pid" || true
collectd_pid=
# Deleted: every probe the plugin found; left: the look-alikes and at most
# the probes sent since the last collection (sent, not yet looked for).
last=$(grep -E 'probes arrive again' "$dir/collectd.log" | tail -n 1 | sed -E 's/^\[([^]]+)\].*/\1/')
"$PY" - "$MAILDIR_PROBE" "$SERVER_PASS_PROBE" "$monitor" "$(date -d "$last" +%s)" <<'EOF' || fail "the mailbox after the run is not as expected"
import email, glob, hashlib, hmac, sys
maildir, secret, monitor, last = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
key = hmac.new(b"collectd-pop3 mail loop", f"{secret}\n{monitor}".encode(), hashlib.sha256).digest()
seeded, probes = [], []
for path in glob.glob(f"{maildir}/cur/*") + glob.glob(f"{maildir}/new/*"):
    msg = email.message_from_binary_file(open(path, "rb"))
    mid = msg.get("Message-ID", "")
    if mid.endswith(".seed@loop.test>"):
        seeded.append(mid)
        continue
    field = msg.get("X-Collectd-Pop3-Loop", "").split()
    sent, nonce, mac = field[1].split(".")
    good = hmac.new(key, f"{monitor}\n{sent}\n{nonce}".encode(), hashlib.sha256).hexdigest()[:32]
    assert field[0] == monitor and hmac.compare_digest(good, mac), field
    probes.append(int(sent) // 1000)
assert sorted(seeded) == sorted(f"<{n}.seed@loop.test>" for n in ("forged", "foreign", "in-body", "plain")), seeded
late = [s for s in probes if s < last - 1]
assert not late, f"probes sent before the last collection are still there: {late} (last {last})"
print(f"{len(seeded)} look-alikes kept, {len(probes)} probe(s) sent after the last collection")
EOF
ok "after the run: the 4 look-alikes survive, no probe seen by a collection is left"

! grep -E 'mail loop: (smtp:|no probe sent|probes not deleted)|: (connect|tls|greeting|auth|stat): ' "$dir/collectd.log" ||
  fail "a send, a deletion or a collection failed"
for secret in "$SMTP_PASS" "$SERVER_PASS_PROBE"; do
  ! grep -rqF -- "$secret" "$dir"/*.log "$dir/notify" "$dir/csv" || fail "a password is in a log"
done
ok "no send, deletion or collection failed; no password in the logs"
echo "# e2e-mailloop: $passed checks passed in $(($(date +%s) - started)) s"
