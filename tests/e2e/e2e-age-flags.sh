#!/usr/bin/env bash
# The message age reads headers (TOP n 0), and the plugin must still never
# change a mailbox: no message's flags may change across collections. A
# private Dovecot serves one Maildir over POP3 (to the real collectd with
# the plugin: CollectMessageAge true, MessageAgeScan 16) and over IMAP (to
# Python's imaplib, which only ever EXAMINEs: read-only, \Recent kept).
#
#   usage: tests/e2e/e2e-age-flags.sh build/pop3.so
#
# The mailbox has unseen, \Seen, \Flagged, \Answered and \Draft messages in
# cur/ and two messages still in new/. Before and after two collections, the
# UIDs and flags (IMAP FETCH) and the Maildir file names (which carry the
# flags) must be the same, and Dovecot's own log must count no RETR and no
# DELE for the plugin's sessions.
#
# Two things are Dovecot's bookkeeping at login, not changes the plugin
# asks for: with its default pop3_no_flag_updates = no, opening a mailbox
# over POP3 makes the messages non-\Recent, and a Maildir sync moves the
# files in new/ to cur/ (flags unchanged). Whatever changes of that kind
# the collections cause must be exactly those of a session that only logs
# in and quits (USER, PASS, QUIT) on an identical mailbox. A third identical
# mailbox gets RETR and QUIT through poplib, which makes Dovecot set \Seen:
# the same comparison must report it, so the check is shown to be able to
# fail.
#
# Everything runs in a temp dir on 127.0.0.1, free ports, stopped by PID;
# every wait is bounded. The plugin's Interval is at least 30 s: the two
# collections take about 31 s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ $# -eq 1 && -f $1 ]] || { echo "usage: $0 PLUGIN.so" >&2; exit 2; }
plugin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

PY=/usr/bin/python3 # not PATH's python: it may be a pyenv shim
DOVECOT_BIN=/usr/sbin/dovecot
START_WAIT=15   # seconds for Dovecot to greet on both ports
COLLECT_WAIT=75 # seconds for two collections with age values (Interval 30)
STOP_WAIT=5     # seconds between SIGTERM and SIGKILL
SCAN=16

for f in "$DOVECOT_BIN" /usr/lib/dovecot/imap /usr/lib/dovecot/pop3; do
  [[ -x $f ]] || { echo "FAIL: $f missing (tests/harness/install-deps.sh: dovecot-imapd, dovecot-pop3d)"; exit 1; }
done
command -v collectd >/dev/null || { echo "FAIL: collectd missing (tests/harness/install-deps.sh)"; exit 1; }

dir=$(mktemp -d /tmp/pop3-flags.XXXXXX)
chmod 755 "$dir" # Dovecot's unprivileged processes must traverse it
pids=()          # every process this script started, stopped by PID
dovecot_pid=
collectd_pid=
t_start=$(date +%s.%N)

# shellcheck source=tests/harness/e2e-lib.sh
. "$here/../harness/e2e-lib.sh"

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    alive "$pid" && { stop_pid "$pid" || true; }
  done
  "$here/../harness/keep-logs.sh" "$dir" e2e-age-flags
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'echo "# interrupted"; exit 130' INT TERM

# --- the helper: mail, IMAP snapshots, comparisons, the age check ----------
cat >"$dir/flags.py" <<'PYEOF'
import email.utils, grp, imaplib, json, os, poplib, pwd, re, secrets, sys, time

DATE0, STEP = 1704067200, 61  # message n arrived at DATE0 + n * STEP
# (where, maildir flags): unseen, \Seen, \Flagged, \Answered (R), \Draft,
# combinations, and two files still in new/ (no info part: no flags yet)
LAYOUT = [("cur", ""), ("cur", "S"), ("cur", "F"), ("cur", "R"), ("cur", "FS"),
          ("cur", ""), ("cur", "RS"), ("cur", "D"), ("cur", "S"), ("cur", ""),
          ("new", None), ("new", None)]
