#!/usr/bin/python3
"""The server matrix's helper for tests/e2e/server-matrix.sh.

  server_matrix.py prepare WORK PLUGIN_DIR SERVER...
      reads WORK/SERVER/env (the contract of tests/servers/*.sh), takes the
      reference STAT of every user in every mode with poplib, writes
      WORK/collectd.conf (one <Monitor> per row) and WORK/rows.json
  server_matrix.py wait WORK SECONDS PID
      until every monitor has finished two collections (bool-available has
      two values, and the message age rows two newest_message values),
      SECONDS have passed or collectd (PID) has exited
  server_matrix.py report WORK
      one ok/FAIL line per row and per reference check, a summary, and the
      table (also WORK/servers-table.md); exit 1 when anything failed

WORK/status holds one line per requested server: "NAME up", "NAME missing"
or "NAME failed"; only the servers that are up have an env.

Message age rows (CollectMessageAge true) expect the dates poplib reads
from the same headers (TOP n 0: the top-most Received:, else Date:); where
the server keeps the test's own Received: on top, those dates must also be
the ones the test wrote. POP3_MATRIX_BEGAN (Unix time) is when the servers
began, before the servers started: a delivery stamp must not be older.
"""
import base64
import datetime
import email.parser
import email.policy
import email.utils
import glob
import json
import os
import poplib
import re
import socket
import ssl
import subprocess
import sys
import time

INTERVAL = 30          # the plugin's minimum
TIMEOUT = 5
HOSTNAME = "matrix"
USERS = ("EMPTY", "FEW", "MANY")
MODES = ("plain", "ssl", "starttls")
MODE_NAMES = {"plain": "plain", "ssl": "SSL", "starttls": "STARTTLS"}
AUTH_ORDER = ("user", "apop", "plain", "login")
FAMILIES = {"v4": "127.0.0.1", "v6": "::1"}
# Message age rows added to every mode: (user, MessageAgeScan). Between them
# the modes cover scans of 1, 2 and 16, the empty mailbox and one where the
# first and last scans overlap (few: 3 messages).
AGE_ROWS = {"plain": [("MANY", 1), ("FEW", 2), ("EMPTY", 1), ("MANY", 16)],
            "ssl": [("MANY", 2), ("FEW", 1), ("EMPTY", 16)],
            "starttls": [("MANY", 16), ("FEW", 16), ("EMPTY", 2)]}
AGE_SCAN_MAX = 16
# tests/servers/srvtool.py dates message n (Received: and Date:) at
# SRVTOOL_DATE0 + n * SRVTOOL_STEP; tests/harness/dovecot.sh (behind
# tests/servers/dovecot.sh) puts its own arrivals 600 s apart, the last
# POP3_<USER>_LAST_DATE in its env.
SRVTOOL_DATE0, SRVTOOL_STEP = 1704067200, 61
HARNESS_STEP = 600
# Servers whose delivery path puts its own Received: on top of the test's
# (Cyrus is filled over LMTP): the age is then the delivery time.
DELIVERY_STAMPED = {"cyrus": "Cyrus's LMTP delivery"}


def read_env(path):
    """The SERVER_* keys of an env file, read the way the contract says:
    set -a; . FILE; set +a (values may be shell-quoted)."""
    script = ('set -a; . "$1"; set +a; '
              'for k in $(compgen -v SERVER); do printf "%s=%s\\0" "$k" "${!k}"; done')
    out = subprocess.run(["bash", "-c", script, "_", path], check=True,
                         capture_output=True, timeout=10).stdout
    env = {}
    for item in out.split(b"\0"):
        if b"=" in item:
            k, v = item.decode().split("=", 1)
            env[k] = v
    return env


def read_status(work):
    status = []
    with open(os.path.join(work, "status")) as f:
        for line in f:
            name, state = line.split()
            status.append((name, state))
    return status


# --- reference values: poplib -------------------------------------------

def login(p, auths, user, password):
    """Log in with the first method the server offers, in AUTH_ORDER."""
    if "user" in auths:
        p.user(user)
        p.pass_(password)
    elif "apop" in auths:
        p.apop(user, password)
    elif "plain" in auths:
        blob = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        p._shortcmd("AUTH PLAIN " + blob)
    elif "login" in auths:
        # each step answers "+ challenge" (poplib takes any "+" as success)
        p._shortcmd("AUTH LOGIN")
        p._shortcmd(base64.b64encode(user.encode()).decode())
        if not p._shortcmd(base64.b64encode(password.encode()).decode()).startswith(b"+OK"):
            raise poplib.error_proto("AUTH LOGIN: no +OK")
    else:
        raise ValueError("no login method in SERVER_AUTHS")


