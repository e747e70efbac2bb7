#!/usr/bin/python3
"""Counts the values collectd's `network` plugin sends (the cheapest writer
for the scale runs: one UDP packet per ~1400 bytes of values, parsed here,
outside collectd). On SIGTERM writes a JSON file:
  {"email_count": {instance: [time, ...]}, "response_time": [seconds, ...]}
with the values' own times (set at dispatch).

  count_values.py ADDRESS PORT OUT.json [READY_FILE]"""
import json
import signal
import socket
import struct
import sys

addr, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ready = sys.argv[4] if len(sys.argv) > 4 else None
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

times = {}
response = []
packets = 0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((addr, port))
s.settimeout(0.2)
if ready:
    open(ready, "w").close()


def parse(buf):
    # collectd binary protocol: parts of (type u16, length u16, payload)
    pos, t, plugin, inst, typ = 0, 0.0, "", "", ""
    while pos + 4 <= len(buf):
        ptype, plen = struct.unpack_from("!HH", buf, pos)
        if plen < 4:
            return
        body = buf[pos + 4:pos + plen]
        if ptype == 0x0008:                      # time, 2^-30 s
            t = struct.unpack("!Q", body)[0] / 2**30
        elif ptype == 0x0001:                    # time, s
            t = float(struct.unpack("!Q", body)[0])
        elif ptype == 0x0002:
            plugin = body.rstrip(b"\0").decode()
        elif ptype == 0x0003:
            inst = body.rstrip(b"\0").decode()
        elif ptype == 0x0004:
            typ = body.rstrip(b"\0").decode()
        elif ptype == 0x0006 and plugin == "pop3":   # values
            n = struct.unpack_from("!H", body)[0]
            if typ == "email_count":
                times.setdefault(inst, []).append(t)
            elif typ == "response_time" and n == 1 and body[2] == 1:
                response.append(struct.unpack_from("<d", body, 3)[0])
        pos += plen


while not stop:
    try:
        buf = s.recv(65536)
    except socket.timeout:
        continue
    except InterruptedError:
        continue
    packets += 1
    parse(buf)

with open(out, "w") as f:
    json.dump({"email_count": times, "response_time": response,
               "packets": packets}, f)