USERS = ("flags", "bare", "retr")
FLAG_NAMES = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered",
              "S": "\\Seen", "T": "\\Deleted"}


def message(n):
    # The same in every mailbox, so that their file names match. CRLF line
    # ends: the file size is the STAT size. The top-most Received: is the
    # arrival; Date: is an hour older, so a reader that took the wrong
    # field would show.
    received = email.utils.formatdate(DATE0 + n * STEP, usegmt=True)
    date = email.utils.formatdate(DATE0 + n * STEP - 3600, usegmt=True)
    head = [f"Received: from client.example.test by localhost (flags); {received}",
            f"Received: from earlier.example.test by client.example.test; {date}",
            f"Date: {date}", "From: <sender@example.test>",
            "To: <mailbox@example.test>", f"Subject: flags test {n}",
            f"Message-ID: <{n}.flags@example.test>", ""]
    body = [f"line {i} of message {n}" for i in range(5 + n)]
    return ("\r\n".join(head + body) + "\r\n").encode()


def cmd_mail(top):
    uid, gid = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    lines, env = [], {}
    for user in USERS:
        password = secrets.token_urlsafe(12)
        home = os.path.join(top, "home", user)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(home, "Maildir", sub), mode=0o700)
        for n, (where, flags) in enumerate(LAYOUT, 1):
            data = message(n)
            name = f"{DATE0 + n}.M{n}P1.flagtest,S={len(data)}"
            if flags is not None:
                name += ":2," + flags
            path = os.path.join(home, "Maildir", where, name)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (DATE0 + n, DATE0 + n))
            os.chown(path, uid, gid)
        for root, _, _ in os.walk(home):
            os.chown(root, uid, gid)
        lines.append(f"{user}:{{PLAIN}}{password}::::{home}::\n")
        env[f"PASS_{user.upper()}"] = password
    passwd = os.path.join(top, "passwd")
    with open(passwd, "w") as f:
        f.writelines(lines)
    os.chown(passwd, 0, grp.getgrnam("dovecot").gr_gid)
    os.chmod(passwd, 0o640)
    env["COUNT"] = len(LAYOUT)
    env["OLDEST"] = DATE0 + 1 * STEP
    env["NEWEST"] = DATE0 + len(LAYOUT) * STEP
    for k, v in env.items():
        print(f"{k}={v}")


def cmd_wait_ready(secs, *ports):
    import socket
    deadline = time.monotonic() + float(secs)
    pending = list(ports)
    while pending:
        for p in list(pending):
            try:
                with socket.create_connection(("127.0.0.1", int(p)), timeout=1) as s:
                    if s.makefile("rb").readline(512).startswith((b"+OK", b"* OK")):
                        pending.remove(p)
            except OSError:
                pass
        if pending and time.monotonic() > deadline:
            sys.exit(f"no greeting on port(s) {' '.join(pending)} within {secs} s")
        if pending:
            time.sleep(0.1)