def reference_stat(env, mode, host, user, password):
    auths = env.get("SERVER_AUTHS", "").split()
    ctx = ssl.create_default_context(cafile=env["SERVER_CA"]) if mode != "plain" else None
    if mode == "ssl":
        p = poplib.POP3_SSL(host, int(env["SERVER_TLS_PORT"]), timeout=15,
                            context=ctx)
    else:
        p = poplib.POP3(host, int(env["SERVER_PLAIN_PORT"]), timeout=15)
        if mode == "starttls":
            p.stls(context=ctx)
    try:
        login(p, auths, user, password)
        return p.stat()
    finally:
        try:
            p.quit()
        except (OSError, poplib.error_proto):
            p.close()


def server_modes(env):
    modes = ["plain"]
    if env.get("SERVER_TLS_PORT"):
        modes.append("ssl")
    if env.get("SERVER_STLS") == "yes":
        modes.append("starttls")
    return modes


def server_auths(env):
    offered = env.get("SERVER_AUTHS", "").split()
    return [a for a in AUTH_ORDER if a in offered] + ["auto"]


def server_families(env):
    return ["v4", "v6"] if env.get("SERVER_IPV6") == "yes" else ["v4"]


def users_of(env):
    """(KEY, login, password, delivered) for every user the env names."""
    listed = env.get("SERVER_USERS", "empty few many").upper().split()
    return [(u, env[f"SERVER_LOGIN_{u}"], env[f"SERVER_PASS_{u}"],
             int(env[f"SERVER_DELIVERED_{u}"])) for u in USERS if u in listed]


def try_stat(env, mode, user, password):
    """(count, size), or the reason poplib failed."""
    try:
        return reference_stat(env, mode, "127.0.0.1", user, password)
    except (OSError, poplib.error_proto, ssl.SSLError, ValueError) as e:
        return f"poplib: {type(e).__name__}: {e}"


def references(name, env, users):
    """One check per mode and user: poplib's STAT, which must count the
    messages delivered and agree across the modes."""
    # A first session of every user before the references: a server may
    # rewrite a mailbox at its first QUIT (GNU Mailutils adds X-UID and
    # X-IMAPbase headers to the mbox), after which STAT stays put.
    first = {u: try_stat(env, "plain", u, pw) for _, u, pw, _ in users}
    checks = []
    for _, user, password, delivered in users:
        got = {m: try_stat(env, m, user, password) for m in server_modes(env)}
        values = {v for v in got.values() if isinstance(v, tuple)}
        for mode, v in got.items():
            c = {"server": name, "mode": mode, "user": user,
                 "delivered": delivered, "ok": True}
            if isinstance(v, str):
                c.update(ok=False, why=v)
            else:
                c.update(count=v[0], size=v[1])
                if v[0] != delivered:
                    c.update(ok=False, why=f"poplib counts {v[0]} messages, "
                                            f"{delivered} were delivered")
                elif len(values) > 1:
                    c.update(ok=False, why="STAT differs between modes: " +
                             ", ".join(f"{m} {x[0]}/{x[1]}" for m, x in got.items()
                                       if isinstance(x, tuple)))
            checks.append(c)
        shown = ", ".join(f"{x[0]}/{x[1]}" for x in sorted(values)) or "-"
        note = ""
        if isinstance(first[user], tuple) and values and first[user] not in values:
            note = (f"; the first session saw {first[user][0]}/{first[user][1]}"
                    " (the server rewrote the mailbox)")
        print(f"# reference {name} {user}: {shown} in "
              f"{', '.join(got)} (delivered {delivered}){note}", flush=True)
    return checks


# --- reference message dates: poplib's TOP n 0 ------------------------------

def age_messages(count, scan):
    """The messages the plugin reads: the first SCAN and the last SCAN."""
    return sorted(set(range(1, min(scan, count) + 1)) |
                  set(range(max(1, count - scan + 1), count + 1)))


def field_date(value):
    """Unix time of an RFC 5322 date (a naive one is taken as UTC)."""
    d = email.utils.parsedate_to_datetime(" ".join(value.split()))
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp())


