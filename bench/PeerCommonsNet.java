// The Java peer: a loop with Apache Commons Net's POP3Client / POP3SClient
// (Debian libcommons-net-java), the POP3 library of the seed's monitoring
// server. Lock-step, like every Commons Net POP3 session.
//
//   java -cp commons-net.jar:DIR PeerCommonsNet MODE N WARMUP HOST PORT USER PASSWORD
//     MODE plain | ssl (implicit TLS) | starttls; trust comes from
//     -Djavax.net.ssl.trustStore; host names are checked (endpoint checking on).
//
// WARMUP collections first (class loading, JIT), unreported; then N lines
//   C <i> ok=1 wall=<connect start -> STAT answered> total=<... -> QUIT answered>
// and  S n=<N> failed=<k> cpu_s=<process CPU seconds of the N collections>
import java.lang.management.ManagementFactory;

import org.apache.commons.net.pop3.POP3Client;
import org.apache.commons.net.pop3.POP3MessageInfo;
import org.apache.commons.net.pop3.POP3SClient;

public class PeerCommonsNet {
  static String mode, host, user, password;
  static int port;

  static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean)
                ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  // returns {wall, total} in seconds, or null when it failed
  static double[] collect() throws Exception {
    long t0 = System.nanoTime();
    POP3Client c;
    if (mode.equals("plain")) {
      c = new POP3Client();
    } else {
      POP3SClient s = new POP3SClient(mode.equals("ssl"));
      s.setEndpointCheckingEnabled(true);
      c = s;
    }
    c.setDefaultTimeout(10000);
    try {
      c.connect(host, port);
      if (mode.equals("starttls") && !((POP3SClient) c).execTLS())
        return null;
      if (!c.login(user, password))
        return null;
      POP3MessageInfo st = c.status();
      if (st == null)
        return null;
      long t1 = System.nanoTime();
      c.logout();
      long t2 = System.nanoTime();
      return new double[] {(t1 - t0) / 1e9, (t2 - t0) / 1e9};
    } finally {
      if (c.isConnected())
        c.disconnect();
    }
  }

  public static void main(String[] a) throws Exception {
    mode = a[0];
    int n = Integer.parseInt(a[1]), warmup = Integer.parseInt(a[2]);
    host = a[3];
    port = Integer.parseInt(a[4]);
    user = a[5];
    password = a[6];
    for (int i = 0; i < warmup; i++)
      collect();
    int failed = 0;
    long cpu0 = cpuNanos();
    for (int i = 0; i < n; i++) {
      double[] r;
      try {
        r = collect();
      } catch (Exception e) {
        System.out.println("C " + i + " ok=0 error=" + e);
        failed++;
        continue;
      }
      if (r == null) {
        System.out.println("C " + i + " ok=0");
        failed++;
      } else {
        System.out.printf("C %d ok=1 wall=%.6f total=%.6f%n", i, r[0], r[1]);
      }
    }
    System.out.printf("S n=%d failed=%d cpu_s=%.6f%n", n, failed,
                      (cpuNanos() - cpu0) / 1e9);
    System.exit(failed > 0 ? 1 : 0);
  }
}
