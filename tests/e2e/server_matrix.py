#!/usr/bin/python3
"""The server matrix's helper for tests/e2e/server-matrix.sh.

  server_matrix.py prepare WORK PLUGIN_DIR SERVER...
      reads WORK/SERVER/env (the contract of tests/servers/*.sh), takes the
      reference STAT of every user in every mode with poplib, writes
      WORK/collectd.conf (one <Monitor> per row) and WORK/rows.json
  server_matrix.py wait WORK SECONDS PID
      until every monitor has finished two collections (bool-available has
      two values), SECONDS have passed or collectd (PID) has exited
  server_matrix.py report WORK
      one ok/FAIL line per row and per reference check, a summary, and the
      table (also WORK/servers-table.md); exit 1 when anything failed

WORK/status holds one line per requested server: "NAME up", "NAME missing"
or "NAME failed"; only the servers that are up have an env.
"""
import base64
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


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prepare(work, plugin_dir, names):
    servers, checks, rows = {}, [], []
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
                    "count": ref.get("count"), "size": ref.get("size")})
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
        pending = [r["monitor"] for r in rows
                   if len(csv_values(work, r["monitor"], "bool-available")) < 2]
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
    passed = {}

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
        if c["mode"] != "plain" or not c["ok"]:
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
            emit(False, f"{c['server']} {c['mode']} reference {c['user']}: "
                        f"{c['why']}")
    for r in rows:
        mon = r["monitor"]
        what = f"{r['server']} {r['mode']} {r['auth']} {r['family']} {r['user']}"
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
            extra = f" ({'; '.join(notes)})" if notes else ""
            emit(True, f"{what}: {r['count']}/{r['size']} in {len(counts)} "
                       f"collections{extra}")
            passed[r["server"]] = passed.get(r["server"], 0) + 1
    for line in unlabelled:
        emit(False, f"collectd log: {line}")

    # the table
    total = {}
    for r in rows:
        total[r["server"]] = total.get(r["server"], 0) + 1
    table = ["| server | version | modes | auth methods | IPv6 | rows passed |",
             "|---|---|---|---|---|---|"]
    for name, state in status:
        if state != "up" or name not in info:
            table.append(f"| {name} | — | — | — | — | {state}: not run |")
            continue
        e = info[name]
        modes = ["plain"] + (["SSL"] if e["SERVER_TLS_PORT"] else []) + \
            (["STARTTLS"] if e["SERVER_STLS"] == "yes" else [])
        auths = [a for a in AUTH_ORDER if a in e["SERVER_AUTHS"].split()]
        refs_ok = all(c["ok"] for c in checks if c["server"] == name)
        cell = f"{passed.get(name, 0)}/{total.get(name, 0)}"
        if not refs_ok:
            cell += " (reference check failed)"
        table.append(f"| {name} | {e['SERVER_VERSION']} | {', '.join(modes)} | "
                     f"{', '.join(auths + ['auto'])} | "
                     f"{'yes' if e['SERVER_IPV6'] == 'yes' else 'no'} | {cell} |")
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
