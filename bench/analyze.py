#!/usr/bin/python3
"""Turns the raw output of bench/bench.sh's runs into figures. Every
subcommand appends key=value lines to the results file (argv[1]) and prints
a human line; `table` prints the final table from the results file.

  analyze.py RESULTS runs KEY FILE RTT_S [SKIP]   collect_bench / peer lines
  analyze.py RESULTS callgrind KEY OUT_1 OUT_N1 N   (Ir(N+1) - Ir(1)) / N
  analyze.py RESULTS cpu KEY FILE_1 FILE_N1 N       same with CPU seconds
  analyze.py RESULTS scale KEY JSON MONITORS INTERVAL CPU_PCT HWM_KB SERVER
  analyze.py RESULTS table
"""
import json
import re
import statistics
import sys

PHASES = ["resolve", "connect", "tls", "greeting", "auth", "stat", "quit"]
results_path = sys.argv[1]


def put(key, value):
    with open(results_path, "a") as f:
        f.write(f"{key}={value}\n")


def load():
    d = {}
    try:
        for line in open(results_path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d[k] = v
    except FileNotFoundError:
        pass
    return d


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)


def runs(key, path, rtt, skip=0):
    rtt = float(rtt)
    rows = [fields(l) for l in open(path) if l.startswith("C ")][int(skip):]
    ok = [r for r in rows if r.get("ok") == "1"]
    if not ok:
        put(f"{key}_ok", f"0/{len(rows)}")
        print(f"  {key:24} FAILED: no successful collection (see {path})")
        return
    wall = statistics.median(float(r["wall"]) for r in ok) / rtt
    put(f"{key}_wall_rtt", f"{wall:.2f}")
    put(f"{key}_ok", f"{len(ok)}/{len(rows)}")
    line = f"  {key:24} {wall:5.2f} RTT to STAT"
    if "total" in ok[0]:
        total = statistics.median(float(r["total"]) for r in ok) / rtt
        put(f"{key}_total_rtt", f"{total:.2f}")
        line += f", {total:5.2f} RTT with QUIT"
    if "resp" in ok[0]:
        resp = statistics.median(float(r["resp"]) for r in ok) / rtt
        put(f"{key}_resp_rtt", f"{resp:.2f}")
        line += f"; connect->STAT {resp:5.2f} RTT"
        res = sum(r["resumed"] == "1" for r in ok)
        put(f"{key}_resumed", f"{res}/{len(ok)}")
        if ok[0]["tls"] != "-":
            line += f"; {ok[0]['tls']} resumed {res}/{len(ok)}"
        ph = []
        for i, name in enumerate(PHASES):
            vals = [float(r["phases"].split(",")[i]) for r in ok]
            vals = [v for v in vals if v >= 0]
            if vals:
                ph.append(f"{name} {statistics.median(vals) / rtt:.2f}")
        put(f"{key}_phases", "; ".join(ph))
    if "age" in ok[0]:
        dated = sum(int(r["age"]) > 0 for r in ok)
        put(f"{key}_dated", f"{dated}/{len(ok)}")
        line += f"; age dispatched {dated}/{len(ok)}"
        line += f"\n  {'':24} phases (RTT): {', '.join(ph)}"
    print(line + f"  [{len(ok)}/{len(rows)} ok]")


def slowstat(key, path, rtt, delay, skip=0):
    """A server answering STAT `delay` seconds late: the round trips around
    that delay, and in how many collections STAT still went with the login
    (the steady state, after the first `skip`)."""
    rtt, delay = float(rtt), float(delay)
    rows = [fields(l) for l in open(path) if l.startswith("C ")][int(skip):]
    ok = [r for r in rows if r.get("ok") == "1"]
    if not ok:
        put(f"{key}_ok", f"0/{len(rows)}")
        print(f"  {key:24} FAILED: no successful collection (see {path})")
        return
    wall = statistics.median(float(r["wall"]) - delay for r in ok) / rtt
    kept = sum(r.get("stat_with_login") == "1" for r in ok)
    put(f"{key}_wall_rtt", f"{wall:.2f}")
    put(f"{key}_kept", f"{kept}/{len(ok)}")
    print(f"  {key:24} {wall:5.2f} RTT + {delay:.1f} s to STAT; STAT sent with"
          f" the login in {kept}/{len(ok)} collections  [{len(ok)}/{len(rows)} ok]")


def instructions(path):
    for line in open(path):
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def callgrind(key, one, more, n):
    per = (instructions(more) - instructions(one)) / int(n)
    put(f"{key}_instr", f"{per:.0f}")
    print(f"  {key:24} {per:12,.0f} instructions per collection")


