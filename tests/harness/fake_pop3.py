#!/usr/bin/python3
"""Scripted fake POP3 server: the faults a real server will not produce on demand.

    /usr/bin/python3 tests/harness/fake_pop3.py --scenario NAME --port-file FILE
                     [--host 127.0.0.1|::1] [--cert PEM --key PEM]
                     [--control FILE] [--password PW] [--port N]
    /usr/bin/python3 tests/harness/fake_pop3.py --list

Binds HOST on a free port, writes the port to FILE (via FILE.tmp + rename, so a
reader never sees a partial file), then serves connections (one thread each,
every socket operation with a timeout) until SIGTERM/SIGINT.

FILE.log (truncated at start) gets one line per event, written whole and flushed:
    C<n> CONNECT <peer>        a connection was accepted
    C<n> CMD <command line>    a command was received (PASS/AUTH secrets -> ***)
    C<n> TLS <version>         a TLS handshake completed (TLS-FAIL <why> if not)
    C<n> CLOSE <reason>        the connection ended (client-eof, quit, dropped, ...)
so a test can check e.g. `grep -c ' CMD QUIT$'` or that no ' CMD RETR' appears.

The default session is a correct server: any user name, password "secret" (or
--password), STAT "+OK 7 123456". A scenario is a row of overrides in SCENARIOS
below.

--control FILE heals (or breaks) a running server: for every new connection the
server reads FILE, if it exists and is not empty, as
    SCENARIO [cert=PEM key=PEM]
and serves that connection with it (certificate too), else with --scenario and
--cert/--key. Write it atomically (FILE.tmp + rename). The log then has
    C<n> SCENARIO <name>       the scenario serving that connection
--port N binds that port instead of a free one (a test that first saw
"connection refused" there can bring a server up on it).
--exit-with-parent stops the server when the process that started it is gone
(checked every 0.2 s), so a test that dies cannot leave a server behind.

Hostile scenarios (capa-endless, line-endless, ok-endless, drip and their -tls
twins) never stop talking: an endless answer is sent as fast as the socket
takes it, or every byte of every answer is dripped 100 ms apart. They log
    C<n> FLOOD <kind>                          the endless part begins
    C<n> FLOOD-END <kind> <bytes> bytes <seconds> s <why>
where why is client-closed (the client closed its end: the normal way out),
client-stalled (it stopped reading for 30 s), cap-bytes / cap-time (the
safety net: 64 GiB or 60 s per connection) or server-stopping.
"""

import argparse
import base64
import email.utils
import itertools
import os
import signal
import socket
import ssl
import sys
import threading
import time

IO_TIMEOUT = 30.0     # any single send/recv; a client idle this long is dropped
HOLD_TIMEOUT = 120.0  # cap for scenarios that keep a silent connection open
MAX_LINE = 1024       # longest command line accepted (RFC: 255 octets)
# Safety net of an endless answer: whichever comes first. Loopback carries a
# GiB in under a second, so the byte cap is high: a smaller one would end the
# attack before a client that cannot stop reading shows its stall.
FLOOD_MAX_SECONDS = 60.0             # (also caps a dripping connection)
FLOOD_MAX_BYTES = 64 * 1024 ** 3
DRIP_DELAY = 0.1      # seconds between two bytes of a dripping server
PASSWORD = "secret"

TOP_EPOCH = 1796119200  # Tue, 01 Dec 2026 10:00:00 +0000: message n arrived 60 n later
DROP = "<drop>"       # reply sentinel: close the connection without answering
HOLD = "<hold>"       # reply sentinel: answer nothing, keep reading commands

