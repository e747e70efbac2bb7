#!/usr/bin/python3
"""Helpers for the private POP3 test servers (tests/servers/*.sh).

  srvtool.py passwords N                  N random passwords, one a line
  srvtool.py ports N [IPV6]               N ports free on 127.0.0.1 and (unless
                                          IPV6 is "no") on ::1
  srvtool.py wait-listen SECS PIDS HOST:PORT...
                                          until each accepts TCP connections
  srvtool.py wait-ready SECS PIDS CA SPEC...
                                          SPEC is plain|tls:HOST:PORT; until each
                                          greets with +OK (TLS verified with CA)
  srvtool.py maildir MAILDIR USER UID GID write USER's messages to a Maildir
  srvtool.py mbox FILE USER UID GID       write USER's messages to an mbox file
  srvtool.py cyrus-fill IMAPPORT LMTPSOCKET ADMIN USER...
                                          (admin password in CYRUS_ADMIN_PASS) create the
                                          mailboxes over IMAP, deliver over LMTP
  srvtool.py prime PORT                   log in once as each user of SRV_PRIME
                                          (lines LOGIN<TAB>PASSWORD<TAB>COUNT) and
                                          check the STAT count
  srvtool.py selftest ENVFILE             check a started server with poplib

PIDS is a blank-separated list of server leader pids: waits end early when
one of them exits. Every wait is bounded. Message counts are printed.
"""

import base64
import imaplib
import os
import poplib
import random
import secrets
import shlex
import smtplib
import socket
import ssl
import string
import sys
import time

ALNUM = string.ascii_letters + string.digits
PORT_RANGE = (20000, 31999)      # below the Linux ephemeral range (32768-60999)


def die(msg):
    print(f"srvtool: {msg}", file=sys.stderr)
    sys.exit(1)


# ------------------------------------------------------------------ users, ports

def cmd_passwords(n):
    for _ in range(int(n)):
        half = lambda: "".join(secrets.choice(ALNUM) for _ in range(10))
        print(f"{half()} {half()}")


