#!/usr/bin/python3
"""Tiny inetd for one program on loopback.

  popa3d-listener.py PIDFILE ADDRESSES PORT PROGRAM [ARG...]

Listens on PORT of each of the comma-separated ADDRESSES (e.g. 127.0.0.1,::1;
IPv6 ones with IPV6_V6ONLY) and runs PROGRAM once
per accepted connection, with the socket as stdin and stdout and stderr on
/dev/null (inetd style). Children are reaped on SIGCHLD. On SIGTERM it stops
listening, sends SIGTERM to the running children and exits.
"""

import os
import selectors
import signal
import socket
import sys

pidfile, addrs, port, argv = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4:]
children = set()


def reap(*_):
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)


def terminate(*_):
    for pid in list(children):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    sys.exit(0)


signal.signal(signal.SIGCHLD, reap)
signal.signal(signal.SIGTERM, terminate)
signal.signal(signal.SIGINT, terminate)

sel = selectors.DefaultSelector()
for host in addrs:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, port))
    s.listen(64)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)

with open(pidfile + ".tmp", "w") as f:
    f.write(f"{os.getpid()}\n")
os.rename(pidfile + ".tmp", pidfile)
print(f"listening on port {port} of {' '.join(addrs)} for {argv[0]}", file=sys.stderr,
      flush=True)

devnull = os.open(os.devnull, os.O_RDWR)
while True:
    for key, _ in sel.select():
        try:
            conn, peer = key.fileobj.accept()
        except (BlockingIOError, InterruptedError):
            continue
        # SIGCHLD blocked until the pid is in `children`, so it is never
        # reaped before it is added (a stale pid could be reused later).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        pid = os.fork()
        if pid == 0:
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                conn.setblocking(True)
                os.dup2(conn.fileno(), 0)
                os.dup2(conn.fileno(), 1)
                os.dup2(devnull, 2)
                os.closerange(3, 1 << 16)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        children.add(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        conn.close()
