#!/usr/bin/python3
"""Helpers for the private mail loop (tests/servers/mailloop.sh).

  mailloop.py wait-ready SECS PIDS CA SPEC...
                      SPEC is PROTO:MODE:HOST:PORT with PROTO pop3, imap or smtp
                      and MODE plain, tls (implicit) or starttls (smtp: EHLO,
                      STARTTLS, then AUTH must be offered); until each greets
                      (TLS verified with CA). Ends early when a PID exits.
  mailloop.py submit ENVFILE [starttls|tls|plain] [SUBJECT]
                      submit one message from SMTP_FROM to SMTP_TO (with AUTH
                      unless plain); prints the queue id
  mailloop.py selftest ENVFILE SCRIPT DIR
                      submit, hold, release and fetch; one line per check

Every wait is bounded.
"""

import email.parser
import email.policy
import imaplib
import os
import poplib
import secrets
import shlex
import smtplib
import socket
import ssl
import subprocess
import sys
import time


def die(msg):
    print(f"mailloop.py: {msg}", file=sys.stderr)
    sys.exit(1)


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep:
                env[k] = " ".join(shlex.split(v))
    return env


def split_hostport(spec):
    host, port = spec.rsplit(":", 1)
    return host.strip("[]"), int(port)


# ------------------------------------------------------------------ readiness

