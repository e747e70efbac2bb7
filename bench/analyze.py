#!/usr/bin/python3
"""Turns the raw output of bench/bench.sh's runs into figures. Every
subcommand appends key=value lines to the results file (argv[1]) and prints
a human line; `table` prints the final table from the results file.

  analyze.py RESULTS runs KEY FILE RTT_S [SKIP]   collect_bench / peer lines
  analyze.py RESULTS callgrind KEY OUT_1 OUT_N1 N   (Ir(N+1) - Ir(1)) / N
  analyze.py RESULTS cpu KEY FILE_1 FILE_N1 N       same with CPU seconds
  analyze.py RESULTS memory FILE                  collect_bench -M lines
  analyze.py RESULTS watch KEY JSON MONITORS      bench/server_watch.py output
  analyze.py RESULTS scale KEY JSON MONITORS INTERVAL CPU_PCT HWM_KB SERVER
  analyze.py RESULTS loop KEY FILE RTT_S [SKIP]   collect_bench -l / -L lines
  analyze.py RESULTS smtp KEY FILE SKIP [OUT_1 OUT_N1 N]   smtp_bench sends
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


def loop(key, path, rtt, skip=0):
    """A collection with the mail loop on: the round trips as `runs`, and
    in how many the probe written before it was found, deleted (DELE
    answered) and gone from the maildir afterwards."""
    runs(key, path, rtt, skip)
    rows = [fields(l) for l in open(path) if l.startswith("C ")][int(skip):]
    ok = [r for r in rows if r.get("ok") == "1" and "probes" in r]
    if not ok:
        return
    found = sum(int(r["probes"]) > 0 for r in ok)
    deleted = sum(int(r["deleted"]) > 0 for r in ok)
    gone = sum(r["gone"] == "1" for r in ok)
    scanned = statistics.median(int(r["scanned"]) for r in ok)
    put(f"{key}_scanned", f"{scanned:g}")
    put(f"{key}_found", f"{found}/{len(ok)}")
    put(f"{key}_deleted", f"{deleted}/{len(ok)}")
    put(f"{key}_gone", f"{gone}/{len(ok)}")
    print(f"  {'':24} headers searched {scanned:g}; probe found {found}/{len(ok)},"
          f" deleted {deleted}/{len(ok)}, file gone {gone}/{len(ok)}")


def smtp(key, path, skip, one=None, more=None, n=None):
    """smtp_bench: the median wall time of a send (after the first `skip`),
    and with two callgrind outputs the instructions per send."""
    rows = [fields(l) for l in open(path) if l.startswith("M ")][int(skip):]
    ok = [r for r in rows if r.get("ok") == "1"]
    put(f"{key}_ok", f"{len(ok)}/{len(rows)}")
    line = f"  {key:24}"
    if ok:
        wall = statistics.median(float(r["wall"]) for r in ok) * 1e3
        low = min(float(r["wall"]) for r in ok) * 1e3
        put(f"{key}_wall_ms", f"{wall:.1f}")
        put(f"{key}_wall_min_ms", f"{low:.1f}")
        line += f" {wall:8.1f} ms wall per send (median; min {low:.1f})"
    else:
        line += " FAILED: no successful send"
    if more is not None:
        per = (instructions(more) - instructions(one)) / int(n)
        put(f"{key}_instr", f"{per:.0f}")
        line += f"; {per:,.0f} instructions per send"
    print(line + f"  [{len(ok)}/{len(rows)} ok]")


def instructions(path):
    for line in open(path):
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def callgrind(key, one, more, n):
    per = (instructions(more) - instructions(one)) / int(n)
    put(f"{key}_instr", f"{per:.0f}")
    print(f"  {key:24} {per:12,.0f} instructions per collection")


def cpu_seconds(path, field="cpu_s"):
    for line in open(path):
        if line.startswith("S "):
            return float(fields(line).get(field, "nan"))
    raise SystemExit(f"no summary in {path}")


def cpu(key, one, more, n):
    per = (cpu_seconds(more) - cpu_seconds(one)) / int(n)
    put(f"{key}_cpu_ms", f"{per * 1e3:.3f}")
    line = f"  {key:24} {per * 1e3:8.3f} ms CPU per collection"
    user = (cpu_seconds(more, "user_s") - cpu_seconds(one, "user_s")) / int(n)
    sys_ = (cpu_seconds(more, "sys_s") - cpu_seconds(one, "sys_s")) / int(n)
    if user == user:  # not NaN: the run printed user_s and sys_s
        put(f"{key}_user_ms", f"{user * 1e3:.3f}")
        put(f"{key}_sys_ms", f"{sys_ * 1e3:.3f}")
        line += f" (user {user * 1e3:.3f} + sys {sys_ * 1e3:.3f})"
    print(line + f", {n} collections")


def memory(path):
    """collect_bench -M: bytes per monitor or collection at each phase."""
    for line in open(path):
        if not line.startswith("M "):
            continue
        f = fields("x " + line)
        if "phase" not in f:
            put("mem_state_bytes", f["state"])
            put("mem_buffers_bytes", f["buffers"])
            print(f"  engine: collection state {f['state']} bytes, buffers "
                  f"taken with a slot {f['buffers']} bytes")
            continue
        phase = f["phase"]
        put(f"mem_{phase}_bytes", f["bytes"])
        put(f"mem_{phase}_openssl", f["openssl"])
        print(f"  {phase:12} {int(f['bytes']):8,} bytes each, of which OpenSSL "
              f"{int(f['openssl']):8,}  (n = {f['n']})")


def watch(key, path, monitors):
    """bench/server_watch.py: connections open at once at the server, and
    the TLS handshakes it resumed."""
    try:
        w = json.load(open(path))
    except (OSError, ValueError):
        print(f"  {'':5} server watch: no data ({path})")
        return
    put(f"{key}_max_open", w["max_open"])
    put(f"{key}_mean_open", w["mean_open"])
    line = (f"  {'':5} server: at most {w['max_open']} connections open at once"
            f" (mean {w['mean_open']}, {w['samples']} samples)")
    if w["hellos"]:
        full = w["hellos"] - w["resumed"]
        put(f"{key}_hellos", w["hellos"])
        put(f"{key}_resumed", w["resumed"])
        put(f"{key}_full", full)
        line += (f"; TLS handshakes {w['hellos']}, resumed {w['resumed']},"
                 f" full {full} (the first of each of {monitors} monitors)")
    print(line)


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
    add("  mail loop, no probe: plain, resumed", "<= 4.2 (+1 RTT)",
        f"{g('loop_none_wall_rtt')} RTT, {g('loop_none_scanned')} headers"
        f" searched, probes found {g('loop_none_found')}",
        (le("loop_none_wall_rtt", 4.2)
         and d.get("loop_none_found", "").startswith("0/"))
        if "loop_none_wall_rtt" in d else None)
    add("  mail loop, one probe found and deleted", "<= 6.2 (+3 RTT)",
        f"{g('loop_probe_wall_rtt')} RTT; found {g('loop_probe_found')},"
        f" deleted {g('loop_probe_deleted')}, gone from the maildir"
        f" {g('loop_probe_gone')}",
        (le("loop_probe_wall_rtt", 6.2) and frac_all("loop_probe_found")
         and frac_all("loop_probe_deleted") and frac_all("loop_probe_gone"))
        if "loop_probe_wall_rtt" in d else None)
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
    add("  mail loop per period: collection with a probe / without loop"
        " / SMTP send", "-",
        f"{g('cg_loop_probe_instr')} / {g('cg_plain_instr')} / "
        f"{g('smtp_send_instr')} (SMTP send {g('smtp_send_wall_ms')} ms"
        f" wall, median; min {g('smtp_send_wall_min_ms')})")
    add("Client CPU per collection, loopback: user + sys ms over 1000"
        " collections; callgrind's user-space instructions", "", "")

    def cpu_cell(k, instr=None):
        cell = g(f"{k}_cpu_ms", " ms")
        if f"{k}_user_ms" in d:
            cell += f" ({d[k + '_user_ms']} user + {d[k + '_sys_ms']} sys)"
        if instr is not None:
            cell += f", {g(instr)} instr"
        return cell
    add("  plain (usual): engine", "-", cpu_cell("cpu_c_plain", "cg_plain_instr"))
    add("  plain: Python poplib", "-", cpu_cell("cpu_py_plain", "py_plain_instr"))
    add("  plain: Java Commons Net", "-", g("java_cpu_plain_cpu_ms", " ms"))
    add("  TLS full handshake: engine", "-",
        cpu_cell("cpu_c_ssl", "cg_ssl_first_instr"))
    add("  TLS resumed (the plugin's usual): engine", "-",
        cpu_cell("cpu_c_ssl_resumed", "cg_ssl_resumed_instr"))
    add("  TLS full handshake: Python poplib", "-",
        cpu_cell("cpu_py_ssl", "py_ssl_instr"))
    add("  TLS full handshake: Java Commons Net", "-",
        g("java_cpu_ssl_cpu_ms", " ms"))
    if "mem_handshake_bytes" in d:
        add("Memory (malloc bytes in use; OpenSSL's share)", "", "")

        def mem(phase):
            return (f"{int(d['mem_' + phase + '_bytes']):,} B (OpenSSL "
                    f"{int(d['mem_' + phase + '_openssl']):,})")
        add("  idle monitor, new / after a collection (TLS session)", "-",
            f"{mem('idle_new')} / {mem('idle_kept')}")
        add("  waiting for its offset / for a handshake slot", "-",
            f"{mem('queued')} / {mem('slot_wait')}")
        add("  in the TLS handshake / past it, in the session", "-",
            f"{mem('handshake')} / {mem('session')}")
        add("  engine sizes: collection state / buffers with a slot", "-",
            f"{g('mem_state_bytes')} / {g('mem_buffers_bytes')} B")
    add(f"Scale, {g('scale_rtt_ms')} ms RTT, {g('scale_interval')} s interval,"
        " real collectd", "", "")
    goals = {"scale_plain_1000": ("100 %, < 5 %, < 32 MB", 32),
             "scale_tls_1000": ("100 %, < 5 %, < 64 MB, resumed", 64)}
    rows_scale = []
    for mode in ("plain", "tls"):
        for m in ("100", "1000", "5000"):
            for ns in ("_nospread", ""):
                k = f"scale_{mode}_{m}{ns}"
                if f"{k}_ontime" in d:
                    rows_scale.append(k)
    for k in rows_scale:
        tgt, mb = goals.get(k, ("report", None))
        ok = None
        if mb is not None:
            ok = (num(k + "_ontime_min") == 100.0
                  and (num(k + "_cpu_pct") or 99) < 5
                  and (num(k + "_hwm_mb") or 999) < mb)
            if "tls" in k:
                full, mon = num(k + "_full"), int(k.split("_")[2])
                ok = ok and full is not None and full <= mon * 1.01
        cell = (f"on time {g(k + '_ontime')}; CPU {g(k + '_cpu_pct')} %"
                + (f" (scheduler's clock {d[k + '_cpu_sched_pct']} %)"
                   if k + "_cpu_sched_pct" in d else "") + "; "
                f"RSS {g(k + '_hwm_mb')} MB; server CPU "
                f"{g(k + '_server_cpu_pct')} %; at most "
                f"{g(k + '_max_open')} connections open at once")
        if f"{k}_hellos" in d:
            cell += (f"; handshakes resumed {d[k + '_resumed']}/"
                     f"{d[k + '_hellos']}")
        _, mode, m, *ns = k.split("_")
        add(f"  {m} {'TLS' if mode == 'tls' else mode} monitors"
            f"{', Spread false' if ns else ''}", tgt, cell, ok)
    for mode in ("plain", "tls"):
        for m in ("1000", "5000"):
            a, b = f"scale_{mode}_{m}_nospread", f"scale_{mode}_{m}"
            if f"{a}_max_open" in d and f"{b}_max_open" in d:
                add(f"  burst: {mode} {m}, connections open at once,"
                    " Spread false -> true", "fewer",
                    f"{d[a + '_max_open']} -> {d[b + '_max_open']} (mean "
                    f"{d[a + '_mean_open']} -> {d[b + '_mean_open']}); RSS "
                    f"{g(a + '_hwm_mb')} -> {g(b + '_hwm_mb')} MB; CPU "
                    f"{g(a + '_cpu_pct')} -> {g(b + '_cpu_pct')} %",
                    num(b + "_max_open") < num(a + "_max_open"))
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
 "scale": scale, "memory": memory, "watch": watch,
 "loop": loop, "smtp": smtp,
 "table": table}[cmd](*args)