def cmd_snapshot(port, user, password, maildir, out):
    """UIDVALIDITY, UID -> flags (EXAMINE: read-only) and the file names."""
    imap = imaplib.IMAP4("127.0.0.1", int(port), timeout=15)
    try:
        imap.login(user, password)
        typ, data = imap.select("INBOX", readonly=True)  # EXAMINE
        if typ != "OK":
            sys.exit(f"EXAMINE: {data}")
        # the tagged OK's [READ-ONLY] code; imaplib keeps it with the rest
        if "READ-ONLY" not in imap.untagged_responses:
            sys.exit("EXAMINE did not open the mailbox read-only")
        validity = int(imap.untagged_responses["UIDVALIDITY"][0])
        typ, data = imap.fetch("1:*", "(UID FLAGS)")
        if typ != "OK":
            sys.exit(f"FETCH: {data}")
        msgs = {}
        for line in data:
            m = re.match(rb"\d+ \(UID (\d+) FLAGS \(([^)]*)\)\)|"
                         rb"\d+ \(FLAGS \(([^)]*)\) UID (\d+)\)", line)
            if not m:
                sys.exit(f"FETCH line not understood: {line!r}")
            uid, flags = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
            msgs[int(uid)] = sorted(flags.decode().split())
    finally:
        imap.logout()
    files = {}
    for where in ("cur", "new"):
        for name in os.listdir(os.path.join(maildir, where)):
            base, _, info = name.partition(":")
            files[base] = [where, info]
    with open(out, "w") as f:
        json.dump({"uidvalidity": validity, "messages": msgs, "files": files},
                  f, indent=1, sort_keys=True)
    print(f"{len(msgs)} messages: " + ", ".join(
        f"{u} {' '.join(fl) or '-'}" for u, fl in sorted(msgs.items(),
                                                     key=lambda x: int(x[0]))))


def cmd_kinds(snap):
    """How many messages are unseen, \\Seen, \\Flagged, ...; fails when a
    kind is missing."""
    msgs = json.load(open(snap))["messages"].values()
    kinds = {"unseen": sum("\\Seen" not in f for f in msgs)}
    for flag in ("\\Seen", "\\Flagged", "\\Answered", "\\Draft", "\\Recent"):
        kinds[flag] = sum(flag in f for f in msgs)
    print(", ".join(f"{v} {k}" for k, v in kinds.items()))
    if not all(kinds.values()):
        sys.exit(1)


def diff(a, b):
    """(changes, bookkeeping): what differs between two snapshots; the
    second holds only \\Recent dropped and new/ -> cur/ moves that keep
    the flags."""
    changes, book = [], []
    if a["uidvalidity"] != b["uidvalidity"]:
        changes.append(f"UIDVALIDITY {a['uidvalidity']} -> {b['uidvalidity']}")
    ma, mb = a["messages"], b["messages"]
    if sorted(ma) != sorted(mb):
        changes.append(f"UIDs {sorted(ma, key=int)} -> {sorted(mb, key=int)}")
    for uid in sorted(set(ma) & set(mb), key=int):
        fa, fb = set(ma[uid]), set(mb[uid])
        if fa - {"\\Recent"} != fb - {"\\Recent"}:
            changes.append(f"UID {uid} flags {sorted(fa)} -> {sorted(fb)}")
        elif fa != fb:
            book.append(f"UID {uid} " + ("lost" if "\\Recent" in fa else "got")
                        + " \\Recent")
    fa, fb = a["files"], b["files"]
    if sorted(fa) != sorted(fb):
        changes.append(f"files {sorted(set(fa) ^ set(fb))} appeared/vanished")
    for base in sorted(set(fa) & set(fb)):
        (wa, ia), (wb, ib) = fa[base], fb[base]
        if (wa, ia) == (wb, ib):
            continue
        # a file in new/ has no info yet: its flags are none, as ":2,"
        if wa == "new" and wb == "cur" and ia == "" and ib == "2,":
            book.append(f"{base}: new/ -> cur/ (no flags)")
        else:
            changes.append(f"{base}: {wa}/{ia or '-'} -> {wb}/{ib or '-'}")
    return changes, book


def cmd_compare(before, after, out):
    a, b = (json.load(open(p)) for p in (before, after))
    changes, book = diff(a, b)
    with open(out, "w") as f:
        json.dump({"changes": changes, "bookkeeping": book}, f, indent=1)
    for c in changes:
        print(f"#   change: {c}")
    recent = [c.split()[1] for c in book if c.endswith("lost \\Recent")]
    if recent:
        print(f"#   bookkeeping: \\Recent dropped, UIDs {' '.join(recent)}")
    for c in book:
        if not c.endswith("lost \\Recent"):
            print(f"#   bookkeeping: {c}")
    print(f"{len(changes)} change(s), {len(book)} bookkeeping")