# Defaults of every scenario: a correct POP3 server.
BASE = {
    "greeting": "+OK fake POP3 server ready",  # None: never greet, hold the line
    "greeting_raw": None,      # bytes sent verbatim instead of the greeting line
    "greeting_delay": 0.0,     # seconds before the greeting
    "drop_on_connect": False,  # close right after accept
    "capa": ["USER", "PIPELINING", "RESP-CODES", "UIDL", "TOP"],
                               # AUTH PLAIN works; add "SASL PLAIN" to offer it
    "stat": "+OK 7 123456",
    "replies": {},             # COMMAND -> reply overriding the default handler:
                               #   str: one line; list: lines; bytes: sent as is
                               #   in one send; DROP or HOLD
    "stls": None,              # None: not offered | "ok" | "refuse" | "inject"
    "tls": None,               # None | "implicit" (TLS at once) | "stall"
    "eol": "\r\n",             # line end of every response
    "bytewise": False,         # send each response one byte per send
    "drip": 0.0,               # > 0: every response byte alone, this many
                               #   seconds apart (the greeting too)
    "endless": None,           # (COMMAND or "*" for the first command, kind):
                               #   the answer to it never ends; kind is a key
                               #   of FLOODS
    "after_login": None,       # what becomes of commands that arrived with a
                               #   successful login: None (answered) | "lose"
                               #   (dropped) | "garble" (dropped, and the next
                               #   command is answered -ERR)
    "stat_delay": 0.0,         # seconds before the STAT answer
}


def _block(make, size=1024 * 1024):
    """A block of about `size` bytes built from make(i) for i = 0, 1, ..."""
    parts, n, i = [], 0, 0
    while n < size:
        part = make(i)
        parts.append(part)
        n += len(part)
        i += 1
    return b"".join(parts)


# Endless answers: (head sent once, block repeated without end). The blocks
# are built once, so that the server sends as fast as the socket takes them.
FLOODS = {
    # CAPA +OK, then capability lines X-CAP-0000 ... X-CAP-9999 (252 bytes
    # each, so that a cap in bytes comes before one in lines; ok-endless's
    # 5-byte lines meet a cap in lines first), again and again, never the
    # terminating "."
    "capa": (b"+OK Capability list follows\r\n",
             _block(lambda i: b"X-CAP-%04d" % (i % 10000) +
                    b" endless capability list" * 10 + b"\r\n",
                    10000 * 252)),
    # one line that never ends
    "line": (b"+OK ", b"x" * (1024 * 1024)),
    # status lines, whatever was asked
    "ok": (b"", b"+OK\r\n" * (256 * 1024)),
    # a message header that never ends
    "header": (b"+OK\r\nReceived: by fake; Tue, 01 Dec 2026 10:00:00 +0000\r\n",
               _block(lambda i: b"X-Header-%06d: endless header\r\n" % i)),
}


