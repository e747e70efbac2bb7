#!/usr/bin/python3
"""The Python peer: what an operator's collectd exec/python script does with
the standard library's poplib, in a loop. Lock-step, one command at a time.

  peer_poplib.py MODE N HOST PORT USER PASSWORD CAFILE
    MODE plain | ssl (implicit TLS) | starttls

One line per collection, like build/collect_bench:
  C <i> ok=1 wall=<connect start -> STAT answered> total=<... -> QUIT answered>
then  S n=<N> failed=<k> cpu_s=<user+sys seconds of the process> user_s=<...>
      sys_s=<...>
The TLS context is made once, outside the loop (a long-running script would
keep it); it verifies the chain and the host name."""
import poplib
import resource
import ssl
import sys
import time


def main():
    mode, n, host, port, user, password, cafile = sys.argv[1:8]
    n, port = int(n), int(port)
    ctx = None
    if mode != "plain":
        ctx = ssl.create_default_context(cafile=cafile)
    failed = 0
    for i in range(n):
        t0 = time.monotonic()
        try:
            if mode == "ssl":
                p = poplib.POP3_SSL(host, port, timeout=10, context=ctx)
            else:
                p = poplib.POP3(host, port, timeout=10)
                if mode == "starttls":
                    p.stls(ctx)
            p.user(user)
            p.pass_(password)
            count, size = p.stat()
            t1 = time.monotonic()
            p.quit()
            t2 = time.monotonic()
            print(f"C {i} ok=1 wall={t1 - t0:.6f} total={t2 - t0:.6f} "
                  f"count={count} size={size}")
        except (OSError, poplib.error_proto) as e:
            failed += 1
            print(f"C {i} ok=0 error={e!r}")
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(f"S n={n} failed={failed} cpu_s={ru.ru_utime + ru.ru_stime:.6f} "
          f"user_s={ru.ru_utime:.6f} sys_s={ru.ru_stime:.6f}")
    sys.exit(1 if failed else 0)


main()