def cmd_same_bookkeeping(x, y):
    """Both comparisons found the same bookkeeping (UIDs and file names are
    the same in the identical mailboxes)."""
    bx, by = (json.load(open(p))["bookkeeping"] for p in (x, y))
    if sorted(bx) != sorted(by):
        sys.exit(f"collections: {sorted(bx)}\nbare login: {sorted(by)}")


def cmd_pop3(port, user, password, action):
    p = poplib.POP3("127.0.0.1", int(port), timeout=15)
    p.user(user)
    p.pass_(password)
    if action == "retr":
        for n in (1, 6, 10):  # unseen messages in cur/
            p.retr(n)
    p.quit()


def csv_values(csvdir, monitor, prefix):
    out = []
    d = os.path.join(csvdir, "flags-host", f"pop3-{monitor}")
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if re.fullmatch(re.escape(prefix) + r"-\d{4}-\d\d-\d\d", name):
            for line in open(os.path.join(d, name)):
                if line[:1].isdigit():
                    t, v = line.strip().split(",")[:2]
                    out.append((float(t), float(v)))
    return out


def cmd_wait_values(csvdir, monitor, prefix, n, secs, pid):
    deadline = time.monotonic() + float(secs)
    while len(csv_values(csvdir, monitor, prefix)) < int(n):
        try:
            st = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            st = "Z"
        if st == "Z":
            sys.exit("collectd exited")
        if time.monotonic() > deadline:
            sys.exit(f"{len(csv_values(csvdir, monitor, prefix))} {prefix} "
                     f"value(s) after {secs} s, {n} wanted")
        time.sleep(0.2)


def cmd_ages(csvdir, monitor, oldest, newest):
    """Each age equals its value's own time minus the date written, within
    1 s plus the collection's time to STAT (response_time)."""
    times = csv_values(csvdir, monitor, "response_time")
    fails, shown = [], []
    for name, date in (("oldest_message", int(oldest)), ("newest_message", int(newest))):
        values = csv_values(csvdir, monitor, f"duration-{name}")
        if len(values) < 2:
            fails.append(f"{len(values)} {name} value(s)")
        for t, v in values:
            rt = min(times, key=lambda x: abs(x[0] - t))[1] if times else 0.0
            off = abs(v - (t - date))
            shown.append(f"{name} {v:.3f} s at {t:.3f} (expected {t - date:.3f}, "
                         f"off {off:.3f})")
            if off > 1 + rt:
                fails.append(f"{name} {v:.3f} at {t:.3f}: expected {t - date:.3f}")
    for s in shown:
        print(f"#   {s}")
    if fails:
        sys.exit("; ".join(fails))


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1].replace("-", "_")](*sys.argv[2:])
PYEOF
helper() { "$PY" "$dir/flags.py" "$@"; }
# helper_bg OUT ARGS...: the helper in the background, output to OUT, waited
# for with the wait builtin so that a signal is handled at once
helper_bg() {
  local out=$1 pid rc=0
  shift
  "$PY" "$dir/flags.py" "$@" >"$out" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait "$pid" || rc=$?
  return "$rc"
}