def cpu_seconds(path):
    for line in open(path):
        if line.startswith("S "):
            return float(fields(line)["cpu_s"])
    raise SystemExit(f"no summary in {path}")


def cpu(key, one, more, n):
    per = (cpu_seconds(more) - cpu_seconds(one)) / int(n)
    put(f"{key}_cpu_ms", f"{per * 1e3:.3f}")
    print(f"  {key:24} {per * 1e3:8.3f} ms CPU per collection")


def scale(key, path, monitors, interval, cpu_pct, hwm_kb, server):
    data = json.load(open(path))
    monitors, interval = int(monitors), float(interval)
    times = data["email_count"]
    all_t = sorted(t for ts in times.values() for t in ts)
    fractions = []
    if all_t:
        # windows of one interval each, from just before the first value:
        # on time = the monitor's value of that interval arrived in it
        start = all_t[0] - 0.5
        k = 0
        while start + (k + 1) * interval <= all_t[-1] + 0.5 or k < 2:
            lo, hi = start + k * interval, start + (k + 1) * interval
            got = sum(any(lo <= t < hi for t in ts) for ts in times.values())
            fractions.append(got / monitors)
            k += 1
            if k == 2:
                break
    resp = sorted(data["response_time"])
    p50 = statistics.median(resp) if resp else float("nan")
    p99 = resp[int(len(resp) * 0.99)] if resp else float("nan")
    on = " / ".join(f"{100 * f:.1f} %" for f in fractions) or "none"
    put(f"{key}_ontime", on)
    put(f"{key}_ontime_min", f"{100 * min(fractions or [0]):.1f}")
    put(f"{key}_cpu_pct", cpu_pct)
    put(f"{key}_hwm_mb", f"{int(hwm_kb) / 1024:.1f}")
    put(f"{key}_server", server)
    put(f"{key}_resp", f"p50 {p50 * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms")
    print(f"  {monitors:5} monitors ({server}): on time per interval {on}; "
          f"collectd CPU {cpu_pct} % of one core; peak RSS "
          f"{int(hwm_kb) / 1024:.1f} MB; response_time p50 {p50 * 1e3:.0f} ms "
          f"p99 {p99 * 1e3:.0f} ms ({len(resp)} values)")