# name: (description, overrides of BASE). Add fault rows here.
SCENARIOS = {
    "ok": ("correct server", {}),
    "ok-big": ("STAT over 4 GiB", {"stat": "+OK 3 5000000000"}),
    "ok-2g": ("STAT just over 2 GiB", {"stat": "+OK 2 2147483649"}),
    "ok-stls": ("correct server offering a working STLS (needs --cert)",
                {"stls": "ok"}),
    "ok-sasl": ("correct server offering SASL PLAIN",
                {"capa": BASE["capa"] + ["SASL PLAIN"]}),
    "ok-tls": ("implicit TLS, then a correct session (needs --cert)",
               {"tls": "implicit"}),
    "no-greeting": ("accepts, never sends anything, keeps the connection",
                    {"greeting": None}),
    "greeting-late": ("greeting after 10 s", {"greeting_delay": 10.0}),
    "drop-after-connect": ("closes right after accept",
                           {"drop_on_connect": True}),
    "drop-after-user": ("closes on reading USER", {"replies": {"USER": DROP}}),
    "drop-after-pass": ("closes on reading PASS", {"replies": {"PASS": DROP}}),
    "drop-after-stat": ("closes on reading STAT", {"replies": {"STAT": DROP}}),
    "stat-err": ("STAT fails",
                 {"stat": "-ERR [SYS/TEMP] mailbox unavailable"}),
    "stat-garbage": ("STAT without numbers", {"stat": "+OK lots of mail"}),
    "stat-negative": ("STAT with a negative count", {"stat": "+OK -1 10"}),
    "stat-overflow": ("STAT size beyond 64 bits",
                      {"stat": "+OK 1 18446744073709551616"}),
    "stat-missing": ("STAT without a size", {"stat": "+OK 5"}),
    "stat-letters": ("STAT size with trailing letters", {"stat": "+OK 5 12x"}),
    "stat-hang": ("STAT never answered", {"replies": {"STAT": HOLD}}),
    "pass-err": ("wrong password",
                 {"replies": {"PASS": "-ERR [AUTH] Authentication failed."}}),
    "pass-in-use": ("mailbox locked",
                    {"replies": {"PASS": "-ERR [IN-USE] mailbox locked"}}),
    "pass-login-delay": ("logging in too often",
                         {"capa": BASE["capa"] + ["LOGIN-DELAY 600"],
                          "replies": {"PASS": "-ERR [LOGIN-DELAY 600] too soon"}}),
    "pass-login-delay-huge": ("LOGIN-DELAY of 136 years",
                              {"replies": {"PASS": "-ERR [LOGIN-DELAY "
                                                   "4294967295] go away"}}),
    "stls-login-delay": ("STLS offered, answered in clear text with -ERR"
                         " [LOGIN-DELAY 900] (forgeable before TLS)",
                         {"stls": "ok", "replies": {
                             "STLS": "-ERR [LOGIN-DELAY 900] come back later"}}),
    "pass-sys-perm": ("permanent server-side failure",
                      {"replies": {"PASS": "-ERR [SYS/PERM] account disabled"}}),
    "pass-sys-temp": ("temporary server-side failure",
                      {"replies": {"PASS": "-ERR [SYS/TEMP] backend unavailable"}}),
    "pass-err-plain": ("PASS answered -ERR without a response code",
                       {"replies": {"PASS": "-ERR Authentication failed."}}),
    "pass-login-delay-bare": ("[LOGIN-DELAY] without seconds or capability",
                              {"replies": {"PASS": "-ERR [LOGIN-DELAY] too soon"}}),
    "ok-login-delay-600": ("correct server announcing LOGIN-DELAY 600 in CAPA",
                           {"capa": BASE["capa"] + ["LOGIN-DELAY 600"]}),
    "stat-err-plain": ("STAT answered -ERR without a response code",
                       {"stat": "-ERR mailbox unavailable"}),
    "greeting-err": ("greeting is -ERR", {"greeting": "-ERR go away"}),
    "greeting-garbage": ("greeting is binary junk with a line end",
                         {"greeting_raw": b"\x16\x03\x01\x02\xfe\xff junk\r\n"}),
    "greeting-long-ok": ("greeting is a 1100-byte +OK line (over the cap)",
                         {"greeting": "+OK " + "y" * 1100}),
    "capa-hang": ("CAPA never answered", {"replies": {"CAPA": HOLD}}),
    "quit-err": ("QUIT answered -ERR (after a good STAT)",
                 {"replies": {"QUIT": "-ERR [SYS/TEMP] could not update"}}),
    "quit-drop": ("closes on reading QUIT without answering",
                  {"replies": {"QUIT": DROP}}),
    "not-status": ("USER answered with a status that is not +OK/-ERR",
                   {"replies": {"USER": "+ERR whatever"}}),
    "long-line": ("greeting is 1 MB without a line end",
                  {"greeting_raw": b"+OK " + b"x" * (1024 * 1024 - 4)}),
    "nul-byte": ("greeting contains a NUL byte",
                 {"greeting": "+OK fake POP3\0server ready"}),
    "one-byte": ("correct session, responses sent one byte per send",
                 {"bytewise": True}),
    "bare-lf": ("correct session with LF-only line ends", {"eol": "\n"}),
    "stls-refused": ("CAPA lists STLS, STLS answered -ERR",
                     {"stls": "refuse"}),
    "no-stls": ("CAPA without STLS", {}),
    "stls-inject": ("STLS answer and an injected '+OK injected' in one send; with"
                    " --cert the TLS handshake follows, else closes after 1 s",
                    {"stls": "inject"}),
    "tls-stall": ("accepts TCP, never answers the TLS handshake",
                  {"tls": "stall"}),
    "plaintext-on-ssl": ("plain greeting, for a client expecting implicit TLS",
                         {}),
    "tls-on-plain": ("TLS at once (needs --cert), for a client expecting plain"
                     " text", {"tls": "implicit"}),
    # hostile servers that never stop talking (each also as NAME-tls below)
    "capa-endless": ("CAPA answered +OK, then capability lines without end",
                     {"endless": ("CAPA", "capa")}),
    "line-endless": ("the answer to the first command (CAPA or USER) is bytes"
                     " without a line end, without end",
                     {"endless": ("*", "line")}),
    "ok-endless": ("whatever is sent after the greeting is answered by +OK"
                   " lines without end",
                   {"endless": ("*", "ok")}),
    "pipeline-lost": ("PIPELINING offered, but the commands that arrive with a"
                      " successful login are lost", {"after_login": "lose"}),
    "pipeline-garbled": ("PIPELINING offered, but the commands that arrive"
                         " with a successful login are lost and the next one"
                         " gets -ERR Unrecognized command",
                         {"after_login": "garble"}),
    "top-hang": ("correct server that never answers TOP",
                 {"replies": {"TOP": HOLD}}),
    "top-err": ("correct server refusing TOP", {"replies": {"TOP": "-ERR [SYS/PERM] no TOP here"}}),
    "top-endless": ("correct server whose answer to TOP never ends",
                    {"endless": ("TOP", "header")}),
    "stat-slow": ("correct server answering STAT after 0.6 s",
                  {"stat_delay": 0.6}),
    "drip": ("correct session, every byte (greeting too) sent alone 100 ms"
             " apart", {"drip": DRIP_DELAY}),
}
# the same over implicit TLS
for _name in ("capa-endless", "line-endless", "ok-endless", "drip"):
    _desc, _over = SCENARIOS[_name]
    SCENARIOS[_name + "-tls"] = (_desc + ", over implicit TLS (needs --cert)",
                                 dict(_over, tls="implicit"))

