#!/usr/bin/python3
"""What the server sees of a scale run, watched from inside its network
namespace (run by bench/bench.sh there, its CPU kept out of the server's):

- connections open at once: every 50 ms, a sock_diag netlink dump of the
  TCP sockets in state ESTABLISHED or SYN_RECV (the kernel filters the
  states, so TIME_WAIT heaps cost nothing) whose local port is one of
  PORTS; the largest count and when it came;
- TLS session resumption: the ServerHello of every TLS connection from
  TLS_PORT (read off INTERFACE with a packet socket and a BPF filter),
  with or without the pre_shared_key extension (RFC 8446 4.2.11: present
  only when the server accepted a resumption).

  server_watch.py INTERFACE OUT.json TLS_PORT [PORT...]

On SIGTERM writes {"samples", "max_open", "max_open_at" (seconds from the
start), "mean_open", "hellos", "resumed"}."""
import ctypes
import json
import select
import signal
import socket
import struct
import sys
import time

interface, out, tls_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ports = {int(p) for p in sys.argv[3:]}
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_ESTABLISHED, TCP_SYN_RECV = 1, 3


def open_count(nl, seq):
    """TCP sockets (IPv4 and IPv6) in ESTABLISHED or SYN_RECV on `ports`."""
    n = 0
    for family in (socket.AF_INET, socket.AF_INET6):
        # inet_diag_req_v2: family, protocol, ext, pad, states, then an
        # inet_diag_sockid of zeros (48 bytes): no socket filter
        req = struct.pack("=BBBxI", family, socket.IPPROTO_TCP, 0,
                          (1 << TCP_ESTABLISHED) | (1 << TCP_SYN_RECV))
        req += bytes(48)
        msg = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY,
                          NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + req
        nl.send(msg)
        done = False
        while not done:
            data = nl.recv(1 << 20)
            pos = 0
            while pos + 16 <= len(data):
                length, mtype = struct.unpack_from("=IH", data, pos)
                if length < 16:
                    done = True
                    break
                if mtype in (NLMSG_DONE, NLMSG_ERROR):
                    done = True
                    break
                # inet_diag_msg: family, state, timer, retrans, then the
                # sockid starting with the local port (network order)
                sport = struct.unpack_from("!H", data, pos + 16 + 4)[0]
                if sport in ports:
                    n += 1
                pos += (length + 3) & ~3
    return n


# "tcp src port TLS_PORT" over Ethernet, IPv4 (tcpdump -dd, written out):
# only the server's side of TLS connections reaches this process
BPF = [
    (0x28, 0, 0, 12), (0x15, 0, 8, 0x0800),      # IPv4
    (0x30, 0, 0, 23), (0x15, 0, 6, 6),           # TCP
    (0x28, 0, 0, 20), (0x45, 4, 0, 0x1FFF),      # first fragment
    (0xB1, 0, 0, 14), (0x48, 0, 0, 14),          # source port
    (0x15, 0, 1, tls_port), (0x06, 0, 0, 262144), (0x06, 0, 0, 0),
]


def packet_socket():
    # ETH_P_ALL: a packet socket of one protocol sees no outgoing packets
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    prog = b"".join(struct.pack("HBBI", *ins) for ins in BPF)
    buf = ctypes.create_string_buffer(prog)
    s.setsockopt(socket.SOL_SOCKET, 26,  # SO_ATTACH_FILTER
                 struct.pack("HL", len(BPF), ctypes.addressof(buf)))
    s.bind((interface, 0))
    s.setblocking(False)
    return s, buf


def server_hello(frame):
    """None, or whether this ServerHello accepted a resumption."""
    ip = frame[14:]
    if len(ip) < 20:
        return None
    tcp = ip[(ip[0] & 0x0F) * 4:]
    if len(tcp) < 20:
        return None
    tls = tcp[(tcp[12] >> 4) * 4:]
    # record: handshake (22), then the handshake header: ServerHello (2)
    if len(tls) < 9 + 38 or tls[0] != 22 or tls[5] != 2:
        return None
    body = tls[9:]
    pos = 2 + 32                       # legacy_version, random
    pos += 1 + body[pos]               # legacy_session_id_echo
    pos += 2 + 1                       # cipher_suite, compression
    if pos + 2 > len(body):
        return False
    end = min(len(body), pos + 2 + struct.unpack_from("!H", body, pos)[0])
    pos += 2
    while pos + 4 <= end:
        etype, elen = struct.unpack_from("!HH", body, pos)
        if etype == 0x0029:            # pre_shared_key
            return True
        pos += 4 + elen
    return False


nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
pkt, _keep = packet_socket()
start = time.monotonic()
samples = total = max_open = hellos = resumed = 0
max_at = 0.0
next_sample = start
while not stop:
    now = time.monotonic()
    if now >= next_sample:
        n = open_count(nl, samples + 1)
        samples += 1
        total += n
        if n > max_open:
            max_open, max_at = n, now - start
        next_sample += 0.05
        if next_sample < now:
            next_sample = now + 0.05
        continue
    try:
        ready, _, _ = select.select([pkt], [], [], next_sample - now)
    except InterruptedError:
        continue
    while ready:
        try:
            frame, addr = pkt.recvfrom(65536)
        except (BlockingIOError, InterruptedError):
            break
        if interface == "lo" and addr[2] == socket.PACKET_OUTGOING:
            continue  # loopback shows each packet twice
        r = server_hello(frame)
        if r is not None:
            hellos += 1
            resumed += r
with open(out, "w") as f:
    json.dump({"samples": samples, "max_open": max_open,
               "max_open_at": round(max_at, 3),
               "mean_open": round(total / samples, 2) if samples else 0,
               "hellos": hellos, "resumed": resumed}, f)