def dead(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


GREETING = {"pop3": b"+OK", "imap": b"* OK", "smtp": b"220 "}
BYE = {"pop3": b"QUIT\r\n", "imap": b"a LOGOUT\r\n", "smtp": b"QUIT\r\n"}


def smtp_lines(f):
    """One SMTP reply: its lines, the last one without '-' after the code."""
    lines = []
    while True:
        line = f.readline(1024)
        if not line:
            return lines
        lines.append(line.rstrip(b"\r\n"))
        if line[3:4] != b"-":
            return lines


def greets(spec, ctx):
    proto, mode, rest = spec.split(":", 2)
    host, port = split_hostport(rest)
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.settimeout(5)
            if mode == "tls":
                s = ctx.wrap_socket(s, server_hostname=host)
            f = s.makefile("rb")
            if not f.readline(1024).startswith(GREETING[proto]):
                return False
            if mode == "starttls":
                s.sendall(b"EHLO localhost\r\n")
                smtp_lines(f)
                s.sendall(b"STARTTLS\r\n")
                if not smtp_lines(f)[-1:][0].startswith(b"220"):
                    return False
                s = ctx.wrap_socket(s, server_hostname=host)
                f = s.makefile("rb")
            if proto == "smtp" and mode != "plain":
                s.sendall(b"EHLO localhost\r\n")
                if not any(l[4:].upper().startswith(b"AUTH ") for l in smtp_lines(f)):
                    return False
            s.sendall(BYE[proto])
            return True
    except (OSError, ssl.SSLError, IndexError):
        return False


def cmd_wait_ready(secs, pids, ca, *specs):
    ctx = ssl.create_default_context(cafile=ca)
    deadline = time.monotonic() + float(secs)
    pending = list(specs)
    while True:
        pending = [p for p in pending if not greets(p, ctx)]
        if not pending:
            return
        gone = [p for p in pids.split() if dead(p)]
        if gone:
            die(f"server process(es) exited: {' '.join(gone)}")
        if time.monotonic() > deadline:
            die(f"not ready within {secs} s: {' '.join(pending)}")
        time.sleep(0.1)


# ------------------------------------------------------------------ mail

def make_message(env, subject, token):
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    return (
        f"Date: {date}\r\n"
        f"From: <{env['SMTP_FROM']}>\r\n"
        f"To: <{env['SMTP_TO']}>\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{token}@{env['SMTP_DOMAIN']}>\r\n"
        f"X-Loop-Token: {token}\r\n"
        f"\r\n"
        f"mail loop test message {token}\r\n"
    ).encode("ascii")


def submit(env, mode, host="127.0.0.1", subject=None, token=None, rcpt=None,
           password=None):
    """Submit one message; returns (token, queue id). Raises on any refusal."""
    ctx = ssl.create_default_context(cafile=env["SERVER_CA"])
    token = token or secrets.token_hex(8)
    subject = subject or f"mail loop {token}"
    if mode == "tls":
        s = smtplib.SMTP_SSL(host, int(env["SMTP_TLS_PORT"]), timeout=15, context=ctx)
    else:
        port = env["SMTP_PLAIN_PORT"] if mode == "plain" else env["SMTP_STARTTLS_PORT"]
        s = smtplib.SMTP(host, int(port), timeout=15)
    try:
        s.ehlo("localhost")
        if mode == "starttls":
            s.starttls(context=ctx)
            s.ehlo("localhost")
        if mode != "plain":
            s.login(env["SMTP_USER"], password or env["SMTP_PASS"])
        s.mail(env["SMTP_FROM"])
        code, resp = s.rcpt(rcpt or env["SMTP_TO"])
        if code != 250:
            raise smtplib.SMTPRecipientsRefused({rcpt: (code, resp)})
        code, resp = s.data(make_message(env, subject, token))
        if code != 250:
            raise smtplib.SMTPDataError(code, resp)
        # "250 2.0.0 Ok: queued as 4Xyz..."
        return token, resp.decode().rsplit(" ", 1)[-1]
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            s.close()


def cmd_submit(envfile, mode="starttls", subject=None):
    env = read_env(envfile)
    _, qid = submit(env, mode, subject=subject)
    print(qid)


def pop3_find(env, token):
    """The raw message with X-Loop-Token: token in the probe mailbox, or None."""
    p = poplib.POP3("127.0.0.1", int(env["SERVER_PLAIN_PORT"]), timeout=15)
    try:
        p.user(env["SERVER_LOGIN_PROBE"])
        p.pass_(env["SERVER_PASS_PROBE"])
        count = p.stat()[0]
        for n in range(count, 0, -1):
            head = b"\n".join(p.top(n, 0)[1])
            if f"X-Loop-Token: {token}".encode() in head:
                return b"\r\n".join(p.retr(n)[1])
        return None
    finally:
        p.quit()


def wait_arrival(env, token, secs):
    """(message, seconds waited) or (None, secs)."""
    t0 = time.monotonic()
    while True:
        msg = pop3_find(env, token)
        if msg is not None or time.monotonic() - t0 > secs:
            return msg, time.monotonic() - t0
        time.sleep(0.2)


def received_headers(raw):
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    return [" ".join(h.split()) for h in msg.get_all("Received", [])]


# ------------------------------------------------------------------ selftest

class Checker:
    def __init__(self):
        self.fails = 0

    def check(self, what, cond, detail=""):
        print(("ok   " if cond else "FAIL ") + what + (f" ({detail})" if detail else ""),
              flush=True)
        if not cond:
            self.fails += 1
        return cond

    def info(self, what):
        print("info " + what, flush=True)


def ehlo_keywords(host, port, ctx, starttls):
    """EHLO keywords in plain text and (with starttls) after STARTTLS."""
    s = smtplib.SMTP(host, port, timeout=15)
    try:
        s.ehlo("localhost")
        before = sorted(s.esmtp_features)
        auth_before = s.esmtp_features.get("auth", "").split()
        after, auth_after = None, None
        if starttls:
            s.starttls(context=ctx)
            s.ehlo("localhost")
            after = sorted(s.esmtp_features)
            auth_after = s.esmtp_features.get("auth", "").split()
        return before, auth_before, after, auth_after
    finally:
        s.quit()


def cmd_selftest(envfile, script, directory):
    env = read_env(envfile)
    c = Checker()
    ctx = ssl.create_default_context(cafile=env["SERVER_CA"])
    hosts = ["127.0.0.1"] + (["::1"] if env["SERVER_IPV6"] == "yes" else [])
    c.info(f"{env['SERVER_VERSION']}; submission {env['SMTP_STARTTLS_PORT']}, "
           f"submissions {env['SMTP_TLS_PORT']}, smtp {env['SMTP_PLAIN_PORT']}, "
           f"pop3 {env['SERVER_PLAIN_PORT']}/{env['SERVER_TLS_PORT']}, "
           f"imap {env['IMAP_PORT']}/{env['IMAP_TLS_PORT']}, ipv6 {env['SERVER_IPV6']}")

    def run(cmd):
        t0 = time.monotonic()
        r = subprocess.run([script, cmd, directory], capture_output=True, text=True,
                           timeout=60)
        return r.returncode == 0, f"{time.monotonic() - t0:.2f} s" + \
            (f", {r.stderr.strip()}" if r.returncode else "")

    def queue():
        r = subprocess.run(["/usr/sbin/postqueue", "-c", env["POSTFIX_CONFIG"], "-p"],
                           capture_output=True, text=True, timeout=30)
        return r.stdout + r.stderr

    # What each port offers.
    for host in hosts:
        before, auth_before, after, auth_after = ehlo_keywords(
            host, int(env["SMTP_STARTTLS_PORT"]), ctx, True)
        c.check(f"submission {host}: STARTTLS offered, no AUTH before it",
                "starttls" in before and not auth_before, " ".join(before))
        c.check(f"submission {host}: AUTH PLAIN LOGIN after STARTTLS (CA verified)",
                {"PLAIN", "LOGIN"} <= set(auth_after), " ".join(auth_after))
        before, auth_before, _, _ = ehlo_keywords(host, int(env["SMTP_PLAIN_PORT"]),
                                                  ctx, False)
        c.check(f"smtp {host}: neither STARTTLS nor AUTH offered",
                "starttls" not in before and not auth_before, " ".join(before))

    # Refusals.
    s = smtplib.SMTP("127.0.0.1", int(env["SMTP_STARTTLS_PORT"]), timeout=15)
    s.ehlo("localhost")
    code, resp = s.mail(env["SMTP_FROM"])
    s.close()
    c.check("submission: MAIL before STARTTLS refused", code == 530,
            f"{code} {resp.decode()}")
    try:
        submit(env, "starttls", password="wrong " + env["SMTP_PASS"])
        c.check("submission: wrong password refused", False)
    except smtplib.SMTPAuthenticationError as e:
        c.check("submission: wrong password refused", e.smtp_code == 535,
                f"{e.smtp_code} {e.smtp_error.decode()}")
    try:
        submit(env, "starttls", rcpt=f"nobody@{env['SMTP_DOMAIN']}")
        c.check("submission: unknown recipient refused", False)
    except smtplib.SMTPRecipientsRefused as e:
        (code, resp), = e.recipients.values()
        c.check("submission: unknown recipient refused", code == 550,
                f"{code} {resp.decode()}")

    # STARTTLS + AUTH, delivered over LMTP.
    t0 = time.monotonic()
    token, qid = submit(env, "starttls")
    msg, waited = wait_arrival(env, token, 15)
    if c.check("STARTTLS submission arrives in the probe mailbox (POP3)",
               msg is not None, f"queue id {qid}, {time.monotonic() - t0:.2f} s"):
        rcvd = received_headers(msg)
        c.info(f"top Received: {rcvd[0]}")
        c.check("top Received header written by Dovecot LMTP",
                " with LMTP " in rcvd[0] and "by localhost" in rcvd[0])
        c.check("next Received header written by Postfix (ESMTPSA)",
                len(rcvd) > 1 and "(Postfix)" in rcvd[1] and "with ESMTPSA" in rcvd[1],
                rcvd[1] if len(rcvd) > 1 else "missing")
        files = os.listdir(os.path.join(env["MAILDIR_PROBE"], "new")) + \
            os.listdir(os.path.join(env["MAILDIR_PROBE"], "cur"))
        c.check("message is a file in MAILDIR_PROBE", len(files) >= 1, f"{len(files)} file(s)")

    # Implicit TLS, on each address.
    for host in hosts:
        t0 = time.monotonic()
        token, qid = submit(env, "tls", host=host)
        msg, _ = wait_arrival(env, token, 15)
        c.check(f"implicit-TLS submission via {host} arrives", msg is not None,
                f"queue id {qid}, {time.monotonic() - t0:.2f} s")

    # Plain SMTP from loopback, no AUTH.
    t0 = time.monotonic()
    token, qid = submit(env, "plain")
    msg, _ = wait_arrival(env, token, 15)
    c.check("plain SMTP (no AUTH) from 127.0.0.1 arrives", msg is not None,
            f"queue id {qid}, {time.monotonic() - t0:.2f} s")

    # Hold: accepted, queued, not delivered; release: delivered.
    ok, detail = run("hold")
    c.check("hold", ok, detail)
    token, qid = submit(env, "starttls")
    c.check("held: submission still accepted", bool(qid), f"queue id {qid}")
    msg, waited = wait_arrival(env, token, 5)
    c.check("held: not delivered within 5 s", msg is None, f"{waited:.1f} s")
    q = queue()
    line = next((l for l in q.splitlines() if "(" in l), "").strip()
    c.check("held: message in the Postfix queue (postqueue -p)", qid in q, line)
    token2, qid2 = submit(env, "tls")
    msg, _ = wait_arrival(env, token2, 1)
    c.check("held: implicit-TLS submission queued, not delivered",
            msg is None and qid2 in queue(), f"queue id {qid2}")
    ok, detail = run("release")
    c.check("release", ok, detail)
    t0 = time.monotonic()
    msg, _ = wait_arrival(env, token, 15)
    c.check("released: held message arrives", msg is not None,
            f"{time.monotonic() - t0:.2f} s after release")
    msg, _ = wait_arrival(env, token2, 15)
    c.check("released: second held message arrives", msg is not None,
            f"{time.monotonic() - t0:.2f} s after release")
    t1 = time.monotonic()
    token, qid = submit(env, "starttls")
    msg, _ = wait_arrival(env, token, 15)
    c.check("after release: new submission arrives", msg is not None,
            f"{time.monotonic() - t1:.2f} s")
    deadline = time.monotonic() + 10
    while "Mail queue is empty" not in (q := queue()) and time.monotonic() < deadline:
        time.sleep(0.2)
    c.check("queue empty after release", "Mail queue is empty" in q, q.strip()[:200])

    # The mailbox over POP3 (STLS, implicit TLS) and IMAP (STARTTLS, implicit TLS).
    counts = {}
    for host in hosts:
        p = poplib.POP3(host, int(env["SERVER_PLAIN_PORT"]), timeout=15)
        p.stls(ctx)
        p.user(env["SERVER_LOGIN_PROBE"])
        p.pass_(env["SERVER_PASS_PROBE"])
        counts[f"pop3 stls {host}"] = p.stat()[0]
        p.quit()
        p = poplib.POP3_SSL(host, int(env["SERVER_TLS_PORT"]), timeout=15, context=ctx)
        p.user(env["SERVER_LOGIN_PROBE"])
        p.pass_(env["SERVER_PASS_PROBE"])
        counts[f"pop3s {host}"] = p.stat()[0]
        p.quit()
        m = imaplib.IMAP4(host, int(env["IMAP_PORT"]), timeout=15)
        m.starttls(ssl_context=ctx)
        m.login(env["SERVER_LOGIN_PROBE"], env["SERVER_PASS_PROBE"])
        counts[f"imap starttls {host}"] = int(m.select("INBOX", readonly=True)[1][0])
        m.logout()
        m = imaplib.IMAP4_SSL(host, int(env["IMAP_TLS_PORT"]), timeout=15,
                              ssl_context=ctx)
        m.login(env["SERVER_LOGIN_PROBE"], env["SERVER_PASS_PROBE"])
        counts[f"imaps {host}"] = int(m.select("INBOX", readonly=True)[1][0])
        m.logout()
    want = 2 + len(hosts) + 3
    c.check(f"probe mailbox holds {want} messages on every port and address",
            set(counts.values()) == {want},
            ", ".join(f"{k} {v}" for k, v in counts.items()))

    print(f"{c.fails} failure(s)")
    sys.exit(1 if c.fails else 0)


COMMANDS = {
    "wait-ready": cmd_wait_ready,
    "submit": cmd_submit,
    "selftest": cmd_selftest,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