NEEDS_CERT = {"tls": {"implicit"}, "stls": {"ok"}}


def scenario(name):
    sc = dict(BASE)
    sc.update(SCENARIOS[name][1])
    return sc


class Log:
    """FILE.log writer shared by all threads: whole lines, flushed at once."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "w", encoding="utf-8")

    def write(self, cid, event, detail=""):
        # Escape control bytes so each record stays on one line.
        detail = detail.encode("unicode_escape").decode("ascii")
        with self.lock:
            self.f.write(f"{cid} {event} {detail}".rstrip() + "\n")
            self.f.flush()


class Closed(Exception):
    """The session ends; the message is the CLOSE reason."""


class Session:
    def __init__(self, conn, peer, cid, sc, tls_ctx, log, stopping):
        self.conn, self.peer, self.cid, self.sc = conn, peer, cid, sc
        self.tls_ctx, self.log, self.stopping = tls_ctx, log, stopping
        self.buf = b""
        self.user = None
        self.logged_in = False
        self.tls_active = False
        self.commands = 0
        self.drip_start = None     # when the drip began (None: no drip)
        self.dripped = 0
        self.garble_next = False

    # -- I/O -------------------------------------------------------------------

    def send_raw(self, data):
        if self.sc["drip"]:
            self.drip(data)
        elif self.sc["bytewise"]:
            for i in range(len(data)):
                self.conn.sendall(data[i:i + 1])
                time.sleep(0.002)   # separate segments (TCP_NODELAY is set)
        else:
            self.conn.sendall(data)

    def send(self, reply):
        """reply: str (one line), list of str (lines) or bytes (verbatim)."""
        if isinstance(reply, bytes):
            self.send_raw(reply)
            return
        lines = [reply] if isinstance(reply, str) else reply
        eol = self.sc["eol"]
        self.send_raw("".join(line + eol for line in lines).encode("latin-1"))

    def drip(self, data):
        """Each byte alone, DRIP delay apart, within FLOOD_MAX_SECONDS from
        the first dripped byte of the connection."""
        if self.drip_start is None:
            self.drip_start = time.monotonic()
            self.log.write(self.cid, "FLOOD", "drip")
        for i in range(len(data)):
            elapsed = time.monotonic() - self.drip_start
            why = None
            if self.stopping.is_set():
                why = "server-stopping"
            elif elapsed >= FLOOD_MAX_SECONDS:
                why = "cap-time"
            else:
                try:
                    self.conn.sendall(data[i:i + 1])
                    self.dripped += 1
                except socket.timeout:
                    why = "client-stalled"
                except (OSError, ssl.SSLError):
                    why = "client-closed"
            if why is None and self.stopping.wait(self.sc["drip"]):
                why = "server-stopping"
            if why is not None:
                raise Closed(why)   # handle() logs FLOOD-END

    def flood_end(self, kind, sent, start, why):
        self.log.write(self.cid, "FLOOD-END",
                       f"{kind} {sent} bytes {time.monotonic() - start:.1f} s"
                       f" {why}")

    def flood(self, kind):
        """An answer without end: FLOODS[kind]'s head, then its block again
        and again, as fast as the socket takes it, until the client closes,
        the server stops or the safety net (bytes, seconds) is reached."""
        head, block = FLOODS[kind]
        self.log.write(self.cid, "FLOOD", kind)
        start, sent = time.monotonic(), 0
        view = memoryview(block)
        chunk = head
        why = None
        while why is None:
            if self.stopping.is_set():
                why = "server-stopping"
            elif sent >= FLOOD_MAX_BYTES:
                why = "cap-bytes"
            elif time.monotonic() - start >= FLOOD_MAX_SECONDS:
                why = "cap-time"
            else:
                try:
                    if chunk:
                        self.conn.sendall(chunk)
                        sent += len(chunk)
                except socket.timeout:
                    why = "client-stalled"
                except (OSError, ssl.SSLError):
                    why = "client-closed"
                chunk = view
        self.flood_end(kind, sent, start, why)
        raise Closed(why)

    def readline(self):
        """One command line without its line end (LF or CRLF)."""
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                self.send("-ERR line too long")
                raise Closed("line-too-long")
            try:
                data = self.conn.recv(4096)
            except socket.timeout:
                raise Closed("idle-timeout")
            if not data:
                raise Closed("client-eof")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")

    def hold(self, log_commands):
        """Keep the connection open, answering nothing, until the client closes
        or HOLD_TIMEOUT; log command lines, or just drain (TLS stall)."""
        end = time.monotonic() + HOLD_TIMEOUT
        self.conn.settimeout(0.5)
        while time.monotonic() < end and not self.stopping.is_set():
            try:
                data = self.conn.recv(4096)
            except socket.timeout:
                continue
            if not data:
                raise Closed("client-eof")
            if log_commands:
                self.buf += data
                while b"\n" in self.buf:
                    line, self.buf = self.buf.split(b"\n", 1)
                    self.log_cmd(line.rstrip(b"\r").decode("latin-1"))
        raise Closed("hold-timeout")

    def start_tls(self):
        self.conn = self.tls_ctx.wrap_socket(self.conn, server_side=True,
                                             do_handshake_on_connect=False)
        self.conn.settimeout(IO_TIMEOUT)
        try:
            self.conn.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.log.write(self.cid, "TLS-FAIL", str(e))
            raise Closed("tls-failed")
        self.tls_active = True
        self.log.write(self.cid, "TLS", self.conn.version())

    # -- protocol ----------------------------------------------------------------

    def log_cmd(self, line):
        word, _, arg = line.partition(" ")
        up = word.upper()
        if up == "PASS":
            line = f"{word} ***"
        elif up == "AUTH" and " " in arg:
            line = f"{word} {arg.split(' ', 1)[0]} ***"   # SASL initial response
        elif up == "APOP":
            line = f"{word} {arg.split(' ', 1)[0]} ***"
        self.log.write(self.cid, "CMD", line)

    def login_reply(self, password):
        """Reply to PASS/AUTH: the scenario's PASS override (also used for
        AUTH PLAIN, so login faults work with SASL too), else check it."""
        if "PASS" in self.sc["replies"]:
            return self.sc["replies"]["PASS"]
        if password == PASSWORD:
            self.logged_in = True
            return "+OK Logged in."
        return "-ERR [AUTH] Authentication failed."

    def capa(self):
        caps = list(self.sc["capa"])
        # STLS only where it could be used: offered, before TLS and login.
        if self.sc["stls"] and not self.tls_active and not self.logged_in:
            caps.append("STLS")
        return ["+OK Capability list follows"] + caps + ["."]

    def auth(self, arg):
        mech, _, initial = arg.partition(" ")
        if not mech:
            return ["+OK", "PLAIN", "."]
        if mech.upper() != "PLAIN":
            return "-ERR Unsupported authentication mechanism."
        if not initial:
            self.send("+ ")
            initial = self.readline()
            self.log.write(self.cid, "CMD", "***" if initial != "*" else "*")
        if initial == "*":
            return "-ERR Authentication cancelled."
        try:
            _, user, password = base64.b64decode(initial, validate=True) \
                .decode("utf-8").split("\0")
        except ValueError:
            return "-ERR Invalid base64 data."
        self.user = user
        return self.login_reply(password)

    def stls(self):
        mode = self.sc["stls"]
        if not mode or self.tls_active or self.logged_in:
            return "-ERR STLS not available"
        if mode == "refuse":
            return "-ERR [SYS/TEMP] TLS not available right now"
        if mode == "inject":
            # CVE-2021-22947 style: an extra response before the handshake; a
            # correct client discards whatever it buffered before TLS.
            self.conn.sendall(b"+OK Begin TLS\r\n+OK injected\r\n")
            if self.tls_ctx is None:
                time.sleep(1.0)
                raise Closed("after-inject")
        else:
            self.send("+OK Begin TLS negotiation now.")
        if self.buf:  # client pipelined past STLS: drop it, as RFC 2595 wants
            self.log.write(self.cid, "DISCARD", repr(self.buf))
            self.buf = b""
        self.start_tls()
        self.user, self.logged_in = None, False
        return None

    def after_login(self):
        """Logs whether commands came with the login (pipelined) or not
        (lock-step); a server that hands the connection over after the
        login loses them (after_login)."""
        if not self.buf:
            self.log.write(self.cid, "LOCKSTEP", "nothing came with the login")
            return
        self.log.write(self.cid, "WITH-LOGIN", repr(self.buf))
        mode = self.sc["after_login"]
        if mode is not None:
            self.log.write(self.cid, "LOST", repr(self.buf))
            self.buf = b""
            self.garble_next = mode == "garble"

    def top(self, arg):
        """TOP n 0: the header of message n, which arrived TOP_EPOCH + 60 n
        (top-most Received:), of as many messages as STAT counts."""
        words = arg.split()
        stat = self.sc["stat"].split()
        count = int(stat[1]) if len(stat) > 1 and stat[1].isdigit() else 0
        if len(words) != 2 or not words[0].isdigit() or \
                not 1 <= int(words[0]) <= count:
            return "-ERR No such message."
        n = int(words[0])
        when = email.utils.formatdate(TOP_EPOCH + 60 * n, usegmt=True)
        return ["+OK", f"Received: from client by fake; {when}",
                "Date: Mon, 01 Jan 2024 00:00:00 +0000",
                f"Subject: message {n}", "", "."]

    def dispatch(self, cmd, arg):
        """The reply to one command (None: nothing to send)."""
        if self.garble_next:
            self.garble_next = False
            return "-ERR Unrecognized command"
        if cmd in self.sc["replies"]:
            return self.sc["replies"][cmd]
        if cmd == "CAPA":
            return self.capa()
        if cmd == "STLS":
            return self.stls()
        if cmd == "NOOP":
            return "+OK"
        if cmd == "TOP" and self.logged_in:
            return self.top(arg)
        if cmd == "QUIT":
            return "+OK Bye."
        if self.logged_in:
            if cmd == "STAT":
                if self.sc["stat_delay"] and \
                        self.stopping.wait(self.sc["stat_delay"]):
                    raise Closed("server-stopping")
                return self.sc["stat"]
            if cmd == "RSET":
                return "+OK"
            return "-ERR Unknown command."   # RETR, DELE, ...: logged, not served
        if cmd == "USER":
            if not arg:
                return "-ERR No user name."
            self.user = arg
            return "+OK"
        if cmd == "PASS":
            if self.user is None:
                return "-ERR USER first."
            return self.login_reply(arg)
        if cmd == "AUTH":
            return self.auth(arg)
        if cmd == "STAT":
            return "-ERR Not logged in."
        return "-ERR Unknown command."

    def run(self):
        sc = self.sc
        if sc["drop_on_connect"]:
            raise Closed("dropped-after-connect")
        if sc["tls"] == "stall":
            self.hold(log_commands=False)
        if sc["tls"] == "implicit":
            self.start_tls()
        if sc["greeting_delay"]:
            if self.stopping.wait(sc["greeting_delay"]):
                raise Closed("server-stopping")
        if sc["greeting_raw"] is not None:
            self.send(sc["greeting_raw"])
        elif sc["greeting"] is None:
            self.hold(log_commands=True)
        else:
            self.send(sc["greeting"])
        while True:
            line = self.readline()
            self.log_cmd(line)
            cmd = line.partition(" ")[0].upper()
            self.commands += 1
            endless = sc["endless"]
            if endless and (endless[0] == cmd or
                            (endless[0] == "*" and self.commands == 1)):
                self.flood(endless[1])
            was_logged_in = self.logged_in
            reply = self.dispatch(cmd, line.partition(" ")[2])
            if self.logged_in and not was_logged_in:
                self.after_login()
            if reply == DROP:
                raise Closed(f"dropped-after-{cmd.lower()}")
            if reply == HOLD:
                # a server stuck on a command answers nothing after it
                # either, not even commands pipelined behind it
                self.hold(log_commands=True)
            if reply is not None and reply != HOLD:
                self.send(reply)
            if cmd == "QUIT" and reply != HOLD:
                raise Closed("quit")


def handle(conn, peer, cid, sc, tls_ctx, log, stopping):
    log.write(cid, "CONNECT", peer)
    s = Session(conn, peer, cid, sc, tls_ctx, log, stopping)
    reason = "?"
    try:
        conn.settimeout(IO_TIMEOUT)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.run()
    except Closed as e:
        reason = str(e)
    except socket.timeout:
        reason = "io-timeout"
    except (OSError, ssl.SSLError) as e:
        reason = f"error {e}"
    finally:
        close(s.conn, abrupt=reason.startswith("dropped"))
        if s.drip_start is not None:  # however the dripping session ended
            # the client's close, seen by a send or by a read, is one cause
            why = ("client-closed" if reason == "client-eof"
                   or reason.startswith("error ") else reason)
            s.flood_end("drip", s.dripped, s.drip_start, why)
        log.write(cid, "CLOSE", reason)


def close(conn, abrupt):
    """Close; over TLS send close_notify first (as a real server does) unless the
    scenario drops the connection, so clients see a clean end after QUIT."""
    try:
        if isinstance(conn, ssl.SSLSocket) and not abrupt:
            conn.settimeout(0.5)
            try:
                conn.unwrap()
            except (OSError, ssl.SSLError):
                pass
        conn.close()
    except OSError:
        pass


class Scenarios:
    """Which scenario (and certificate) serves the next connection: --control
    FILE when it names one, else the command line's."""

    def __init__(self, default_name, default_cert, default_key, control):
        self.default = (default_name, default_cert, default_key)
        self.control = control
        self.contexts = {}

    def context(self, cert, key):
        if not cert:
            return None
        if (cert, key) not in self.contexts:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.contexts[(cert, key)] = ctx
        return self.contexts[(cert, key)]

    def pick(self):
        """(name, scenario dict, TLS context or None); raises ValueError."""
        name, cert, key = self.default
        if self.control:
            try:
                with open(self.control, encoding="utf-8") as f:
                    words = f.read().split()
            except FileNotFoundError:
                words = []
            if words:
                name, cert, key = words[0], None, None
                for w in words[1:]:
                    k, _, v = w.partition("=")
                    if k == "cert":
                        cert = v
                    elif k == "key":
                        key = v
                    else:
                        raise ValueError(f"control file: unknown word {w!r}")
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}")
        if bool(cert) != bool(key):
            raise ValueError("cert= and key= go together")
        sc = scenario(name)
        if not cert and any(sc[k] in v for k, v in NEEDS_CERT.items()):
            raise ValueError(f"scenario {name} needs a certificate")
        return name, sc, self.context(cert, key)