def bindable(family, host, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        return s
    except OSError:
        s.close()
        return None


def cmd_ports(n, ipv6="yes"):
    n = int(n)
    rng = random.SystemRandom()
    held, ports = [], []
    for _ in range(2000):
        if len(ports) == n:
            break
        port = rng.randint(*PORT_RANGE)
        if port in ports:
            continue
        s4 = bindable(socket.AF_INET, "127.0.0.1", port)
        s6 = s4 and ipv6 != "no" and bindable(socket.AF_INET6, "::1", port)
        if s4 and (s6 or ipv6 == "no"):
            held += [s4, s6]                  # keep until all are picked
            ports.append(port)
        elif s4:
            s4.close()
    if len(ports) != n:
        die("no free ports in %d-%d" % PORT_RANGE)
    print(" ".join(map(str, ports)))


# ------------------------------------------------------------------ waits

def dead(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def split_hostport(spec):
    host, port = spec.rsplit(":", 1)
    return host.strip("[]"), int(port)


def wait_loop(secs, pids, pending, probe, what):
    deadline = time.monotonic() + float(secs)
    pids = pids.split()
    while True:
        pending = [p for p in pending if not probe(p)]
        if not pending:
            return
        gone = [p for p in pids if dead(p)]
        if gone:
            die(f"server process(es) exited: {' '.join(gone)}")
        if time.monotonic() > deadline:
            die(f"{what} within {secs} s: {' '.join(pending)}")
        time.sleep(0.1)


def cmd_wait_listen(secs, pids, *specs):
    def probe(spec):
        try:
            socket.create_connection(split_hostport(spec), timeout=1).close()
            return True
        except OSError:
            return False
    wait_loop(secs, pids, list(specs), probe, "no TCP listener")


def cmd_wait_ready(secs, pids, ca, *specs):
    ctx = ssl.create_default_context(cafile=ca)

    def probe(spec):
        mode, rest = spec.split(":", 1)
        host, port = split_hostport(rest)
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.settimeout(5)
                if mode == "tls":
                    s = ctx.wrap_socket(s, server_hostname=host)
                line = s.makefile("rb").readline(1024)
                if line.startswith(b"+OK"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except (OSError, ssl.SSLError):
            pass
        return False
    wait_loop(secs, pids, list(specs), probe, "no +OK greeting")


# ------------------------------------------------------------------ mail

def sizes_for(user):
    """Approximate message sizes in bytes (LF line ends) for each test user."""
    if user == "few":
        return [300, 4000, 70000]
    if user == "many":
        return [500 + (i * 397) % 3000 for i in range(150)]
    return []


def message(user, n, total, size):
    """One message of about `size` bytes, LF line ends, no body line "From "."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(1704067200 + n * 61))
    head = (
        f"Received: from client.example.test by localhost; {date}\n"
        f"Date: {date}\n"
        f"From: Test Sender <sender@example.test>\n"
        f"To: <{user}@localhost>\n"
        f"Subject: POP3 test {n} of {total} for {user}\n"
        f"Message-ID: <{n}.{user}@example.test>\n"
        f"\n"
    )
    filler = "The quick brown fox jumps over the lazy dog 0123456789 "
    lines, length, i = [], len(head), 0
    while length < size or not lines:
        line = f"line {i:05d} {filler[: (i * 7 + n) % len(filler)]}".rstrip() + "\n"
        lines.append(line)
        length += len(line)
        i += 1
    return head + "".join(lines)


def messages(user):
    sizes = sizes_for(user)
    return [message(user, n, len(sizes), size) for n, size in enumerate(sizes, 1)]


def cmd_maildir(maildir, user, uid, gid):
    uid, gid = int(uid), int(gid)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), mode=0o700, exist_ok=True)
    msgs = messages(user)
    for n, text in enumerate(msgs, 1):
        name = f"{1704067200 + n}.M{n}P{os.getpid()}.localhost:2,"
        path = os.path.join(maildir, "cur", name)
        with open(path, "w", newline="\n") as f:
            f.write(text)
        os.chown(path, uid, gid)
    for d in (maildir, *(os.path.join(maildir, s) for s in ("cur", "new", "tmp"))):
        os.chown(d, uid, gid)
    print(len(msgs))


def cmd_mbox(path, user, uid, gid):
    msgs = messages(user)
    with open(path, "w", newline="\n") as f:
        for n, text in enumerate(msgs, 1):
            stamp = time.strftime("%a %b %e %H:%M:%S %Y",
                                  time.gmtime(1704067200 + n * 61))
            f.write(f"From sender@example.test {stamp}\n{text}\n")
    os.chown(path, int(uid), int(gid))
    os.chmod(path, 0o600)
    print(len(msgs))


def cmd_cyrus_fill(imap_port, lmtp_socket, admin, *users):
    password = os.environ["CYRUS_ADMIN_PASS"]
    deadline = time.monotonic() + 30
    while True:
        try:
            imap = imaplib.IMAP4("127.0.0.1", int(imap_port), timeout=10)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                die(f"IMAP port {imap_port}: {e}")
            time.sleep(0.2)
    imap.login(admin, password)
    for user in users:
        typ, data = imap.create(f"user.{user}")
        if typ != "OK":
            die(f"IMAP CREATE user.{user}: {data}")
    imap.logout()
    deadline = time.monotonic() + 10
    while not os.path.exists(lmtp_socket):
        if time.monotonic() > deadline:
            die(f"no LMTP socket {lmtp_socket}")
        time.sleep(0.1)
    lmtp = smtplib.LMTP(lmtp_socket, timeout=30)
    counts = []
    for user in users:
        msgs = messages(user)
        for text in msgs:
            data = text.replace("\n", "\r\n").encode("ascii")
            refused = lmtp.sendmail("sender@example.test", [user], data)
            if refused:
                die(f"LMTP refused for {user}: {refused}")
        counts.append(len(msgs))
    lmtp.quit()
    print(" ".join(map(str, counts)))


def cmd_prime(port):
    for line in os.environ["SRV_PRIME"].splitlines():
        login, password, count = line.split("\t")
        p = poplib.POP3("127.0.0.1", int(port), timeout=30)
        p.user(login)
        p.pass_(password)
        got = p.stat()[0]
        p.quit()
        if got != int(count):
            die(f"{login}: STAT count {got}, expected {count}")


# ------------------------------------------------------------------ selftest

def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                k, v = line.split("=", 1)
                parts = shlex.split(v)
                env[k] = parts[0] if len(parts) == 1 else " ".join(parts)
    return env


class Checker:
    def __init__(self):
        self.fails = 0

    def check(self, what, cond, detail=""):
        print(("ok   " if cond else "FAIL ") + what + (f" ({detail})" if detail else ""))
        if not cond:
            self.fails += 1

    def info(self, what):
        print("info " + what)


def raw_sasl(host, port, mech, user, password, initial):
    """AUTH PLAIN/LOGIN by hand; returns (transcript, STAT answer or None)."""
    out = []
    with socket.create_connection((host, port), timeout=15) as s:
        f = s.makefile("rb")

        def send(line, show=None):
            out.append("C: " + (show or line))
            s.sendall(line.encode() + b"\r\n")

        def recv():
            line = f.readline(4096).decode(errors="replace").rstrip("\r\n")
            out.append("S: " + line)
            return line

        recv()
        b64 = lambda b: base64.b64encode(b).decode()
        if mech == "PLAIN":
            resp = b64(b"\0" + user.encode() + b"\0" + password.encode())
            if initial:
                send(f"AUTH PLAIN {resp}", "AUTH PLAIN <credentials>")
            else:
                send("AUTH PLAIN")
                if not recv().startswith("+"):
                    return out, None
                send(resp, "<credentials>")
        else:
            if initial:
                send(f"AUTH LOGIN {b64(user.encode())}")
            else:
                send("AUTH LOGIN")
                if not recv().startswith("+"):
                    return out, None
                send(b64(user.encode()))
            if not recv().startswith("+"):
                return out, None
            send(b64(password.encode()), "<password>")
        answer = recv()
        if not answer.startswith("+OK"):
            return out, None
        send("STAT")
        stat = recv()
        send("QUIT")
        recv()
        return out, stat


def raw_capa(host, port, ctx, stls, implicit=False):
    """Greeting, CAPA answer and (with stls) CAPA answer after STLS, as sent."""
    def lines(f, multi):
        out = [f.readline(4096).decode(errors="replace").rstrip("\r\n")]
        while multi and out[0].startswith("+OK") and out[-1] != ".":
            out.append(f.readline(4096).decode(errors="replace").rstrip("\r\n"))
        return out

    s = socket.create_connection((host, port), timeout=15)
    if implicit:
        s = ctx.wrap_socket(s, server_hostname=host)
    f = s.makefile("rb")
    greeting = lines(f, False)[0]
    s.sendall(b"CAPA\r\n")
    before = " | ".join(lines(f, True))
    after = None
    if stls:
        s.sendall(b"STLS\r\n")
        answer = lines(f, False)[0]
        if answer.startswith("+OK"):
            s = ctx.wrap_socket(s, server_hostname=host)
            f = s.makefile("rb")
            s.sendall(b"CAPA\r\n")
            after = " | ".join(lines(f, True))
        else:
            after = f"STLS refused: {answer}"
    s.sendall(b"QUIT\r\n")
    s.close()
    return greeting, before, after


def cmd_selftest(envfile):
    env = read_env(envfile)
    c = Checker()
    port = int(env["SERVER_PLAIN_PORT"])
    tls_port = int(env["SERVER_TLS_PORT"]) if env["SERVER_TLS_PORT"] else None
    auths = env["SERVER_AUTHS"].split()
    hosts = ["127.0.0.1"] + (["::1"] if env["SERVER_IPV6"] == "yes" else [])
    users = env["SERVER_USERS"].split()
    ctx = ssl.create_default_context(cafile=env["SERVER_CA"])
    print(f"info {env['SERVER']} {env['SERVER_VERSION']}: plain {port}, tls {tls_port}, "
          f"stls {env['SERVER_STLS']}, ipv6 {env['SERVER_IPV6']}, auths {auths}")

    def cred(u):
        return env[f"SERVER_LOGIN_{u.upper()}"], env[f"SERVER_PASS_{u.upper()}"]

    def want(u):
        return int(env[f"SERVER_DELIVERED_{u.upper()}"])

    for u in users:
        pw = cred(u)[1]
        c.check(f"password of {u} is 16+ of [A-Za-z0-9] with one blank inside",
                len(pw) >= 17 and pw.count(" ") == 1 and pw[0] != " " and pw[-1] != " "
                and all(ch in ALNUM for ch in pw.replace(" ", "")))
    c.check("delivered counts are 0, 3, 150",
            [want(u) for u in users] == [0, 3, 150])

    # CAPA on the wire, before and after STLS (and on the implicit-TLS port).
    for host in hosts:
        greeting, before, after = raw_capa(host, port, ctx, env["SERVER_STLS"] == "yes")
        c.info(f"{host} greeting: {greeting}")
        c.info(f"{host} CAPA: {before}")
        c.check(f"{host} CAPA lists STLS == SERVER_STLS",
                ("| STLS |" in before + " |") == (env["SERVER_STLS"] == "yes"))
        if after is not None:
            c.info(f"{host} CAPA after STLS: {after}")
        if tls_port:
            greeting, before, _ = raw_capa(host, tls_port, ctx, False, implicit=True)
            c.info(f"{host} implicit TLS greeting: {greeting}")
            c.info(f"{host} implicit TLS CAPA: {before}")

    modes = ["plain"] + (["stls"] if env["SERVER_STLS"] == "yes" else []) \
        + (["tls"] if tls_port else [])

    def session(mode, host, u, how="user"):
        if mode == "tls":
            p = poplib.POP3_SSL(host, tls_port, timeout=15, context=ctx)
        else:
            p = poplib.POP3(host, port, timeout=15)
            if mode == "stls":
                p.stls(ctx)
        try:
            login, pw = cred(u)
            if how == "apop":
                p.apop(login, pw)
            else:
                p.user(login)
                p.pass_(pw)
            return p.stat()
        finally:
            try:
                p.quit()
            except (poplib.error_proto, OSError):
                pass

    octets = {u: set() for u in users}
    for host in hosts:
        for mode in modes:
            for u in users:
                what = f"{mode:5} {host:9} USER/PASS {u:5}"
                try:
                    got = session(mode, host, u)
                    octets[u].add(got[1])
                    c.check(f"{what} STAT count {got[0]} == {want(u)}", got[0] == want(u),
                            f"STAT {got[0]} {got[1]}")
                except Exception as e:
                    c.check(what, False, repr(e))
        if "apop" in auths:
            for u in users:
                what = f"plain {host:9} APOP      {u:5}"
                try:
                    got = session("plain", host, u, "apop")
                    c.check(f"{what} STAT count {got[0]} == {want(u)}", got[0] == want(u))
                except Exception as e:
                    c.check(what, False, repr(e))
        for mech in ("PLAIN", "LOGIN"):
            if mech.lower() not in auths:
                continue
            for u in users:
                for initial in (False, True):
                    form = "initial response" if initial else "continuation"
                    what = f"plain {host:9} AUTH {mech:5} {u:5} ({form})"
                    login, pw = cred(u)
                    try:
                        tr, stat = raw_sasl(host, port, mech, login, pw, initial)
                        if u == "few" and host == "127.0.0.1":
                            c.info(f"AUTH {mech} ({form}) transcript: " + " | ".join(tr))
                        ok = stat is not None and stat.startswith("+OK") \
                            and int(stat.split()[1]) == want(u)
                        c.check(f"{what} STAT count == {want(u)}", ok,
                                stat if stat else " | ".join(tr))
                    except Exception as e:
                        c.check(what, False, repr(e))

    for u in users:
        c.check(f"{u}: STAT octets the same in every USER/PASS session",
                len(octets[u]) == 1, " ".join(map(str, sorted(octets[u]))))

    # A wrong password is refused.
    t0 = time.monotonic()
    try:
        p = poplib.POP3("127.0.0.1", port, timeout=30)
        p.user(cred("few")[0])
        p.pass_("wrong " + cred("few")[1])
        c.check("wrong password refused", False)
        p.quit()
    except poplib.error_proto as e:
        c.check("wrong password refused", True,
                f"{e.args[0].decode(errors='replace')}, {time.monotonic() - t0:.1f} s")
    except OSError as e:
        c.check("wrong password refused", True,
                f"connection ended: {e!r}, {time.monotonic() - t0:.1f} s")

    print(f"{c.fails} failure(s)")
    sys.exit(1 if c.fails else 0)


COMMANDS = {
    "passwords": cmd_passwords,
    "ports": cmd_ports,
    "wait-listen": cmd_wait_listen,
    "wait-ready": cmd_wait_ready,
    "maildir": cmd_maildir,
    "mbox": cmd_mbox,
    "cyrus-fill": cmd_cyrus_fill,
    "prime": cmd_prime,
    "selftest": cmd_selftest,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