def header_date(lines):
    """(date, source, [dates of every Received:]) of one TOP n 0 answer:
    the date after the last ';' of the top-most Received:, else Date:."""
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        b"\r\n".join(lines) + b"\r\n\r\n")
    received = []
    for value in msg.get_all("Received") or []:
        try:
            received.append(field_date(value.rsplit(";", 1)[1]))
        except (IndexError, TypeError, ValueError):
            received.append(None)
    if received and received[0] is not None:
        return received[0], "Received", received
    if msg["Date"]:
        return field_date(msg["Date"]), "Date", received
    return None, None, received


def reference_dates(env, user, password, count):
    """{n: (date, source, received dates)} for the messages any scan up to
    AGE_SCAN_MAX reads, and whether CAPA lists TOP (None: no CAPA)."""
    p = poplib.POP3("127.0.0.1", int(env["SERVER_PLAIN_PORT"]), timeout=15)
    try:
        try:
            top_listed = "TOP" in p.capa()
        except poplib.error_proto:
            top_listed = None
        login(p, env.get("SERVER_AUTHS", "").split(), user, password)
        if p.stat()[0] != count:
            raise poplib.error_proto("STAT count changed")
        dates = {}
        for n in age_messages(count, AGE_SCAN_MAX):
            dates[n] = header_date(p.top(n, 0)[1])
        return dates, top_listed
    finally:
        try:
            p.quit()
        except (OSError, poplib.error_proto):
            p.close()