def main():
    global PASSWORD
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario")
    ap.add_argument("--port-file")
    ap.add_argument("--host", default="127.0.0.1",
                    help="127.0.0.1 or ::1 (the bench: its private namespace"
                    " address)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--control", help="file naming the scenario per connection")
    ap.add_argument("--password", help=f"the accepted password ({PASSWORD})")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="stop when the parent process is gone")
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    a = ap.parse_args()
    if a.list:
        for name, (desc, _) in SCENARIOS.items():
            print(f"{name:20} {desc}")
        return 0
    if not a.scenario or not a.port_file:
        ap.error("--scenario and --port-file are required")
    if a.scenario not in SCENARIOS:
        ap.error(f"unknown scenario {a.scenario!r} (see --list)")
    if bool(a.cert) != bool(a.key):
        ap.error("--cert and --key go together")
    if a.password:
        PASSWORD = a.password
    scenarios = Scenarios(a.scenario, a.cert, a.key, a.control)
    sc = scenario(a.scenario)
    if not a.cert and any(sc[k] in v for k, v in NEEDS_CERT.items()):
        ap.error(f"scenario {a.scenario} needs --cert and --key")
    scenarios.context(a.cert, a.key)   # a bad certificate fails at start

    stopping = threading.Event()
    # SIGTERM ends the accept loop; daemon threads die with the process.
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())

    log = Log(a.port_file + ".log")
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a.host, a.port))
    srv.listen(64)
    srv.settimeout(0.2)    # lets the loop notice SIGTERM
    port = srv.getsockname()[1]
    log.write("-", "LISTEN", f"{a.host} {port} {a.scenario}")
    with open(a.port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.replace(a.port_file + ".tmp", a.port_file)

    ids = itertools.count(1)
    parent = os.getppid() if a.exit_with_parent else None
    while not stopping.is_set():
        if parent is not None and os.getppid() != parent:
            log.write("-", "PARENT-GONE", "")
            stopping.set()   # ends the sessions' loops too
            break
        try:
            conn, addr = srv.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        peer = f"[{addr[0]}]:{addr[1]}"
        cid = f"C{next(ids)}"
        try:
            name, sc, tls_ctx = scenarios.pick()
        except (ValueError, OSError, ssl.SSLError) as e:
            log.write(cid, "CONNECT", peer)
            log.write(cid, "CONTROL-ERROR", str(e))
            close(conn, abrupt=True)
            log.write(cid, "CLOSE", "control-error")
            continue
        if a.control:
            log.write(cid, "SCENARIO", name)
        threading.Thread(target=handle, daemon=True,
                         args=(conn, peer, cid, sc, tls_ctx, log,
                               stopping)).start()
    srv.close()
    log.write("-", "STOP", "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