def table():
    d = load()
    g = lambda k, unit="": (d[k] + unit) if k in d else "n/a"

    def ratio(a, b):
        try:
            return float(d[a]) / float(d[b])
        except (KeyError, ZeroDivisionError, ValueError):
            return None

    rows = []

    def add(a, b, c, ok=None):
        rows.append((a, b, c, "" if ok is None else ("met" if ok else "MISSED")))

    def num(k):
        try:
            return float(d[k])
        except (KeyError, ValueError):
            return None

    def le(k, limit):
        v = num(k)
        return None if v is None else v <= limit

    def frac_all(k):
        if k not in d or "/" not in d[k]:
            return None
        a, b = d[k].split("/")
        return int(a) == int(b) and int(b) > 0
    add("Round trips at %s ms RTT (median, wall / RTT)" % g("rtt_ms"), "", "")
    for mode, label in (("plain", "plain"), ("ssl", "implicit TLS"),
                        ("starttls", "StartTLS")):
        target = {"plain": "<= 3.2", "ssl": "<= 4.2"}.get(mode, "-")
        limit = {"plain": 3.2, "ssl": 4.2}.get(mode)
        add(f"  {label}, resumed (usual)", target,
            f"{g(f'c_{mode}_resumed_wall_rtt')} RTT "
            f"(connect->STAT {g(f'c_{mode}_resumed_resp_rtt')})",
            le(f"c_{mode}_resumed_wall_rtt", limit) if limit else None)
        add(f"  {label}, first", "-",
            f"{g(f'c_{mode}_first_wall_rtt')} RTT "
            f"(connect->STAT {g(f'c_{mode}_first_resp_rtt')})")
        add(f"  {label}, Python poplib", ">= 6 (lock-step)",
            f"{g(f'py_{mode}_wall_rtt')} RTT to STAT, "
            f"{g(f'py_{mode}_total_rtt')} with QUIT")
        add(f"  {label}, Java Commons Net", ">= 6 (lock-step)",
            f"{g(f'java_{mode}_wall_rtt')} RTT to STAT, "
            f"{g(f'java_{mode}_total_rtt')} with QUIT")
    add(f"  plain, STAT answered {g('slow_stat_delay')} s late, resumed",
        "pipelining kept",
        f"{g('slow_plain_wall_rtt')} RTT + {g('slow_stat_delay')} s; STAT with"
        f" the login in {g('slow_plain_kept')}",
        frac_all("slow_plain_kept"))
    add("  plain, message age on (2 messages), resumed", "<= 4.2 (+1 RTT)",
        f"{g('age_plain_wall_rtt')} RTT, age in {g('age_plain_dated')}",
        (le("age_plain_wall_rtt", 4.2) and frac_all("age_plain_dated"))
        if "age_plain_wall_rtt" in d else None)
    add("  implicit TLS, message age on, resumed", "<= 5.2 (+1 RTT)",
        f"{g('age_ssl_wall_rtt')} RTT, age in {g('age_ssl_dated')}",
        (le("age_ssl_wall_rtt", 5.2) and frac_all("age_ssl_dated"))
        if "age_ssl_wall_rtt" in d else None)
    add("  plain, message age on, empty mailbox", "<= 3.2 (+0)",
        f"{g('age_empty_wall_rtt')} RTT",
        le("age_empty_wall_rtt", 3.2) if "age_empty_wall_rtt" in d else None)
    add("TLS resumption used after the first", "every one",
        f"implicit {g('c_ssl_resumed_resumed')}, StartTLS "
        f"{g('c_starttls_resumed_resumed')} (RTT runs), callgrind "
        f"{g('cg_ssl_resumed_resumed')}",
        all(frac_all(k) for k in ("c_ssl_resumed_resumed",
                                  "c_starttls_resumed_resumed",
                                  "cg_ssl_resumed_resumed")))
    add("Client instructions per collection (callgrind)", "", "")
    r = ratio("py_plain_instr", "cg_plain_instr")
    add("  plain (usual): engine vs Python", ">= 10x fewer",
        f"{g('cg_plain_instr')} vs {g('py_plain_instr')} "
        f"({r:.1f}x fewer)" if r else "n/a", r is not None and r >= 10)
    add("  plain, first (CAPA, no cache): engine", "-", g("cg_plain_first_instr"))
    add("  TLS full handshake: engine vs Python", "-",
        f"{g('cg_ssl_first_instr')} vs {g('py_ssl_instr')}")
    r = ratio("cg_ssl_resumed_instr", "cg_ssl_first_instr")
    add(f"  TLS resumed ({g('cg_tls_version')}) / full", "<= 55 %",
        f"{g('cg_ssl_resumed_instr')} = {100 * r:.0f} %" if r else "n/a",
        r is not None and r <= 0.55)
    add("Client CPU per collection, loopback (ms)", "", "")
    for mode in ("plain", "ssl"):
        add(f"  {mode}: engine / Python / Java", "-",
            f"{g(f'cpu_c_{mode}_cpu_ms')} / {g(f'cpu_py_{mode}_cpu_ms')} / "
            f"{g(f'java_cpu_{mode}_cpu_ms')}")
    add(f"Scale, {g('scale_rtt_ms')} ms RTT, {g('scale_interval')} s interval,"
        " real collectd", "", "")
    for m in ("100", "1000", "5000"):
        k = f"scale_{m}"
        if f"{k}_ontime" not in d:
            continue
        tgt = ("100 %, < 5 %, < 64 MB" if m == "1000" else "report")
        ok = None
        if m == "1000":
            ok = (num(k + "_ontime_min") == 100.0
                  and (num(k + "_cpu_pct") or 99) < 5
                  and (num(k + "_hwm_mb") or 999) < 64)
        add(f"  {m} monitors ({g(k + '_server')})", tgt,
            f"on time {g(k + '_ontime')}; CPU {g(k + '_cpu_pct')} %; "
            f"RSS {g(k + '_hwm_mb')} MB (server CPU "
            f"{g(k + '_server_cpu_pct')} %)", ok)
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    w3 = max(len(r[2]) for r in rows)
    print(f"{'measure':{w1}}  {'target':{w2}}  {'measured':{w3}}  verdict")
    print("-" * (w1 + w2 + w3 + 13))
    for a, b, c, v in rows:
        print(f"{a:{w1}}  {b:{w2}}  {c:{w3}}  {v}".rstrip())


cmd = sys.argv[2]
args = sys.argv[3:]
{"runs": runs, "slowstat": slowstat, "callgrind": callgrind, "cpu": cpu,
 "scale": scale,
 "table": table}[cmd](*args)