# --- Dovecot: POP3 and IMAP on 127.0.0.1 -----------------------------------
mkdir -p "$dir/home" "$dir/run" "$dir/state" "$dir/plugins" "$dir/snap"
chmod 755 "$dir/home" "$dir/run"
helper mail "$dir" >"$dir/mail.env"
set -a
# shellcheck disable=SC1091
. "$dir/mail.env"
set +a
read -r pop3_port imap_port < <(free_ports 2)
cat >"$dir/dovecot.conf" <<CONF
instance_name = pop3flags
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = pop3 imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
first_valid_gid = 1
# Dovecot's default, spelled out: a POP3 session may update flags (RETR
# sets \Seen at QUIT, and the login makes the messages non-\Recent)
pop3_no_flag_updates = no
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/passwd
}
service pop3-login {
  inet_listener pop3 {
    port = $pop3_port
  }
  inet_listener pop3s {
    port = 0
  }
}
service imap-login {
  inet_listener imap {
    port = $imap_port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
CONF
"$DOVECOT_BIN" -F -c "$dir/dovecot.conf" </dev/null >"$dir/dovecot.stdout.log" 2>&1 &
dovecot_pid=$!
pids+=("$dovecot_pid")
helper wait-ready "$START_WAIT" "$pop3_port" "$imap_port" ||
  fail "Dovecot did not greet on POP3 $pop3_port and IMAP $imap_port"
ok "private Dovecot $("$DOVECOT_BIN" --version | cut -d' ' -f1): POP3 on $pop3_port, IMAP on $imap_port"

maildir() { echo "$dir/home/$1/Maildir"; }
snapshot() { # USER NAME: IMAP EXAMINE + file names into snap/USER-NAME.json
  local pass_var="PASS_${1^^}"
  helper snapshot "$imap_port" "$1" "${!pass_var}" "$(maildir "$1")" "$dir/snap/$1-$2.json"
}

# --- before -----------------------------------------------------------------
before=$(snapshot flags before) || fail "IMAP snapshot before: $before"
echo "# before: $before"
kinds=$(helper kinds "$dir/snap/flags-before.json") ||
  fail "the mailbox lacks a kind of message: $kinds"
ok "before: $COUNT messages over IMAP EXAMINE: $kinds; $(find "$(maildir flags)/new" -type f | wc -l) file(s) in new/"
snapshot bare before >/dev/null || fail "IMAP snapshot of the bare-login mailbox"
snapshot retr before >/dev/null || fail "IMAP snapshot of the RETR mailbox"
# the snapshots themselves (EXAMINE) must change nothing
snapshot flags examine >/dev/null || fail "second IMAP snapshot"
out=$(helper compare "$dir/snap/flags-before.json" "$dir/snap/flags-examine.json" "$dir/snap/examine.diff") ||
  fail "compare: $out"
[[ $(tail -n 1 <<<"$out") == "0 change(s), 0 bookkeeping" ]] ||
  fail "a second EXAMINE saw a different mailbox: $out"
ok "IMAP EXAMINE twice: the same UIDs, flags and file names (the check itself changes nothing)"

# --- two collections by the real collectd ------------------------------------
cp "$plugin" "$dir/plugins/pop3.so" # collectd refuses a symlinked plugin
cat >"$dir/collectd.conf" <<CONF
Hostname "flags-host"
FQDNLookup false
BaseDir "$dir"
PIDFile "$dir/collectd.pid"
Interval 30
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$dir/csv"
</Plugin>
PluginDir "$dir/plugins"
LoadPlugin pop3
<Plugin pop3>
  <Monitor "flags">
    Spread false
    Host "127.0.0.1"
    Port $pop3_port
    User "flags"
    Password "$PASS_FLAGS"
    CollectMessageAge true
    MessageAgeScan $SCAN
  </Monitor>
</Plugin>
CONF
t0=$(date +%s.%N)
collectd -f -C "$dir/collectd.conf" >"$dir/collectd.stdout.log" 2>&1 &
collectd_pid=$!
pids+=("$collectd_pid")
helper_bg "$dir/wait.out" wait-values "$dir/csv" flags duration-newest_message 2 \
  "$COLLECT_WAIT" "$collectd_pid" ||
  fail "two collections with the message age: $(cat "$dir/wait.out")"
took=$(elapsed "$t0")
rc=0
stop_pid "$collectd_pid" || rc=$?
[[ $rc -eq 0 ]] || fail "collectd exited with status $rc after SIGTERM"
ok "collectd made two collections with CollectMessageAge true, MessageAgeScan $SCAN in $took s and exited 0"

counts=$(cut -d, -f2 "$dir"/csv/flags-host/pop3-flags/email_count-* | grep -v '^value' | sort -u)
[[ $counts == "$COUNT.000000" ]] || fail "email_count values: $counts, expected $COUNT"
out=$(helper ages "$dir/csv" flags "$OLDEST" "$NEWEST" 2>&1) || fail "message age: $out"
echo "$out"
ok "oldest_message and newest_message in both collections equal value time - $OLDEST and - $NEWEST (the dates written) within 1 s + the time to STAT"
if grep -q 'message age' "$dir/collectd.log"; then
  fail "collectd log: $(grep 'message age' "$dir/collectd.log" | head -n 2)"
fi
ok "the collectd log has no message age WARNING"

# Dovecot logs each POP3 logout as top=N/bytes, retr=N/bytes, del=N/total:
# every header read once (the scans of 16 overlap), nothing retrieved or
# deleted
sessions=$(grep -c 'pop3(flags)<.*Disconnected: Logged out' "$dir/dovecot.log" || true)
bad=$(grep 'pop3(flags)<.*Disconnected' "$dir/dovecot.log" |
  grep -Ev "top=$COUNT/[0-9]+, retr=0/0, del=0/$COUNT," || true)
[[ $sessions -ge 2 && -z $bad ]] ||
  fail "Dovecot's POP3 logouts for the monitored mailbox: $sessions, unexpected: $bad"
ok "Dovecot logged $sessions POP3 sessions of the plugin, each top=$COUNT (every header once), retr=0/0, del=0/$COUNT"

# --- after --------------------------------------------------------------------
after=$(snapshot flags after) || fail "IMAP snapshot after: $after"
echo "# after:  $after"
out=$(helper compare "$dir/snap/flags-before.json" "$dir/snap/flags-after.json" "$dir/snap/collect.diff") ||
  fail "compare: $out"
echo "$out"
[[ $(tail -n 1 <<<"$out") == "0 change(s), "* ]] ||
  fail "the collections changed the mailbox: $out"
ok "after the collections: the same UIDVALIDITY, UIDs and flags, the same file names and flag suffixes ($(tail -n 1 <<<"$out"))"

# the bookkeeping: a session that only logs in and quits does the same
helper pop3 "$pop3_port" bare "$PASS_BARE" bare || fail "poplib USER/PASS/QUIT"
snapshot bare after >/dev/null || fail "IMAP snapshot of the bare-login mailbox"
out=$(helper compare "$dir/snap/bare-before.json" "$dir/snap/bare-after.json" "$dir/snap/bare.diff") ||
  fail "compare: $out"
[[ $(tail -n 1 <<<"$out") == "0 change(s), "* ]] || fail "a bare login changed flags: $out"
out=$(helper same-bookkeeping "$dir/snap/collect.diff" "$dir/snap/bare.diff" 2>&1) ||
  fail "the collections' bookkeeping differs from a bare login's: $out"
ok "what moved (\\Recent dropped, new/ -> cur/ with no flags) is exactly what USER, PASS, QUIT alone does on an identical mailbox"

# --- the check can fail: RETR makes Dovecot set \Seen -------------------------
helper pop3 "$pop3_port" retr "$PASS_RETR" retr || fail "poplib RETR"
snapshot retr after >/dev/null || fail "IMAP snapshot of the RETR mailbox"
out=$(helper compare "$dir/snap/retr-before.json" "$dir/snap/retr-after.json" "$dir/snap/retr.diff") ||
  fail "compare: $out"
echo "$out"
if ! grep -q 'change: UID .*\\Seen' <<<"$out" || ! grep -q 'change: .*cur/2, -> cur/2,S' <<<"$out"; then
  fail "RETR + QUIT on an identical mailbox was not seen as a change: $out"
fi
ok "control: RETR of 3 unseen messages + QUIT (poplib) is caught: $(tail -n 1 <<<"$out")"

echo "# $passed passed in $(elapsed "$t_start") s"