def written_dates(work, name, key, count):
    """{n: the Received: date the test wrote} of user KEY's messages."""
    if name == "dovecot":
        h = {}
        with open(os.path.join(work, name, "dovecot", "env")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    h[k] = v
        last = int(h[f"POP3_{key}_LAST_DATE"])
        if int(h[f"POP3_{key}_FIRST_DATE"]) != last - (count - 1) * HARNESS_STEP:
            raise ValueError("tests/harness/dovecot.sh no longer spaces its "
                             f"arrivals {HARNESS_STEP} s apart")
        return {n: last - (count - n) * HARNESS_STEP for n in range(1, count + 1)}
    return {n: SRVTOOL_DATE0 + n * SRVTOOL_STEP for n in range(1, count + 1)}


def stamp(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def age_references(work, name, env, users):
    """Per user with mail: the dates poplib reads, checked against the dates
    the test wrote (or, behind a delivery that stamps its own Received:, the
    test's one just below it and a delivery time during this run)."""
    checks, found, capa_top = [], {}, None
    began = float(os.environ.get("POP3_MATRIX_BEGAN") or time.time() - 600)
    for key, user, password, delivered in users:
        if delivered == 0:
            continue
        c = {"server": name, "mode": "plain", "user": user, "kind": "age",
             "delivered": delivered, "ok": True}
        checks.append(c)
        try:
            dates, capa_top = reference_dates(env, user, password, delivered)
            wrote = written_dates(work, name, key, delivered)
        except (OSError, poplib.error_proto, ssl.SSLError, ValueError,
                KeyError) as e:
            c.update(ok=False, why=f"poplib TOP: {type(e).__name__}: {e}")
            continue
        found[key] = {n: d[0] for n, d in dates.items()}
        now = time.time()
        bad = []
        for n, (date, source, received) in dates.items():
            if name in DELIVERY_STAMPED:
                if source != "Received" or not began - 2 <= date <= now + 1:
                    bad.append(f"message {n}: top-most date {date} ({source}) "
                               f"is not a delivery during this run")
                elif received[1:2] != [wrote[n]]:
                    bad.append(f"message {n}: the test's Received: "
                               f"{wrote[n]} is not just below: {received}")
            elif (date, source) != (wrote[n], "Received"):
                bad.append(f"message {n}: {source} {date}, the test wrote "
                           f"{wrote[n]}")
        ns = sorted(dates)
        if bad:
            c.update(ok=False, why=f"{len(bad)} message(s) off: " +
                     "; ".join(bad[:3]))
        elif name in DELIVERY_STAMPED:
            c["text"] = (f"{len(ns)} headers (messages {ns[0]}-{ns[-1]} of "
                         f"{delivered}): top-most Received: is "
                         f"{DELIVERY_STAMPED[name]} ({stamp(dates[ns[0]][0])} "
                         f"to {stamp(dates[ns[-1]][0])} UTC), the test's own "
                         "Received: just below it")
        else:
            c["text"] = (f"{len(ns)} headers (messages {ns[0]}-{ns[-1]} of "
                         f"{delivered}): top-most Received: is the test's, "
                         f"{stamp(wrote[ns[0]])} to {stamp(wrote[ns[-1]])} UTC")
        print(f"# age reference {name} {user}: " + c.get("text", c.get("why", "")),
              flush=True)
    return checks, found, capa_top


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prepare(work, plugin_dir, names):
    servers, checks, rows, top_listed = {}, [], [], {}
    for name in names:
        env = read_env(os.path.join(work, name, "env"))
        servers[name] = env
        users = users_of(env)
        checks += references(name, env, users)
        refs = {(c["mode"], c["user"]): c for c in checks if c["server"] == name}
        per_server = []
        for mi, mode in enumerate(server_modes(env)):
            combos = [(a, f) for a in server_auths(env) for f in server_families(env)]
            # every user appears in every mode, even when a mode has fewer
            # combinations than users
            while len(combos) < len(users):
                combos.append(combos[len(combos) % len(combos)])
            for i, (auth, fam) in enumerate(combos):
                key, user, password, _ = users[(i + mi) % len(users)]
                ref = refs[(mode, user)]
                mon = f"{name}-{mode}-{auth}-{fam}-{key.lower()}"
                n = 2
                while any(r["monitor"] == mon for r in per_server):
                    mon = f"{name}-{mode}-{auth}-{fam}-{key.lower()}-{n}"
                    n += 1
                per_server.append({
                    "monitor": mon, "server": name, "mode": mode, "auth": auth,
                    "family": fam, "user": user, "key": key,
                    "host": FAMILIES[fam],
                    "port": int(env["SERVER_TLS_PORT"] if mode == "ssl"
                                else env["SERVER_PLAIN_PORT"]),
                    "count": ref.get("count"), "size": ref.get("size"),
                    "age_scan": 0})
        # the message age rows: more monitors, the mode rows stay as they are
        age_checks, dates, capa_top = age_references(work, name, env, users)
        by_key = {u[0]: u for u in users}
        for mi, mode in enumerate(server_modes(env)):
            combos = [(a, f) for a in server_auths(env) for f in server_families(env)]
            for i, (key, scan) in enumerate(AGE_ROWS[mode]):
                if key not in by_key:
                    continue
                auth, fam = combos[(i + 2 * mi + 1) % len(combos)]
                _, user, _, delivered = by_key[key]
                ref = refs[(mode, user)]
                row = {
                    "monitor": f"{name}-{mode}-{auth}-{fam}-{key.lower()}-age{scan}",
                    "server": name, "mode": mode, "auth": auth, "family": fam,
                    "user": user, "key": key, "host": FAMILIES[fam],
                    "port": int(env["SERVER_TLS_PORT"] if mode == "ssl"
                                else env["SERVER_PLAIN_PORT"]),
                    "count": ref.get("count"), "size": ref.get("size"),
                    "age_scan": scan, "age_messages": [],
                    "age_oldest": None, "age_newest": None}
                if delivered and key in dates:
                    read = age_messages(delivered, scan)
                    got = [dates[key][n] for n in read]
                    row.update(age_messages=read, age_oldest=min(got),
                               age_newest=max(got))
                per_server.append(row)
        checks += age_checks
        top_listed[name] = capa_top
        rows.append(per_server)

    # interleave the servers: each server's connects are spread over the
    # whole start-up window instead of arriving together
    order = []
    for i in range(max((len(r) for r in rows), default=0)):
        for r in rows:
            if i < len(r):
                order.append(r[i])

    def block(r, secret):
        env = servers[r["server"]]
        lines = [f'  <Monitor "{r["monitor"]}">',
                 '    Spread false',
                 f'    Host {quote(r["host"])}',
                 f'    Port {r["port"]}',
                 f'    User {quote(r["user"])}',
                 f'    Password {quote(secret)}',
                 f'    Auth "{r["auth"]}"',
                 f'    Interval {INTERVAL}',
                 f'    Timeout {TIMEOUT}']
        if r["mode"] == "ssl":
            lines.append("    SSL true")
        if r["mode"] == "starttls":
            lines.append("    StartTLS true")
        if r["mode"] != "plain":
            lines.append(f'    CACert {quote(env["SERVER_CA"])}')
        if r["age_scan"]:
            lines += ["    CollectMessageAge true",
                      f'    MessageAgeScan {r["age_scan"]}']
        lines.append("  </Monitor>")
        return "\n".join(lines)

    def conf(secrets):
        head = f"""Hostname "{HOSTNAME}"
FQDNLookup false
BaseDir "{work}"
PIDFile "{work}/collectd.pid"
Interval {INTERVAL}
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "{work}/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "{work}/csv"
</Plugin>
PluginDir "{plugin_dir}"
LoadPlugin pop3
<Plugin pop3>
"""
        body = "\n".join(block(r, secrets(r)) for r in order)
        return head + body + "\n</Plugin>\n"

    def password(r):
        return servers[r["server"]][f"SERVER_PASS_{r['key']}"]

    fd = os.open(os.path.join(work, "collectd.conf"),
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(conf(password))
    # the same without the passwords, kept with the logs
    with open(os.path.join(work, "collectd.conf.txt"), "w") as f:
        f.write(conf(lambda r: "***"))
    info = {name: {k: env.get(k, "") for k in (
        "SERVER_VERSION", "SERVER_TLS_PORT", "SERVER_STLS", "SERVER_IPV6",
        "SERVER_AUTHS")} for name, env in servers.items()}
    for name in info:
        info[name]["top_listed"] = top_listed.get(name)
    with open(os.path.join(work, "rows.json"), "w") as f:
        json.dump({"rows": order, "checks": checks, "servers": info}, f,
                  indent=1)
    print(f"# {len(order)} monitors for {len(servers)} server(s)", flush=True)


# --- collectd's output ----------------------------------------------------

def csv_values(work, monitor, prefix):
    """[(time, value)] of every CSV file of MONITOR whose name starts PREFIX-."""
    out = []
    pattern = os.path.join(work, "csv", HOSTNAME, f"pop3-{monitor}",
                           f"{prefix}-[0-9]*")
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            for line in f:
                if line[:1].isdigit():
                    t, v = line.strip().split(",")[:2]
                    out.append((float(t), float(v)))
    return out


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait(work, seconds, pid):
    rows = json.load(open(os.path.join(work, "rows.json")))["rows"]
    deadline = time.monotonic() + seconds
    while True:
        if not running(pid):
            print("# wait: collectd is not running", flush=True)
            return 0
        # the age values are the last a collection dispatches
        pending = [r["monitor"] for r in rows
                   if len(csv_values(work, r["monitor"], "bool-available")) < 2
                   or (r.get("age_messages") and len(csv_values(
                       work, r["monitor"], "duration-newest_message")) < 2)]
        if not pending:
            return 0
        if time.monotonic() > deadline:
            print(f"# wait: {len(pending)} monitor(s) without two collections "
                  f"after {seconds} s", flush=True)
            return 0
        time.sleep(0.5)


def log_lines(work):
    try:
        with open(os.path.join(work, "collectd.log"), errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def check_age(work, r, counts, warnings, why):
    """The message age of row R against the dates poplib read: appends the
    failures to WHY, returns a note for the ok line."""
    mon = r["monitor"]
    oldest = csv_values(work, mon, "duration-oldest_message")
    newest = csv_values(work, mon, "duration-newest_message")
    age_lines = [l for l in warnings if "message age" in l]
    if not r["age_scan"]:
        if oldest or newest:
            why.append("age values dispatched, CollectMessageAge is off")
        return ""
    if age_lines:
        why.append(f"{len(age_lines)} message age WARNING line(s): "
                   + age_lines[0].split("message age", 1)[1].strip())
    if r["count"] == 0:
        if oldest or newest:
            why.append(f"{len(oldest)}+{len(newest)} age value(s) for an "
                       "empty mailbox")
        return "no age value: empty mailbox"
    if r["age_oldest"] is None:
        why.append("no reference dates (poplib TOP failed)")
        return ""
    if len(oldest) != len(counts) or len(newest) != len(counts) or len(counts) < 2:
        why.append(f"{len(oldest)} oldest and {len(newest)} newest value(s) "
                   f"in {len(counts)} collection(s)")
    times = csv_values(work, mon, "response_time")
    worst = 0.0
    for name, values, date in (("oldest", oldest, r["age_oldest"]),
                               ("newest", newest, r["age_newest"])):
        for t, v in values:
            # the collection's own time to STAT, from the value nearest in time
            rt = min(times, key=lambda x: abs(x[0] - t))[1] if times else 0.0
            off = abs(v - (t - date))
            worst = max(worst, off)
            if off > 1 + rt:
                why.append(f"{name} {v:.3f} s at {t:.3f}: expected "
                           f"{t - date:.3f} (date {date}), off by {off:.3f} s")
    shown = ",".join(map(str, r["age_messages"][:4])) + \
        (",..." if len(r["age_messages"]) > 4 else "")
    return (f"age of messages {shown}: oldest " +
            ", ".join(f"{v:.3f}" for _, v in oldest) + " s, newest " +
            ", ".join(f"{v:.3f}" for _, v in newest) +
            f" s; at most {worst:.3f} s off")


def report(work):
    status = read_status(work)
    try:
        data = json.load(open(os.path.join(work, "rows.json")))
    except OSError:
        data = {"rows": [], "checks": [], "servers": {}}
    rows, checks, info = data["rows"], data["checks"], data["servers"]
    log = log_lines(work)
    label = re.compile(r'monitor "([^"]+)"')
    errors, warnings, logins, lockstep = {}, {}, {}, set()
    for line in log:
        m = label.search(line)
        if not m:
            continue
        if "[error]" in line:
            errors.setdefault(m.group(1), []).append(line)
        elif "[warning]" in line:
            warnings.setdefault(m.group(1), []).append(line)
        if "STAT now waits for the login's answer" in line:
            lockstep.add(m.group(1))
        lm = re.search(r"first collection from .*, login (\S+),", line)
        if lm:
            logins[m.group(1)] = lm.group(1)
    unlabelled = [l for l in log if "[error]" in l and not label.search(l)]

    n = failed = 0
    passed, age_passed = {}, {}

    def emit(ok, text):
        nonlocal n, failed
        n += 1
        failed += not ok
        print(f"{'ok' if ok else 'FAIL'} {n} - {text}", flush=True)

    for name, state in status:
        if state == "missing":
            emit(False, f"{name}: tests/servers/{name}.sh is missing: "
                        "no row of this server ran")
        elif state == "failed":
            emit(False, f"{name}: tests/servers/{name}.sh start failed "
                        f"(start-{name}.log): no row of this server ran")
    try:
        d = dict(kv.split("=", 1) for kv in
                 open(os.path.join(work, "daemon")).read().split())
        if d["stopped"] in ("early", "killed"):
            emit(False, "collectd " + ("exited before it was stopped"
                                       if d["stopped"] == "early" else
                                       "did not exit after SIGTERM: killed")
                 + f" (exit status {d['exit']}; collectd.stdout)")
        else:
            ok = float(d["stopped"]) <= float(d["limit"]) and d["exit"] == "0"
            emit(ok, f"collectd -f exited {d['stopped']} s after SIGTERM "
                     f"with status {d['exit']}")
    except OSError:
        pass  # collectd did not run: no server was up
    # the mailboxes must not have changed while collectd ran
    envs = {}
    for c in checks:
        if c["mode"] != "plain" or not c["ok"] or c.get("kind") == "age":
            continue
        name = c["server"]
        if name not in envs:
            envs[name] = read_env(os.path.join(work, name, "env"))
        pw = {u: p for _, u, p, _ in users_of(envs[name])}[c["user"]]
        after = try_stat(envs[name], "plain", c["user"], pw)
        if after != (c["count"], c["size"]):
            c.update(ok=False, why="the mailbox changed while collectd ran: "
                     f"{c['count']}/{c['size']} before, after: {after}")
    for c in checks:
        if not c["ok"]:
            emit(False, f"{c['server']} {c['mode']} "
                        f"{'age ' if c.get('kind') == 'age' else ''}"
                        f"reference {c['user']}: {c['why']}")
        elif c.get("kind") == "age":
            emit(True, f"{c['server']} age reference {c['user']}: {c['text']}")
    for r in rows:
        mon = r["monitor"]
        what = f"{r['server']} {r['mode']} {r['auth']} {r['family']} {r['user']}"
        if r["age_scan"]:
            what += f" age scan {r['age_scan']}"
        counts = csv_values(work, mon, "email_count")
        sizes = csv_values(work, mon, "bytes-mailbox_size")
        avail = csv_values(work, mon, "bool-available")
        why = []
        if r["count"] is None:
            why.append("no reference value (poplib failed in this mode)")
        else:
            got = [(int(c[1]), int(s[1])) for c, s in zip(counts, sizes)]
            if len(got) < 2:
                why.append(f"{len(got)} collection(s) with values, 2 needed")
            bad = sorted({g for g in got if g != (r["count"], r["size"])})
            if bad:
                why.append("got " + ", ".join(f"{c}/{s}" for c, s in bad) +
                           f", poplib says {r['count']}/{r['size']}")
            if any(v != 1 for _, v in avail):
                why.append(f"{sum(v != 1 for _, v in avail)} failed "
                           f"collection(s) of {len(avail)}")
        age_note = check_age(work, r, counts, warnings.get(mon, []), why)
        if mon in errors:
            why.append(f"{len(errors[mon])} ERROR line(s)")
        used = logins.get(mon)
        if used and (used == "apop" if r["auth"] == "auto" else used != r["auth"]):
            why.append(f"Auth {r['auth']} logged in with {used}")
        if why:
            emit(False, f"{what}: " + "; ".join(why))
            for line in errors.get(mon, [])[:3]:
                print(f"#   log: {line}")
            for line in warnings.get(mon, [])[:3]:
                print(f"#   log: {line}")
        else:
            notes = []
            if r["auth"] == "auto" and mon in logins:
                notes.append(f"login {logins[mon]}")
            if mon in lockstep:
                notes.append("STAT after the login's answer")
            if age_note:
                notes.append(age_note)
            extra = f" ({'; '.join(notes)})" if notes else ""
            emit(True, f"{what}: {r['count']}/{r['size']} in {len(counts)} "
                       f"collections{extra}")
            passed[r["server"]] = passed.get(r["server"], 0) + 1
            if r["age_scan"]:
                age_passed[r["server"]] = age_passed.get(r["server"], 0) + 1
    for line in unlabelled:
        emit(False, f"collectd log: {line}")

    # the table
    total, age_total = {}, {}
    for r in rows:
        total[r["server"]] = total.get(r["server"], 0) + 1
        if r["age_scan"]:
            age_total[r["server"]] = age_total.get(r["server"], 0) + 1
    table = ["| server | version | modes | auth methods | IPv6 | TOP | rows passed "
             "(message age) |",
             "|---|---|---|---|---|---|---|"]
    for name, state in status:
        if state != "up" or name not in info:
            table.append(f"| {name} | — | — | — | — | — | {state}: not run |")
            continue
        e = info[name]
        modes = ["plain"] + (["SSL"] if e["SERVER_TLS_PORT"] else []) + \
            (["STARTTLS"] if e["SERVER_STLS"] == "yes" else [])
        auths = [a for a in AUTH_ORDER if a in e["SERVER_AUTHS"].split()]
        refs_ok = all(c["ok"] for c in checks if c["server"] == name)
        cell = (f"{passed.get(name, 0)}/{total.get(name, 0)} "
                f"({age_passed.get(name, 0)}/{age_total.get(name, 0)})")
        if not refs_ok:
            cell += " (reference check failed)"
        top = {True: "in CAPA", False: "not in CAPA",
               None: "no CAPA"}[e.get("top_listed")]
        if e.get("top_listed") is None and all(
                c["ok"] for c in checks
                if c["server"] == name and c.get("kind") == "age"):
            top += ", works"
        table.append(f"| {name} | {e['SERVER_VERSION']} | {', '.join(modes)} | "
                     f"{', '.join(auths + ['auto'])} | "
                     f"{'yes' if e['SERVER_IPV6'] == 'yes' else 'no'} | {top} | "
                     f"{cell} |")
    text = "\n".join(table) + "\n"
    with open(os.path.join(work, "servers-table.md"), "w") as f:
        f.write(text)
    print()
    print(text)
    print(f"# server matrix: {n - failed} of {n} passed, {failed} failed")
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "prepare":
        return prepare(argv[2], argv[3], argv[4:]) or 0
    if len(argv) == 5 and argv[1] == "wait":
        return wait(argv[2], float(argv[3]), int(argv[4]))
    if len(argv) == 3 and argv[1] == "report":
        return report(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    socket.setdefaulttimeout(20)
    sys.exit(main(sys.argv))
